/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot without KVM: the file system's own O_DIRECT
 * bandwidth (what an image can reach at best), and libthpvm's region images
 * of a THP region against it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "util/clock.h"
#include "util/error.h"

/*
 * The images' own request size and queue depth (src/image.c: one 2 MiB
 * extent per request, 8 in flight), so the baseline asks the disk for what
 * an image asks, nothing more.
 */
#define DISK_QD 8
#define DISK_REQ (2ULL << 20)
/* What the memory-only region holds: non-zero everywhere, so every extent is DATA; the page's index in word 0. */
#define PATTERN_BYTE 0x5a
#define PATTERN_WORD(page) ((page) ^ 0x5a5a5a5a5a5a5a5aULL)

double snap_huge_pct(const struct thpvm_coverage *cov)
{
	uint64_t present = cov->huge_bytes + cov->split_bytes;

	return present ? 100.0 * (double)cov->huge_bytes / (double)present : 0.0;
}

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

/* ---- the disk baseline ---- */

struct disk {
	const char *path;
	struct io_uring ring;
	int fd;
	uint8_t *buf;               /* DISK_QD requests' buffers */
	bool busy[DISK_QD];
	unsigned in_flight;
};

/* The whole file through the ring, DISK_QD requests in flight; a short transfer is an error (whole blocks, O_DIRECT). */
static int disk_pass(struct disk *d, uint64_t size, bool write)
{
	uint64_t next = 0, done = 0;

	while (done < size) {
		struct io_uring_cqe *cqe;
		unsigned slot;
		int ret, res;

		for (slot = 0; slot < DISK_QD && next < size; slot++) {
			struct io_uring_sqe *sqe;

			if (d->busy[slot])
				continue;
			sqe = io_uring_get_sqe(&d->ring);
			if (write)
				io_uring_prep_write(sqe, d->fd, d->buf + slot * DISK_REQ, DISK_REQ, next);
			else
				io_uring_prep_read(sqe, d->fd, d->buf + slot * DISK_REQ, DISK_REQ, next);
			io_uring_sqe_set_data64(sqe, slot);
			d->busy[slot] = true;
			d->in_flight++;
			next += DISK_REQ;
		}
		if ((ret = io_uring_submit(&d->ring)) < 0)
			return vmm_fail(ret, "%s: io_uring_submit: %s", d->path, strerror(-ret));
		do {
			ret = io_uring_wait_cqe(&d->ring, &cqe);
		} while (ret == -EINTR);
		if (ret)
			return vmm_fail(ret, "%s: io_uring_wait_cqe: %s", d->path, strerror(-ret));
		slot = (unsigned)io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&d->ring, cqe);
		d->busy[slot] = false;
		d->in_flight--;
		if (res < 0)
			return vmm_fail(res, "%s: %s: %s", d->path, write ? "writing" : "reading", strerror(-res));
		if ((uint64_t)res != DISK_REQ)
			return vmm_fail(-EIO, "%s: %s %d of %llu bytes", d->path, write ? "wrote" : "read", res,
					(unsigned long long)DISK_REQ);
		done += DISK_REQ;
	}
	return 0;
}

/* Every request still in flight, reaped before its buffer goes (after an error). */
static void disk_drain(struct disk *d)
{
	struct io_uring_cqe *cqe;

	while (d->in_flight && !io_uring_wait_cqe(&d->ring, &cqe)) {
		io_uring_cqe_seen(&d->ring, cqe);
		d->in_flight--;
	}
}

/* Opens path for a pass, O_DIRECT unless the file system refuses it (tmpfs), as src/image.c does. */
static int disk_open(struct disk *d, int flags, bool *direct)
{
	d->fd = open(d->path, flags | O_DIRECT | O_CLOEXEC, 0600);
	*direct = d->fd >= 0;
	if (d->fd < 0 && errno == EINVAL)
		d->fd = open(d->path, flags | O_CLOEXEC, 0600);
	return d->fd < 0 ? vmm_fail(-errno, "%s: %s", d->path, strerror(errno)) : 0;
}

