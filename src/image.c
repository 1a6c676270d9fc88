/* SPDX-License-Identifier: MIT */
/*
 * A region's image on disk (thpvm/image.h, docs/snapshot-format.md): which
 * extents are data and which are holes, each data extent going out or
 * coming in as one request of the I/O loop (image_io.h) straight from or
 * into guest RAM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <thpvm/image.h>
#include <thpvm/extent.h>
#include "image_io.h"
#include "internal.h"
#include "kernel_compat.h"

static const char *const extent_str[] = { THPVM_IMAGE_EXTENTS(THPVM_RESULT_STR_ITEM) };

THPVM_EXPORT const char *thpvm_image_extent_str(enum thpvm_image_extent state)
{
	return (unsigned)state < THPVM_NR_IMAGE_EXTENTS ? extent_str[state] : "unknown";
}

THPVM_RESULT_LOOKUPS(THPVM_EXPORT, thpvm_image_result, enum thpvm_image_result, THPVM_IMAGE_RESULTS,
		     THPVM_NR_IMAGE_RESULTS, "THPVM_IMAGE_UNKNOWN", EINVAL)

/* Queues one extent in the next free slot. Returns 0 or -errno (error set). */
static int image_queue(struct image_io *io, uint8_t *hva, uint64_t off, uint64_t len)
{
	int slot = image_io_slot(io);

	return slot < 0 ? slot : image_io_queue(io, (unsigned)slot, hva, off, len);
}

/* Closes io and hands the call's stats out (stats may be NULL); returns ret. */
static int image_close(struct image_io *io, struct thpvm_image_stats *st, uint64_t t0,
		       struct thpvm_image_stats *stats, int ret)
{
	image_io_close(io);
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

/* Extent i's state for a save, from what is present (image_refresh()) and, for a present extent, its bytes. */
static uint8_t extent_state(struct thpvm_region *r, uint64_t i)
{
	bool from_file = r->backing == THPVM_BACKING_FILE;
	struct thpvm_extent_info e;

	thpvm_region_extent(r, i, &e);
	/*
	 * Only a wholly present extent is read to see whether it is zero:
	 * reading an absent page allocates it. In a region mapped from a
	 * file (a snapshot's memory file, restored shared) a page not yet
	 * faulted in still holds the file's bytes: nothing there is absent,
	 * and reading it only maps the page cache.
	 */
	if (!e.nr_present && !from_file)
		return THPVM_IMAGE_ABSENT;
	if ((from_file || e.nr_present == e.nr_pages) &&
	    all_zero(r->hva + (e.gpa - r->gpa), (uint64_t)e.nr_pages * THPVM_PAGE_SIZE))
		return THPVM_IMAGE_ZERO;
	return THPVM_IMAGE_DATA;
}

/* The bytes of map's data extents: what a save or a load moves, the progress callback's total. */
static uint64_t data_bytes(struct thpvm_region *r, const uint8_t *map)
{
	uint64_t total = 0;

	for (uint64_t i = 0; i < r->nr_extents; i++)
		if (map[i] == THPVM_IMAGE_DATA)
			total += (uint64_t)extent_nr_pages(r, i) * THPVM_PAGE_SIZE;
	return total;
}

/* One registered buffer at most (io_uring_register_buffers refuses a longer one). */
#define IMAGE_MAX_BUF (1ULL << 30)

/*
 * Registers map's data extents with io's ring where the settings ask for
 * it: runs of adjacent extents, up to 1 GiB each, in *iov (freed by the
 * caller). Only the data: registering pins, and pinning an absent page
 * allocates it. A failure only leaves the requests unregistered.
 */
static void image_register(struct image_io *io, struct thpvm_region *r, const uint8_t *map, struct iovec **iov,
			   struct thpvm_image_stats *st)
{
	unsigned n = 0;

