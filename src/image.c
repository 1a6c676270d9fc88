/* SPDX-License-Identifier: MIT */
/*
 * A region's image on disk (thpvm/image.h, docs/snapshot-format.md): each
 * extent with data goes out or comes in as one io_uring request straight
 * from or into guest RAM (no bounce buffer: guest RAM is page aligned, which
 * is all O_DIRECT asks), a few in flight so the disk stays busy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <thpvm/image.h>
#include <thpvm/extent.h>
#include "internal.h"
#include "kernel_compat.h"

/*
 * Requests in flight. One 2 MiB request keeps an NVMe queue busy only with
 * company; 8 reached the disk's sequential bandwidth here (host-facts: O_DIRECT
 * 2 MiB at queue depth 32 ran 3.3-3.8 GB/s, disk-bound) and bounds the pinned
 * memory to 16 MiB.
 */
#define IMAGE_QUEUE_DEPTH 8

static const char *const extent_str[] = { THPVM_IMAGE_EXTENTS(THPVM_RESULT_STR_ITEM) };

THPVM_EXPORT const char *thpvm_image_extent_str(enum thpvm_image_extent state)
{
	return (unsigned)state < THPVM_NR_IMAGE_EXTENTS ? extent_str[state] : "unknown";
}

THPVM_RESULT_LOOKUPS(THPVM_EXPORT, thpvm_image_result, enum thpvm_image_result, THPVM_IMAGE_RESULTS,
		     THPVM_NR_IMAGE_RESULTS, "THPVM_IMAGE_UNKNOWN", EINVAL)

/* "<path>: <result>: <detail>" as the thread's last error; returns -errno of the result. */
__attribute__((format(printf, 3, 4))) static int image_fail(const char *path, enum thpvm_image_result result,
							     const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	thpvm_set_error("%s: %s%s%s", path, thpvm_image_result_str(result), detail[0] ? ": " : "", detail);
	return -thpvm_image_result_errno(result);
}

/* One extent's bytes: where in guest RAM, where in the file. */
struct image_req {
	uint8_t *hva;
	uint64_t off;
	uint64_t len;
	uint64_t done;
};

struct image_io {
	const char *path;
	struct io_uring ring;
	int fd;
	bool write;
	unsigned in_flight;
	struct image_req reqs[IMAGE_QUEUE_DEPTH];
	bool busy[IMAGE_QUEUE_DEPTH];
	/* the ring failed (a submit or a wait): what is in flight cannot be waited for; io_uring_queue_exit() cancels it */
	bool broken;
	uint64_t bytes;
};

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

/* Reaps one completion: a short transfer goes out again for the rest. Returns 0 or -errno (error set). */
static int image_reap(struct image_io *io)
{
	struct io_uring_cqe *cqe;
	struct image_req *r;
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
	r = &io->reqs[slot];
	if (res < 0) {
		io->busy[slot] = false;
		io->in_flight--;
		return image_fail(io->path, THPVM_IMAGE_IO_FAILED, "%s %llu bytes at offset %llu: %s",
				  io->write ? "writing" : "reading", (unsigned long long)(r->len - r->done),
				  (unsigned long long)(r->off + r->done), strerror(-res));
	}
	if (res == 0) {
		io->busy[slot] = false;
		io->in_flight--;
		return image_fail(io->path, io->write ? THPVM_IMAGE_IO_FAILED : THPVM_IMAGE_SHORT_READ,
				  "nothing %s at offset %llu", io->write ? "written" : "read",
				  (unsigned long long)(r->off + r->done));
	}
	r->done += (uint64_t)res;
	io->bytes += (uint64_t)res;
	if (r->done < r->len) {
		image_prep(io, slot);
		return image_submit(io);
	}
	io->busy[slot] = false;
	io->in_flight--;
	return 0;
}

/* Queues one extent, reaping first when every slot is taken. Returns 0 or -errno. */
static int image_queue(struct image_io *io, uint8_t *hva, uint64_t off, uint64_t len)
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
	io->reqs[slot] = (struct image_req){ .hva = hva, .off = off, .len = len };
	io->busy[slot] = true;
	io->in_flight++;
	image_prep(io, slot);
	return image_submit(io);
}

/* Waits for every request in flight; the first error wins, the rest are still reaped. */
static int image_drain(struct image_io *io, int ret)
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

/* Opens path with O_DIRECT, or without when the file system refuses it (tmpfs: EINVAL). */
static int image_open(struct image_io *io, const char *path, int flags, struct thpvm_image_stats *st)
{
	struct stat sb;
	int ret;

	io->path = path;
	io->fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);
	st->direct = io->fd >= 0;
	if (io->fd < 0 && errno == EINVAL)
		io->fd = open(path, flags | O_CLOEXEC, 0600);
	if (io->fd < 0)
		return image_fail(path, THPVM_IMAGE_OPEN_FAILED, "%s", strerror(errno));
	if (fstat(io->fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(io->fd);
		return image_fail(path, THPVM_IMAGE_NOT_REGULAR, "%s", "");
	}
	if ((ret = io_uring_queue_init(IMAGE_QUEUE_DEPTH, &io->ring, 0))) {
		close(io->fd);
		return image_fail(path, THPVM_IMAGE_URING_FAILED, "%s", strerror(-ret));
	}
	st->queue_depth = IMAGE_QUEUE_DEPTH;
	return 0;
}

