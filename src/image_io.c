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
#include <pthread.h>
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

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thpvm_image_io_config config = { .queue_depth = IMAGE_QUEUE_DEPTH, .register_file = IMAGE_REGISTER_FILE,
					       .register_buffers = IMAGE_REGISTER_BUFFERS };

THPVM_EXPORT int thpvm_image_io_config_set(const struct thpvm_image_io_config *cfg)
{
	struct thpvm_image_io_config c = { .queue_depth = IMAGE_QUEUE_DEPTH, .register_file = IMAGE_REGISTER_FILE,
					   .register_buffers = IMAGE_REGISTER_BUFFERS };

	if (cfg) {
		if (cfg->queue_depth > THPVM_IMAGE_MAX_QUEUE_DEPTH)
			return -EINVAL;
		c = *cfg;
		if (!c.queue_depth)
			c.queue_depth = IMAGE_QUEUE_DEPTH;
	}
	pthread_mutex_lock(&config_lock);
	config = c;
	pthread_mutex_unlock(&config_lock);
	return 0;
}

THPVM_EXPORT void thpvm_image_io_config_get(struct thpvm_image_io_config *cfg)
{
	pthread_mutex_lock(&config_lock);
	*cfg = config;
	pthread_mutex_unlock(&config_lock);
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

int image_io_open(struct image_io *io, const char *path, int flags, const struct thpvm_image_io_config *c,
		  struct thpvm_image_stats *st)
{
	struct thpvm_image_io_config cfg;
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
	if (c)
		cfg = *c;
	else
		thpvm_image_io_config_get(&cfg);
	io->depth = cfg.queue_depth;
	io->want_buffers = cfg.register_buffers;
	ret = io_uring_queue_init(io->depth, &io->ring, 0);
	if (ret && !uring_refused(-ret)) {
		close(io->fd);
		return image_fail(path, THPVM_IMAGE_URING_FAILED, "%s", strerror(-ret));
	}
	io->uring = !ret;
	io->uring_error = -ret;
	st->uring_error = io->uring_error;
	if (!io->uring)
		io->depth = 1;
	st->queue_depth = io->depth;
	/* a refusal only costs the per-request file lookup it would have saved */
	io->fixed_file = io->uring && cfg.register_file && !io_uring_register_files(&io->ring, &io->fd, 1);
	st->fixed_file = io->fixed_file;
	return 0;
}

void image_io_register(struct image_io *io, const struct iovec *iov, unsigned n, struct thpvm_image_stats *st)
{
	if (!io->uring || !io->want_buffers || !n || io_uring_register_buffers(&io->ring, iov, n))
		return;
	io->bufs = iov;
	io->nr_bufs = n;
	st->fixed_buffers = true;
}

void image_io_close(struct image_io *io)
{
	if (io->uring) {
		/*
		 * Unpinned now, not when the ring's teardown runs later in a
		 * kernel worker: a fork() right after a save must not find
		 * guest RAM still pinned (it would copy every pinned page).
		 */
		if (io->bufs)
			io_uring_unregister_buffers(&io->ring);
		io_uring_queue_exit(&io->ring);
	}
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

/* The registered buffer holding [p, p + len), or -1. */
static int image_buf_index(const struct image_io *io, const uint8_t *p, uint64_t len)
{
	unsigned lo = 0, hi = io->nr_bufs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const uint8_t *b = io->bufs[mid].iov_base;

		if (p < b)
			hi = mid;
		else if (p >= b + io->bufs[mid].iov_len)
			lo = mid + 1;
		else
			return p + len <= b + io->bufs[mid].iov_len ? (int)mid : -1;
	}
	return -1;
}

static void image_prep(struct image_io *io, unsigned slot)
{
	struct image_req *r = &io->reqs[slot];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	uint8_t *p = r->hva + r->done;
	unsigned len = (unsigned)(r->len - r->done);
	int fd = io->fixed_file ? 0 : io->fd, buf = io->bufs ? image_buf_index(io, p, len) : -1;

	/* never NULL: the ring has a slot per request and at most that many are queued */
	if (buf >= 0 && io->write)
		io_uring_prep_write_fixed(sqe, fd, p, len, r->off + r->done, buf);
	else if (buf >= 0)
		io_uring_prep_read_fixed(sqe, fd, p, len, r->off + r->done, buf);
	else if (io->write)
		io_uring_prep_write(sqe, fd, p, len, r->off + r->done);
	else
		io_uring_prep_read(sqe, fd, p, len, r->off + r->done);
	if (io->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
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
	while (io->in_flight == io->depth)
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