	*iov = NULL;
	if (!io->uring || !io->want_buffers)
		return;
	for (uint64_t i = 0; i < r->nr_extents; i++) {
		uint8_t *hva = extent_hva(r, i);
		uint64_t len = (uint64_t)extent_nr_pages(r, i) * THPVM_PAGE_SIZE;
		struct iovec *last = n ? &(*iov)[n - 1] : NULL;

		if (map[i] != THPVM_IMAGE_DATA)
			continue;
		if (last && (uint8_t *)last->iov_base + last->iov_len == hva && last->iov_len + len <= IMAGE_MAX_BUF) {
			last->iov_len += len;
			continue;
		}
		if (!(n & (n - 1))) {
			struct iovec *grown = realloc(*iov, (n ? 2 * n : 1) * sizeof(**iov));

			if (!grown)
				return;
			*iov = grown;
		}
		(*iov)[n++] = (struct iovec){ .iov_base = hva, .iov_len = len };
	}
	image_io_register(io, *iov, n, st);
}

THPVM_EXPORT int thpvm_region_image_save(struct thpvm_region *r, const char *path, uint8_t *map,
					 thpvm_progress_fn progress, void *arg, struct thpvm_image_stats *stats)
{
	struct thpvm_image_stats st = { .nr_extents = r->nr_extents };
	struct image_io io = { .write = true, .progress = progress, .progress_arg = arg };
	struct iovec *iov = NULL;
	uint64_t t0 = monotonic_ns();
	int ret;

	if ((ret = image_refresh(r, path)) || (ret = image_io_open(&io, path, O_WRONLY | O_CREAT | O_TRUNC, NULL, &st)))
		return ret;
	/* every extent's state first: the progress callback is told the total before the first byte goes out */
	for (uint64_t i = 0; i < r->nr_extents; i++)
		st.nr[map[i] = extent_state(r, i)]++;
	io.total = data_bytes(r, map);
	image_register(&io, r, map, &iov, &st);
	/* the whole region's length, holes included: a load checks it, a mapping needs it */
	if (ftruncate(io.fd, (off_t)r->size_bytes)) {
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "setting its size: %s", strerror(errno));
		goto out;
	}
	for (uint64_t i = 0; i < r->nr_extents && !ret; i++)
		if (map[i] == THPVM_IMAGE_DATA)
			ret = image_queue(&io, extent_hva(r, i), extent_gpa(r, i) - r->gpa,
					  (uint64_t)extent_nr_pages(r, i) * THPVM_PAGE_SIZE);
	ret = image_io_drain(&io, ret);
	if (!ret && fsync(io.fd))
		ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "fsync: %s", strerror(errno));
out:
	ret = image_close(&io, &st, t0, stats, ret);
	free(iov);
	return ret;
}

/*
 * A load's fault-in thread: it populates the data extents, in order, from
 * the start of the load (a 2 MiB THP each: allocated, zeroed, and on a
 * machine that is itself a VM first given back by the outer hypervisor),
 * on the other core, while the loading thread keeps the reads going behind
 * it. Faulting each extent in on the loading thread just before its read
 * is queued put that cost between the reads: an 8 GiB load ran at 0.73x of
 * the disk's read, the whole VM's restore at 0.68x.
 *
 * It runs as far ahead as it can, not a bounded distance: the memory is the
 * load's to fill anyway, and fresh memory here gets dearer the longer it
 * waits (free memory is handed back to the outer hypervisor within
 * seconds: 8 GiB populated at 23 GB/s right after it was freed, 1-3 GB/s
 * once handed back, with one thread or two alike). `thpvm bench snapshot
 * --sizes 8G --reps 5`, kvm-pvm, the distance set by hand, load / restore
 * over the disk's read: 0.55x / 0.64x with the thread idle, 0.89x / 0.86x
 * 64 extents ahead, 0.99x / 0.99x unbounded (docs/benchmarks.md).
 */
struct ahead {
	struct thpvm_region *r;
	const uint8_t *map;
	pthread_t thread;
	pthread_mutex_t lock;
	uint64_t next; /* the first extent neither the thread nor the loading thread has taken */
	bool stop;
	bool want;    /* extents are to be populated (not where registered buffers pinned them all) */
	bool running; /* the thread runs; else the loading thread populates each extent itself */
};

/* A failure is the read's to meet: it faults the extent in itself. */
static void populate(struct ahead *a, uint64_t i)
{
	if (a->map[i] == THPVM_IMAGE_DATA)
		madvise(extent_hva(a->r, i), (uint64_t)extent_nr_pages(a->r, i) * THPVM_PAGE_SIZE, MADV_POPULATE_WRITE);
}