/* Closes io and hands the call's stats out (stats may be NULL); returns ret. */
static int image_close(struct image_io *io, struct thpvm_image_stats *st, uint64_t t0,
		       struct thpvm_image_stats *stats, int ret)
{
	io_uring_queue_exit(&io->ring);
	close(io->fd);
	st->bytes = io->bytes;
	st->ns = monotonic_ns() - t0;
	if (stats)
		*stats = *st;
	return ret;
}

/* Which pages of r are present now: what a save writes and a load must discard. */
static int image_refresh(struct thpvm_region *r, const char *path)
{
	if (thpvm_region_refresh(r))
		return image_fail(path, THPVM_IMAGE_IO_FAILED, "which pages are present: %s", thpvm_last_error());
	return 0;
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint64_t i = 0; i < len / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

THPVM_EXPORT int thpvm_region_image_save(struct thpvm_region *r, const char *path, uint8_t *map,
					 struct thpvm_image_stats *stats)
{
	struct thpvm_image_stats st = { .nr_extents = r->nr_extents };
	struct image_io io = { .write = true };
	bool from_file = r->backing == THPVM_BACKING_FILE;
	uint64_t t0 = monotonic_ns();
	int ret;

	if ((ret = image_refresh(r, path)) || (ret = image_open(&io, path, O_WRONLY | O_CREAT | O_TRUNC, &st)))
		return ret;
	/* the whole region's length, holes included: a load checks it, a mapping needs it */
	if (ftruncate(io.fd, (off_t)r->size_bytes)) {
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "setting its size: %s", strerror(errno));
		goto out;
	}
	for (uint64_t i = 0; i < r->nr_extents && !ret; i++) {
		struct thpvm_extent_info e;
		uint64_t len;

		thpvm_region_extent(r, i, &e);
		len = (uint64_t)e.nr_pages * THPVM_PAGE_SIZE;
		/*
		 * Only a wholly present extent is read to see whether it is zero:
		 * reading an absent page allocates it. In a region mapped from a
		 * file (a snapshot's memory file, restored shared) a page not yet
		 * faulted in still holds the file's bytes: nothing there is absent,
		 * and reading it only maps the page cache.
		 */
		if (!e.nr_present && !from_file)
			map[i] = THPVM_IMAGE_ABSENT;
		else if ((from_file || e.nr_present == e.nr_pages) && all_zero(r->hva + (e.gpa - r->gpa), len))
			map[i] = THPVM_IMAGE_ZERO;
		else
			map[i] = THPVM_IMAGE_DATA;
		st.nr[map[i]]++;
		if (map[i] == THPVM_IMAGE_DATA)
			ret = image_queue(&io, r->hva + (e.gpa - r->gpa), e.gpa - r->gpa, len);
	}
	ret = image_drain(&io, ret);
	if (!ret && fsync(io.fd))
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "fsync: %s", strerror(errno));
out:
	return image_close(&io, &st, t0, stats, ret);
}

THPVM_EXPORT int thpvm_region_image_load(struct thpvm_region *r, const char *path, const uint8_t *map,
					 struct thpvm_image_stats *stats)
{
	struct thpvm_image_stats st = { .nr_extents = r->nr_extents };
	struct image_io io = { .write = false };
	uint64_t t0 = monotonic_ns();
	struct stat sb;
	int ret = 0;

	for (uint64_t i = 0; i < r->nr_extents; i++) {
		if (map[i] >= THPVM_NR_IMAGE_EXTENTS)
			return image_fail(path, THPVM_IMAGE_BAD_MAP, "extent %llu has state %u",
					  (unsigned long long)i, map[i]);
		st.nr[map[i]]++;
	}
	if ((ret = image_refresh(r, path)) || (ret = image_open(&io, path, O_RDONLY, &st)))
		return ret;
	if (fstat(io.fd, &sb))
		sb.st_size = 0;
	if ((uint64_t)sb.st_size != r->size_bytes) {
		ret = image_fail(path, THPVM_IMAGE_SIZE_MISMATCH, "%llu bytes, region '%s' has %llu",
				 (unsigned long long)sb.st_size, r->name, (unsigned long long)r->size_bytes);
		goto out;
	}
	for (uint64_t i = 0; i < r->nr_extents && !ret; i++) {
		struct thpvm_extent_info e;
		uint8_t *hva;
		uint64_t len;

		thpvm_region_extent(r, i, &e);
		hva = r->hva + (e.gpa - r->gpa);
		len = (uint64_t)e.nr_pages * THPVM_PAGE_SIZE;
		/*
		 * An O_DIRECT read into pages not there yet makes the kernel fault
		 * them in one by one as it pins them; populating the extent first
		 * gets its 2 MiB page in one go, while the reads queued before it
		 * are in flight (bench snapshot, kvm-pvm, 1 GiB, 3 reps: the load
		 * went from 1.41 to 1.86 GB/s, 0.69x to 0.86x of the disk's read).
		 */
		if (map[i] == THPVM_IMAGE_DATA) {
			madvise(hva, len, MADV_POPULATE_WRITE);
			ret = image_queue(&io, hva, e.gpa - r->gpa, len);
		} else if (e.nr_present && madvise(hva, len, MADV_DONTNEED))
			ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "discarding extent %llu: %s", (unsigned long long)i,
					 strerror(errno));
	}
	ret = image_drain(&io, ret);
out:
	return image_close(&io, &st, t0, stats, ret);
}
