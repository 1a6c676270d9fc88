/* SPDX-License-Identifier: MIT */
/*
 * thpvm_image_measure_disk(): the file system's own sequential bandwidth,
 * measured through the images' I/O loop (image_io.h) so that the baseline
 * asks the disk for exactly what an image asks: 2 MiB requests from 2 MiB
 * pages, as many in flight, registered or not as the settings say
 * (thpvm_image_io_config), the same fallbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "image_io.h"
#include "internal.h"

/* Each slot's buffer holds this: non-zero, so nothing can be taken for a hole. */
#define DISK_FILL 0x5a

/* One pass over the file, request k from or into its slot's buffer. Returns 0 or -errno (error set). */
static int disk_pass(struct image_io *io, uint8_t *buf, uint64_t size)
{
	int ret = 0, slot;

	for (uint64_t off = 0; off < size && !ret; off += THPVM_EXTENT_SIZE) {
		if ((slot = image_io_slot(io)) < 0)
			ret = slot;
		else
			ret = image_io_queue(io, (unsigned)slot, buf + (uint64_t)slot * THPVM_EXTENT_SIZE, off,
					     THPVM_EXTENT_SIZE);
	}
	return image_io_drain(io, ret);
}

/* The baseline's buffers: one slot of 2 MiB per request in flight, registered as one where asked. */
struct disk_bufs {
	const struct thpvm_image_io_config *cfg;
	struct iovec iov;
};

static int disk_write(const char *path, struct disk_bufs *b, uint64_t size, struct thpvm_image_stats *st)
{
	struct image_io io = { .write = true };
	uint8_t *buf = b->iov.iov_base;
	uint64_t t0 = monotonic_ns();
	int ret;

	if ((ret = image_io_open(&io, path, O_WRONLY | O_CREAT | O_TRUNC, b->cfg, st)))
		return ret;
	image_io_register(&io, &b->iov, 1, st);
	/* sized first, as an image is: the writes then allocate inside the file instead of growing it */
	if (ftruncate(io.fd, (off_t)size))
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "setting its size: %s", strerror(errno));
	if (!ret)
		ret = disk_pass(&io, buf, size);
	if (!ret && fsync(io.fd))
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "fsync: %s", strerror(errno));
	st->ns = monotonic_ns() - t0;
	st->bytes = io.bytes;
	/* the read that follows must come from the disk: nothing of the file left in the page cache */
	if (!ret)
		posix_fadvise(io.fd, 0, 0, POSIX_FADV_DONTNEED);
	image_io_close(&io);
	return ret;
}

static int disk_read(const char *path, struct disk_bufs *b, uint64_t size, struct thpvm_image_stats *st)
{
	struct image_io io = { .write = false };
	uint8_t *buf = b->iov.iov_base;
	uint64_t t0 = monotonic_ns();
	int ret;

	if ((ret = image_io_open(&io, path, O_RDONLY, b->cfg, st)))
		return ret;
	image_io_register(&io, &b->iov, 1, st);
	ret = disk_pass(&io, buf, size);
	image_io_close(&io);
	st->ns = monotonic_ns() - t0;
	st->bytes = io.bytes;
	return ret;
}

THPVM_EXPORT int thpvm_image_measure_disk(const char *path, uint64_t size, struct thpvm_image_stats *write,
					  struct thpvm_image_stats *read)
{
	struct thpvm_image_io_config cfg;
	struct disk_bufs b = { .cfg = &cfg };
	uint64_t len, blen;
	uint8_t *map, *buf;
	int ret;

	/* one copy of the settings for both passes and the buffers: a change meanwhile cannot outgrow them */
	thpvm_image_io_config_get(&cfg);
	blen = (uint64_t)cfg.queue_depth * THPVM_EXTENT_SIZE;
	len = blen + THPVM_EXTENT_SIZE;
	*write = *read = (struct thpvm_image_stats){ 0 };
	if (!size || size % THPVM_EXTENT_SIZE)
		return image_fail(path, THPVM_IMAGE_IO_FAILED, "%llu bytes is not a multiple of 2 MiB",
				  (unsigned long long)size);
	/*
	 * On 2 MiB pages, as an image's guest RAM is: O_DIRECT pins every page
	 * of a request, and 512 small ones cost more than one huge one (a
	 * baseline on 4 KiB buffers ran slower than the images it measures).
	 */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return image_fail(path, THPVM_IMAGE_NO_MEMORY, "the baseline's buffers: %s", strerror(errno));
	buf = (uint8_t *)ALIGN_UP((uintptr_t)map, THPVM_EXTENT_SIZE);
	madvise(buf, blen, MADV_HUGEPAGE);
	memset(buf, DISK_FILL, blen);
	b.iov = (struct iovec){ .iov_base = buf, .iov_len = blen };
	ret = disk_write(path, &b, size, write);
	if (!ret)
		ret = disk_read(path, &b, size, read);
	unlink(path);
	munmap(map, len);
	return ret;
}