static int disk_write(struct disk *d, uint64_t size, bool *direct, uint64_t *ns)
{
	uint64_t t0 = util_mono_ns();
	int ret;

	if ((ret = disk_open(d, O_WRONLY | O_CREAT | O_TRUNC, direct)))
		return ret;
	/* sized first, as an image is: the writes then allocate inside the file instead of growing it */
	if (ftruncate(d->fd, (off_t)size))
		ret = vmm_fail(-errno, "%s: setting its size: %s", d->path, strerror(errno));
	if (!ret)
		ret = disk_pass(d, size, true);
	disk_drain(d);
	if (!ret && fsync(d->fd))
		ret = vmm_fail(-errno, "%s: fsync: %s", d->path, strerror(errno));
	*ns = util_mono_ns() - t0;
	/* the read that follows must come from the disk: nothing of the file left in the page cache */
	if (!ret)
		posix_fadvise(d->fd, 0, 0, POSIX_FADV_DONTNEED);
	close(d->fd);
	return ret;
}

static int disk_read(struct disk *d, uint64_t size, bool *direct, uint64_t *ns)
{
	uint64_t t0 = util_mono_ns();
	int ret;

	if ((ret = disk_open(d, O_RDONLY, direct)))
		return ret;
	ret = disk_pass(d, size, false);
	disk_drain(d);
	close(d->fd);
	*ns = util_mono_ns() - t0;
	return ret;
}

int snap_disk_once(const char *path, uint64_t size, bool *direct, double *v)
{
	struct disk d = { .path = path, .fd = -1 };
	uint64_t ns_w = 0, ns_r = 0;
	bool direct_r = false;
	void *map;
	int ret;

	/*
	 * On 2 MiB pages, as the images' guest RAM is: O_DIRECT pins every
	 * page of a request, and 512 small ones cost more than one huge one
	 * (a baseline on 4 KiB buffers ran slower than the images it measures).
	 */
	map = mmap(NULL, (DISK_QD + 1) * DISK_REQ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return vmm_fail(-ENOMEM, "out of memory for the disk baseline's buffers");
	d.buf = (uint8_t *)(((uintptr_t)map + DISK_REQ - 1) & ~(uintptr_t)(DISK_REQ - 1));
	madvise(d.buf, DISK_QD * DISK_REQ, MADV_HUGEPAGE);
	memset(d.buf, PATTERN_BYTE, DISK_QD * DISK_REQ);
	if ((ret = io_uring_queue_init(DISK_QD, &d.ring, 0))) {
		munmap(map, (DISK_QD + 1) * DISK_REQ);
		return vmm_fail(ret, "io_uring_queue_init: %s", strerror(-ret));
	}
	ret = disk_write(&d, size, direct, &ns_w);
	if (!ret)
		ret = disk_read(&d, size, &direct_r, &ns_r);
	*direct = *direct && direct_r;
	unlink(path);
	io_uring_queue_exit(&d.ring);
	munmap(map, (DISK_QD + 1) * DISK_REQ);
	v[SM_DISK_WRITE] = gbps(size, ns_w);
	v[SM_DISK_READ] = gbps(size, ns_r);
	return ret;
}

/* ---- the memory-only image ---- */

/* A THP region of size bytes in a map of its own: prefaulted (the first source) or empty (a load's target). */
static int new_region(uint64_t size, enum thpvm_populate populate, struct thpvm_memmap **map,
		      struct thpvm_region **r)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = size, .backing = THPVM_BACKING_THP,
					   .populate = populate };

	if (thpvm_memmap_create(map))
		return vmm_fail(-ENOMEM, "%s", thpvm_last_error());
	if (thpvm_memmap_add(*map, &cfg, r)) {
		thpvm_memmap_destroy(*map);
		*map = NULL;
		return vmm_fail(-ENOMEM, "%s", thpvm_last_error());
	}
	return 0;
}

