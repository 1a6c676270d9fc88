/* SPDX-License-Identifier: MIT */
/*
 * libthpvm's one file I/O loop (src/image_io.c): requests of up to 2 MiB
 * between memory and a file, IMAGE_QUEUE_DEPTH in flight through io_uring,
 * or one at a time with pread/pwrite where io_uring cannot be used (the
 * kernel lacks it, kernel.io_uring_disabled, a seccomp policy). The region
 * images (image.c) and the disk baseline (image_disk.c) both go through it.
 */
#ifndef THPVM_IMAGE_IO_H
#define THPVM_IMAGE_IO_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <thpvm/image.h>

/*
 * Requests in flight. One 2 MiB request keeps an NVMe queue busy only with
 * company; 8 reached the disk's sequential bandwidth here (host-facts: O_DIRECT
 * 2 MiB at queue depth 32 ran 3.3-3.8 GB/s, disk-bound) and bounds the pinned
 * memory to 16 MiB.
 */
#define IMAGE_QUEUE_DEPTH 8

/* One request: where in memory, where in the file, how much of it is done. */
struct image_req {
	uint8_t *hva;
	uint64_t off;
	uint64_t len;
	uint64_t done;
};

struct image_io {
	const char *path;
	int fd;
	bool write;
	/* false: io_uring could not be set up (uring_error says why); requests go through pread/pwrite */
	bool uring;
	int uring_error;
	struct io_uring ring;
	unsigned in_flight;
	struct image_req reqs[IMAGE_QUEUE_DEPTH];
	bool busy[IMAGE_QUEUE_DEPTH];
	/* the ring failed (a submit or a wait): what is in flight cannot be waited for; io_uring_queue_exit() cancels it */
	bool broken;
	uint64_t bytes;
	/* progress(bytes, total, arg) after each transfer; a non-zero return cancels (-ECANCELED) */
	thpvm_progress_fn progress;
	void *progress_arg;
	uint64_t total;
	bool cancelled;
};

/* "<path>: <result>: <detail>" as the thread's last error; returns -errno of the result. */
__attribute__((format(printf, 3, 4))) int image_fail(const char *path, enum thpvm_image_result result,
						      const char *fmt, ...);

/*
 * Opens path (flags: O_RDONLY, or O_WRONLY | O_CREAT | O_TRUNC) with
 * O_DIRECT, or without where the file system refuses it, and sets up the
 * ring, or the pread/pwrite fallback where io_uring is refused (ENOSYS,
 * EPERM, EACCES). io->write, progress and total are the caller's; st gets
 * direct, queue_depth and uring_error. Returns 0 or -errno (error set).
 */
int image_io_open(struct image_io *io, const char *path, int flags, struct thpvm_image_stats *st);
/* A free request slot, reaping completions first while all are busy. Returns the slot or -errno (error set). */
int image_io_slot(struct image_io *io);
/* Starts [off, off + len) of the file from or into hva in slot (from image_io_slot()). Returns 0 or -errno. */
int image_io_queue(struct image_io *io, unsigned slot, uint8_t *hva, uint64_t off, uint64_t len);
/* Waits for every request in flight; the first error (ret, else the first reaped) wins and stays the message. */
int image_io_drain(struct image_io *io, int ret);
void image_io_close(struct image_io *io);

#endif
