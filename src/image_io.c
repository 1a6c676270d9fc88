/* SPDX-License-Identifier: MIT */
/*
 * The file I/O loop of image_io.h: each request goes straight from or into
 * the caller's memory (no bounce buffer: guest RAM and the baseline's
 * buffers are 2 MiB aligned, more than O_DIRECT asks), a few in flight
 * through io_uring so the disk stays busy, or one at a time through
 * pread/pwrite where io_uring is not allowed, which only costs speed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "image_io.h"
#include "internal.h"

int image_fail(const char *path, enum thpvm_image_result result, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	thpvm_set_error("%s: %s%s%s", path, thpvm_image_result_str(result), detail[0] ? ": " : "", detail);
	return -thpvm_image_result_errno(result);
}

/*
 * io_uring refused as a matter of policy, not of resources: the kernel has
 * none (ENOSYS), kernel.io_uring_disabled or a seccomp filter (EPERM), an
 * LSM (EACCES). pread/pwrite do the same job slower; a lack of memory or of
 * file descriptors is still an error.
 */
static bool uring_refused(int err)
{
	return err == ENOSYS || err == EPERM || err == EACCES;
}

int image_io_open(struct image_io *io, const char *path, int flags, struct thpvm_image_stats *st)
{
	struct stat sb;
	int ret;

	io->path = path;
	io->fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);
	st->direct = io->fd >= 0;
	/* tmpfs before 6.6 refuses O_DIRECT with EINVAL: buffered I/O then */
	if (io->fd < 0 && errno == EINVAL)
		io->fd = open(path, flags | O_CLOEXEC, 0600);
	if (io->fd < 0)
		return image_fail(path, THPVM_IMAGE_OPEN_FAILED, "%s", strerror(errno));
	if (fstat(io->fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(io->fd);
		return image_fail(path, THPVM_IMAGE_NOT_REGULAR, "%s", "");
	}
	ret = io_uring_queue_init(IMAGE_QUEUE_DEPTH, &io->ring, 0);
	if (ret && !uring_refused(-ret)) {
		close(io->fd);
		return image_fail(path, THPVM_IMAGE_URING_FAILED, "%s", strerror(-ret));
	}
	io->uring = !ret;
	io->uring_error = -ret;
	st->uring_error = io->uring_error;
	st->queue_depth = io->uring ? IMAGE_QUEUE_DEPTH : 1;
	return 0;
}

void image_io_close(struct image_io *io)
{
	if (io->uring)
		io_uring_queue_exit(&io->ring);
	close(io->fd);
}

/*
 * Accounts one transfer's result res (bytes, or -errno) to r and reports
 * progress. Returns 0 or -errno (error set): a failure, nothing moved, or
 * the progress callback cancelling.
 */
static int image_account(struct image_io *io, struct image_req *r, int res)
{
	if (res < 0)
		return image_fail(io->path, THPVM_IMAGE_IO_FAILED, "%s %llu bytes at offset %llu: %s",
				  io->write ? "writing" : "reading", (unsigned long long)(r->len - r->done),
				  (unsigned long long)(r->off + r->done), strerror(-res));
	if (res == 0)
		return image_fail(io->path, io->write ? THPVM_IMAGE_IO_FAILED : THPVM_IMAGE_SHORT_READ,
				  "nothing %s at offset %llu", io->write ? "written" : "read",
				  (unsigned long long)(r->off + r->done));
	r->done += (uint64_t)res;
	io->bytes += (uint64_t)res;
	if (io->progress && !io->cancelled && io->progress(io->bytes, io->total, io->progress_arg)) {
		io->cancelled = true;
		return image_fail(io->path, THPVM_IMAGE_CANCELLED, "at %llu of %llu bytes",
				  (unsigned long long)io->bytes, (unsigned long long)io->total);
	}
	return 0;
}

/* The fallback: the whole request now, a short transfer continued where it stopped. */
static int image_sync(struct image_io *io, struct image_req *r)
{
	while (r->done < r->len) {
		size_t len = r->len - r->done;
		off_t off = (off_t)(r->off + r->done);
		ssize_t n = io->write ? pwrite(io->fd, r->hva + r->done, len, off)
				      : pread(io->fd, r->hva + r->done, len, off);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if ((ret = image_account(io, r, n < 0 ? -errno : (int)n)))
			return ret;
	}
	return 0;
}

/* Submits what is prepared; a failure leaves the ring broken (nothing more waited for). */
static int image_submit(struct image_io *io)
{
	int ret = io_uring_submit(&io->ring);

	if (ret >= 0)
		return 0;
	io->broken = true;
	return image_fail(io->path, THPVM_IMAGE_IO_FAILED, "io_uring_submit: %s", strerror(-ret));
}

static void image_prep(struct image_io *io, unsigned slot)
{
	struct image_req *r = &io->reqs[slot];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	/* never NULL: the ring has a slot per request and at most that many are queued */
	if (io->write)
		io_uring_prep_write(sqe, io->fd, r->hva + r->done, (unsigned)(r->len - r->done), r->off + r->done);
	else
		io_uring_prep_read(sqe, io->fd, r->hva + r->done, (unsigned)(r->len - r->done), r->off + r->done);
	io_uring_sqe_set_data64(sqe, slot);
}

static void image_release(struct image_io *io, unsigned slot)
{
	io->busy[slot] = false;
	io->in_flight--;
}

/* Reaps one completion: a short transfer goes out again for the rest. Returns 0 or -errno (error set). */
static int image_reap(struct image_io *io)
{
	struct io_uring_cqe *cqe;
	unsigned slot;
	int ret, res;

	do {
		ret = io_uring_wait_cqe(&io->ring, &cqe);
	} while (ret == -EINTR);
	if (ret) {
		io->broken = true;
		return image_fail(io->path, THPVM_IMAGE_IO_FAILED, "io_uring_wait_cqe: %s", strerror(-ret));
	}
	slot = (unsigned)io_uring_cqe_get_data64(cqe);
	res = cqe->res;
	io_uring_cqe_seen(&io->ring, cqe);
	if ((ret = image_account(io, &io->reqs[slot], res)) || io->reqs[slot].done == io->reqs[slot].len) {
		image_release(io, slot);
		return ret;
	}
	image_prep(io, slot);
	return image_submit(io);
}

int image_io_slot(struct image_io *io)
{
	unsigned slot;
	int ret;

	if (io->broken)
		return -EIO;
	while (io->in_flight == IMAGE_QUEUE_DEPTH)
		if ((ret = image_reap(io)))
			return ret;
	for (slot = 0; io->busy[slot]; slot++)
		;
	return (int)slot;
}

int image_io_queue(struct image_io *io, unsigned slot, uint8_t *hva, uint64_t off, uint64_t len)
{
	io->reqs[slot] = (struct image_req){ .hva = hva, .off = off, .len = len };
	if (!io->uring)
		return image_sync(io, &io->reqs[slot]);
	io->busy[slot] = true;
	io->in_flight++;
	image_prep(io, slot);
	return image_submit(io);
}

int image_io_drain(struct image_io *io, int ret)
{
	char first[512];

	snprintf(first, sizeof(first), "%s", thpvm_last_error());
	while (io->in_flight && !io->broken) {
		int r = image_reap(io);

		if (r && !ret) {
			ret = r;
			snprintf(first, sizeof(first), "%s", thpvm_last_error());
		}
	}
	if (ret)
		thpvm_set_error("%s", first);
	return ret;
}