static uint8_t *region_hva(struct thpvm_region *r)
{
	struct thpvm_region_info info;

	thpvm_region_get_info(r, &info);
	return info.hva;
}

int snap_mem_setup(struct snap_mem *m, uint64_t size)
{
	uint64_t *hva;
	int ret;

	*m = (struct snap_mem){ .size = size };
	m->extents = malloc(size / THPVM_EXTENT_SIZE);
	if (!m->extents)
		return vmm_fail(-ENOMEM, "out of memory");
	if ((ret = new_region(size, THPVM_POPULATE_PREFAULT, &m->map, &m->region)))
		return ret;
	hva = (uint64_t *)region_hva(m->region);
	memset(hva, PATTERN_BYTE, size);
	for (uint64_t page = 0; page < size / THPVM_PAGE_SIZE; page++)
		hva[page * (THPVM_PAGE_SIZE / sizeof(*hva))] = PATTERN_WORD(page);
	return 0;
}

/* A loaded region holds the pattern: word 0 of each extent's first and last page (a cheap look, not a proof). */
static int check_pattern(struct thpvm_region *r, uint64_t size)
{
	const uint64_t *hva = (const uint64_t *)region_hva(r), words = THPVM_PAGE_SIZE / sizeof(*hva);

	for (uint64_t e = 0; e < size / THPVM_EXTENT_SIZE; e++)
		for (uint64_t k = 0; k < 2; k++) {
			uint64_t page = e * THPVM_EXTENT_PAGES + k * (THPVM_EXTENT_PAGES - 1);

			if (hva[page * words] != PATTERN_WORD(page))
				return vmm_fail(-EIO, "the loaded region differs from the saved one at page %llu",
						(unsigned long long)page);
		}
	return 0;
}

int snap_mem_once(struct snap_mem *m, const char *path, bool warm, double *v)
{
	struct thpvm_image_stats save, load;
	struct thpvm_memmap *map = NULL;
	struct thpvm_region *r;
	struct thpvm_coverage cov;
	uint64_t t0;
	int ret;

	if (thpvm_region_image_save(m->region, path, m->extents, &save))
		return vmm_fail(-EIO, "%s", thpvm_last_error());
	if (save.nr[THPVM_IMAGE_DATA] != save.nr_extents)
		return vmm_fail(-EIO, "%s: %llu of %llu extents saved as data", path,
				(unsigned long long)save.nr[THPVM_IMAGE_DATA], (unsigned long long)save.nr_extents);
	if (warm)
		bench_warm_memory(m->size);
	t0 = util_mono_ns();
	if ((ret = new_region(m->size, THPVM_POPULATE_ON_DEMAND, &map, &r)))
		return ret;
	if (thpvm_region_image_load(r, path, m->extents, &load)) {
		thpvm_memmap_destroy(map);
		return vmm_fail(-EIO, "%s", thpvm_last_error());
	}
	v[SM_MEM_READY] = (double)(util_mono_ns() - t0) / 1e6;
	v[SM_MEM_SAVE] = gbps(save.bytes, save.ns);
	v[SM_MEM_LOAD] = gbps(load.bytes, load.ns);
	m->direct = save.direct && load.direct;
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov) || (ret = check_pattern(r, m->size))) {
		thpvm_memmap_destroy(map);
		return ret ? ret : vmm_fail(-EIO, "%s", thpvm_last_error());
	}
	v[SM_MEM_HUGE] = snap_huge_pct(&cov);
	/* the loaded region is the next save's source: one region of the size between samples, two during one */
	unlink(path);
	thpvm_memmap_destroy(m->map);
	m->map = map;
	m->region = r;
	return 0;
}

void snap_mem_free(struct snap_mem *m)
{
	thpvm_memmap_destroy(m->map);
	free(m->extents);
	*m = (struct snap_mem){ 0 };
}
