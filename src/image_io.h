/* SPDX-License-Identifier: MIT */
/*
 * libthpvm's one file I/O loop (src/image_io.c): requests of up to 2 MiB
 * between memory and a file, a few in flight through io_uring,
 * or one at a time with pread/pwrite where io_uring cannot be used (the
 * kernel lacks it, kernel.io_uring_disabled, a seccomp policy). The region
 * images (image.c) and the disk baseline (image_disk.c) both go through it.
 */
#ifndef THPVM_IMAGE_IO_H
#define THPVM_IMAGE_IO_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <thpvm/image.h>

/*
 * Requests of 2 MiB in flight by default (thpvm_image_io_config_set()
 * changes it), chosen by `thpvm bench snapshot --sizes 1G --reps 7
 * --queue-depths ...` (kvm-pvm, ext4 on virtio, 2026-12-07; the tables in
 * docs/benchmarks.md). Three runs; save / load medians, GB/s:
 *   depths 1,2,4,8,16,32:  save 2.99 3.27 3.21 3.12 3.12 3.27, load 2.95 2.88 3.37 3.36 3.29 3.56
 *   depths 4,8,16,32,64:   save 3.05 3.09 3.37 3.58 3.49,      load 2.98 3.32 3.44 2.79 3.39
 *   depths 16,32:          save 3.29 3.36,                     load 3.07 3.29
 * 32 is the one depth at or within 2% of the best save in every run and
 * the best load in two (in the third 3 of its 7 loads met the fresh-memory
 * stalls that hit every depth now and then: 0.5-1 GB/s); 64 gains nothing.
 * The old default, 8, saved 5-14% slower. At 8 GiB (--sizes 8G --reps 3
 * --queue-depths 8,32): 32 saved 3.33 against 3.24 and loaded 2.84
 * against 2.33 GB/s. Bounds what is pinned at once to 64 MiB.
 */
#define IMAGE_QUEUE_DEPTH 32
/*
 * No registration by default, measured in the same way (--queue-depths
 * 16,32 --register none,files,buffers,both, 7 repetitions): a registered
 * file made every save slower (2.30 against 3.36 GB/s at depth 32; 2.42
 * against 3.39 in an earlier, busier run of depths 1-32) and no load
 * faster beyond the spread; registered buffers
 * saved no faster (3.18) and loaded at a third of the speed (1.25 against
 * 3.29: pinning faults in every data extent before the first read, where
 * unregistered reads overlap the faults with the I/O).
 */
#define IMAGE_REGISTER_FILE false
#define IMAGE_REGISTER_BUFFERS false

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
	/* the settings this call started with (thpvm_image_io_config) */
	unsigned depth;
	bool want_buffers;
	/* the file is registered: index 0, IOSQE_FIXED_FILE */
	bool fixed_file;
	/* registered buffers (image_io_register()), sorted by address; NULL: none */
	const struct iovec *bufs;
	unsigned nr_bufs;
	unsigned in_flight;
	struct image_req reqs[THPVM_IMAGE_MAX_QUEUE_DEPTH];
	bool busy[THPVM_IMAGE_MAX_QUEUE_DEPTH];
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
 * EPERM, EACCES), with the settings cfg (NULL: the process's, as
 * thpvm_image_io_config_get() gives them). io->write, progress and total
 * are the caller's; st gets direct, queue_depth, uring_error and
 * fixed_file. Returns 0 or -errno (error set).
 */
int image_io_open(struct image_io *io, const char *path, int flags, const struct thpvm_image_io_config *cfg,
		  struct thpvm_image_stats *st);
/*
 * Registers iov[0..n) (sorted by address, each at most 1 GiB) as the ring's
 * buffers where the settings ask for it, so that requests inside them go
 * as READ_FIXED/WRITE_FIXED; iov must outlive io. Where the kernel refuses,
 * the requests go as before: no error. st->fixed_buffers says which.
 */
void image_io_register(struct image_io *io, const struct iovec *iov, unsigned n, struct thpvm_image_stats *st);
/* A free request slot, reaping completions first while all are busy. Returns the slot or -errno (error set). */
int image_io_slot(struct image_io *io);
/* Starts [off, off + len) of the file from or into hva in slot (from image_io_slot()). Returns 0 or -errno. */
int image_io_queue(struct image_io *io, unsigned slot, uint8_t *hva, uint64_t off, uint64_t len);
/* Waits for every request in flight; the first error (ret, else the first reaped) wins and stays the message. */
int image_io_drain(struct image_io *io, int ret);
void image_io_close(struct image_io *io);

#endif