static void *ahead_main(void *arg)
{
	struct ahead *a = arg;

	pthread_mutex_lock(&a->lock);
	while (!a->stop && a->next < a->r->nr_extents) {
		uint64_t i = a->next++;

		pthread_mutex_unlock(&a->lock);
		populate(a, i);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* Starts the thread; where it cannot start, the loading thread populates each extent itself (ahead_reach()). */
static void ahead_start(struct ahead *a, struct thpvm_region *r, const uint8_t *map, bool want)
{
	sigset_t all, old;

	*a = (struct ahead){ .r = r, .map = map, .want = want };
	if (!want)
		return;
	pthread_mutex_init(&a->lock, NULL);
	/* every signal blocked in it: the process's signals are for its own threads, not a library's helper */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	a->running = !pthread_create(&a->thread, NULL, ahead_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!a->running)
		pthread_mutex_destroy(&a->lock);
}

/*
 * The reads have reached data extent i. Where the thread has not taken it
 * yet (fresh memory came slower than the disk, or there is no thread), the
 * loading thread populates it itself, as it did before there was a thread,
 * and the thread goes on past it.
 */
static void ahead_reach(struct ahead *a, uint64_t i)
{
	bool mine = true;

	if (!a->want)
		return;
	if (a->running) {
		pthread_mutex_lock(&a->lock);
		mine = a->next <= i;
		if (mine)
			a->next = i + 1;
		pthread_mutex_unlock(&a->lock);
	}
	if (mine)
		populate(a, i);
}

/* Stops and joins the thread, on every path out of a load that started it. */
static void ahead_stop(struct ahead *a)
{
	if (a->running) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
		pthread_mutex_destroy(&a->lock);
		a->running = false;
	}
}

THPVM_EXPORT int thpvm_region_image_load(struct thpvm_region *r, const char *path, const uint8_t *map,
					 thpvm_progress_fn progress, void *arg, struct thpvm_image_stats *stats)
{
	struct thpvm_image_stats st = { .nr_extents = r->nr_extents };
	struct image_io io = { .write = false, .progress = progress, .progress_arg = arg };
	struct iovec *iov = NULL;
	uint64_t t0 = monotonic_ns();
	struct ahead ahead;
	struct stat sb;
	int ret = 0;

	for (uint64_t i = 0; i < r->nr_extents; i++) {
		if (map[i] >= THPVM_NR_IMAGE_EXTENTS)
			return image_fail(path, THPVM_IMAGE_BAD_MAP, "extent %llu has state %u",
					  (unsigned long long)i, map[i]);
		st.nr[map[i]]++;
	}
	io.total = data_bytes(r, map);
	if ((ret = image_refresh(r, path)) || (ret = image_io_open(&io, path, O_RDONLY, NULL, &st)))
		return ret;
	if (fstat(io.fd, &sb))
		sb.st_size = 0;
	if ((uint64_t)sb.st_size != r->size_bytes) {
		ret = image_fail(path, THPVM_IMAGE_SIZE_MISMATCH, "%llu bytes, region '%s' has %llu",
				 (unsigned long long)sb.st_size, r->name, (unsigned long long)r->size_bytes);
		goto out;
	}
	/* pins, so faults in, every data extent before the first read: what registering costs a load */
	image_register(&io, r, map, &iov, &st);
	/*
	 * An O_DIRECT read into pages not there yet makes the kernel fault
	 * them in one by one as it pins them; populating the extent first
	 * gets its 2 MiB page in one go (bench snapshot, kvm-pvm, 1 GiB, 3
	 * reps: the load went from 1.41 to 1.86 GB/s, 0.69x to 0.86x of the
	 * disk's read), and doing it on a thread of its own, ahead of the
	 * reads, overlaps it with them (struct ahead). Registered buffers are
	 * present already. The thread is stopped and joined before the drain,
	 * on every way out of the loop.
	 */
	ahead_start(&ahead, r, map, !st.fixed_buffers);
	for (uint64_t i = 0; i < r->nr_extents && !ret; i++) {
		struct thpvm_extent_info e;
		uint8_t *hva;
		uint64_t len;

		thpvm_region_extent(r, i, &e);
		hva = r->hva + (e.gpa - r->gpa);
		len = (uint64_t)e.nr_pages * THPVM_PAGE_SIZE;
		if (map[i] == THPVM_IMAGE_DATA) {
			ahead_reach(&ahead, i);
			ret = image_queue(&io, hva, e.gpa - r->gpa, len);
		} else if (e.nr_present && madvise(hva, len, MADV_DONTNEED))
			ret = image_fail(path, THPVM_IMAGE_IO_FAILED, "discarding extent %llu: %s", (unsigned long long)i,
					 strerror(errno));
	}
	ahead_stop(&ahead);
	ret = image_io_drain(&io, ret);
out:
	ret = image_close(&io, &st, t0, stats, ret);
	free(iov);
	return ret;
}
