/* SPDX-License-Identifier: MIT */
/*
 * A region's image on disk (thpvm/image.h): what goes into the file and what
 * stays a hole, the round trip into fresh guest RAM on 2 MiB pages, the
 * buffered fallback where O_DIRECT is refused, the pread/pwrite fallback
 * where io_uring is (a seccomp filter in a child), the progress callback,
 * and every refusal naming the file. Real files on this host's disk (ext4)
 * and on /dev/shm (tmpfs).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"
#include "require.h"

#define REGION_BYTES (32 * MIB)
#define NR_EXTENTS (REGION_BYTES / THPVM_EXTENT_SIZE)

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/thpvm-image-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %m");
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(image, .init = make_dir, .fini = remove_dir, .timeout = 120);

static struct thpvm_region *new_region(struct thpvm_memmap **map)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = REGION_BYTES };
	struct thpvm_region *r;

	cr_assert_eq(thpvm_memmap_create(map), 0);
	cr_assert_eq(thpvm_memmap_add(*map, &cfg, &r), 0, "%s", thpvm_last_error());
	return r;
}

static uint8_t *hva_of(struct thpvm_memmap *map, uint64_t extent)
{
	return thpvm_memmap_gpa_to_hva(map, extent * THPVM_EXTENT_SIZE, THPVM_EXTENT_SIZE);
}

/* Extents 0-1 full of a pattern, 2 written with zeros, one page of 3 written, the rest never touched. */
static void fill(struct thpvm_memmap *map)
{
	pattern_fill(hva_of(map, 0), 0, 2 * THPVM_EXTENT_PAGES, 1, 7);
	memset(hva_of(map, 2), 0, THPVM_EXTENT_SIZE);
	pattern_fill(hva_of(map, 3) + 5 * THPVM_PAGE_SIZE, 3 * THPVM_EXTENT_PAGES + 5, 1, 1, 7);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static uint32_t present_pages(struct thpvm_region *r, uint64_t extent)
{
	struct thpvm_extent_info e;

	cr_assert_eq(thpvm_region_extent(r, extent, &e), 0);
	return e.nr_present;
}

/* Saves a filled region to path, checks the map, the file's size and what it allocated; returns the map. */
static void save_filled(const char *path, uint8_t *map_out, struct thpvm_image_stats *st)
{
	struct thpvm_memmap *map;
	struct thpvm_region *r = new_region(&map);
	uint64_t data_extents;
	struct stat sb;

	fill(map);
	cr_assert_eq(thpvm_region_image_save(r, path, map_out, NULL, NULL, st), 0, "%s", thpvm_last_error());
	/* extent 3 is partly present at most on a 4 KiB host, wholly on THP: data either way */
	cr_assert_eq(map_out[0], THPVM_IMAGE_DATA);
	cr_assert_eq(map_out[1], THPVM_IMAGE_DATA);
	cr_assert_eq(map_out[2], THPVM_IMAGE_ZERO, "an extent written with zeros is a hole");
	cr_assert_eq(map_out[3], THPVM_IMAGE_DATA);
	for (uint64_t i = 4; i < NR_EXTENTS; i++)
		cr_assert_eq(map_out[i], THPVM_IMAGE_ABSENT, "extent %llu was never touched", (unsigned long long)i);
	data_extents = st->nr[THPVM_IMAGE_DATA];
	cr_assert_eq(data_extents, 3);
	cr_assert_eq(st->nr[THPVM_IMAGE_ZERO], 1);
	cr_assert_eq(st->nr[THPVM_IMAGE_ABSENT], NR_EXTENTS - 4);
	cr_assert_eq(st->bytes, data_extents * THPVM_EXTENT_SIZE, "extent 3 goes out whole");
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq((uint64_t)sb.st_size, REGION_BYTES, "the file is the region's length, holes included");
	cr_assert_leq((uint64_t)sb.st_blocks * 512, data_extents * THPVM_EXTENT_SIZE + 64 * 1024,
		      "only the data extents take disk space: %llu bytes allocated",
		      (unsigned long long)sb.st_blocks * 512);
	/* saving reads no absent page: the saved region allocated nothing more */
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 4; i < NR_EXTENTS; i++)
		cr_assert_eq(present_pages(r, i), 0, "saving touched extent %llu", (unsigned long long)i);
	thpvm_memmap_destroy(map);
}

/* Loads path into a fresh region and checks every byte that was saved, and that holes stayed untouched. */
static void load_and_check(const char *path, const uint8_t *emap, bool want_huge)
{
	struct thpvm_memmap *map;
	struct thpvm_region *r = new_region(&map);
	struct thpvm_image_stats st;
	struct thpvm_extent_info e;

	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, &st), 0, "%s", thpvm_last_error());
	cr_assert_eq(st.bytes, 3 * THPVM_EXTENT_SIZE);
	cr_assert_eq(pattern_check(hva_of(map, 0), 0, 2 * THPVM_EXTENT_PAGES, 1, 7), 0, "extents 0-1 differ");
	cr_assert_eq(pattern_check(hva_of(map, 3) + 5 * THPVM_PAGE_SIZE, 3 * THPVM_EXTENT_PAGES + 5, 1, 1, 7), 0,
		     "the page written in extent 3 differs");
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 0; i < NR_EXTENTS; i++) {
		cr_assert_eq(thpvm_region_extent(r, i, &e), 0);
		if (emap[i] != THPVM_IMAGE_DATA) {
			cr_assert_eq(e.nr_present, 0, "extent %llu (%s) was touched by the load", (unsigned long long)i,
				     thpvm_image_extent_str(emap[i]));
			continue;
		}
		cr_assert_eq(e.nr_present, e.nr_pages, "extent %llu not wholly loaded", (unsigned long long)i);
		if (want_huge)
			cr_assert_eq(e.state, THPVM_EXTENT_HUGE, "extent %llu loaded on 4 KiB pages (%s)",
				     (unsigned long long)i, thpvm_extent_state_str(e.state));
	}
	cr_assert(is_zero(hva_of(map, 3), 5 * THPVM_PAGE_SIZE), "extent 3's unwritten pages came back non-zero");
	thpvm_memmap_destroy(map);
}

/*
 * A region that already holds pages where the image has holes (a machine
 * wrote its own image before the restore) reads zero there afterwards, as
 * the saved one did; the data extents are overwritten.
 */
static void load_over_written(const char *path, const uint8_t *emap)
{
	struct thpvm_memmap *map;
	struct thpvm_region *r = new_region(&map);

	for (uint64_t i = 0; i < NR_EXTENTS; i++)
		memset(hva_of(map, i), 0xa5, THPVM_EXTENT_SIZE);
	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, NULL), 0, "%s", thpvm_last_error());
	cr_assert_eq(pattern_check(hva_of(map, 0), 0, 2 * THPVM_EXTENT_PAGES, 1, 7), 0, "extents 0-1 differ");
	cr_assert(is_zero(hva_of(map, 3), 5 * THPVM_PAGE_SIZE), "extent 3's unwritten pages kept the old bytes");
	for (uint64_t i = 0; i < NR_EXTENTS; i++)
		if (emap[i] != THPVM_IMAGE_DATA)
			cr_assert(is_zero(hva_of(map, i), THPVM_EXTENT_SIZE), "extent %llu (%s) kept the old bytes",
				  (unsigned long long)i, thpvm_image_extent_str(emap[i]));
	thpvm_memmap_destroy(map);
}

Test(image, data_extents_go_out_and_come_back_on_2m_pages_holes_stay_holes)
{
	uint8_t emap[NR_EXTENTS];
	struct thpvm_image_stats st;
	char path[128];

	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	save_filled(path, emap, &st);
	cr_assert(st.direct, "ext4 takes O_DIRECT");
	cr_assert_geq(st.queue_depth, 1);
	cr_assert_eq(st.uring_error, host_io_uring_error(), "io_uring where this process may use it");
	load_and_check(path, emap, host_thp_allowed());
	/* the same image loads again: nothing in it is consumed */
	load_and_check(path, emap, host_thp_allowed());
	load_over_written(path, emap);
}

Test(image, io_settings_are_checked_and_read_back)
{
	struct thpvm_image_io_config c = { .queue_depth = THPVM_IMAGE_MAX_QUEUE_DEPTH + 1 }, got, def;

	thpvm_image_io_config_get(&def);
	cr_assert_geq(def.queue_depth, 1);
	cr_assert_eq(thpvm_image_io_config_set(&c), -EINVAL, "a depth over the bound is refused");
	thpvm_image_io_config_get(&got);
	cr_assert_eq(got.queue_depth, def.queue_depth, "a refused setting changes nothing");
	c = (struct thpvm_image_io_config){ .queue_depth = 0, .register_file = true };
	cr_assert_eq(thpvm_image_io_config_set(&c), 0);
	thpvm_image_io_config_get(&got);
	cr_assert_eq(got.queue_depth, def.queue_depth, "0: the default depth");
	cr_assert(got.register_file);
	cr_assert_eq(thpvm_image_io_config_set(NULL), 0);
	thpvm_image_io_config_get(&got);
	cr_assert(got.queue_depth == def.queue_depth && got.register_file == def.register_file &&
		  got.register_buffers == def.register_buffers, "NULL: the defaults again");
}

/*
 * Registered file and buffers (READ_FIXED/WRITE_FIXED over guest RAM): the
 * same bytes and holes as without (save_filled()'s checks: absent extents
 * are not pinned, so not allocated), the source still on 2 MiB pages after
 * the pins, the pins gone with the call (a fork() then copies nothing: the
 * child sees the parent's bytes, its writes stay its own).
 */
Test(image, registered_file_and_buffers_move_the_same_bytes_and_leave_thp_and_fork_alone)
{
	struct thpvm_image_io_config c = { .queue_depth = 4, .register_file = true, .register_buffers = true };
	bool uring = host_io_uring_error() == 0;
	struct thpvm_image_stats st;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_extent_info e;
	uint8_t emap[NR_EXTENTS];
	char path[128];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	cr_assert_eq(thpvm_image_io_config_set(&c), 0);
	save_filled(path, emap, &st);
	cr_assert_eq(st.queue_depth, uring ? 4u : 1u);
	cr_assert_eq(st.fixed_file, uring, "the file registered where io_uring is");
	cr_assert_eq(st.fixed_buffers, uring, "the data extents registered where io_uring is");
	load_and_check(path, emap, host_thp_allowed());

	r = new_region(&map);
	fill(map);
	cr_assert_eq(thpvm_region_image_save(r, path, emap, NULL, NULL, &st), 0, "%s", thpvm_last_error());
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 0; i < 2 && host_thp_allowed(); i++) {
		cr_assert_eq(thpvm_region_extent(r, i, &e), 0);
		cr_assert_eq(e.state, THPVM_EXTENT_HUGE, "extent %llu split by the save's pins (%s)",
			     (unsigned long long)i, thpvm_extent_state_str(e.state));
	}
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %m");
	if (!pid) {
		uint8_t *p = hva_of(map, 0);

		if (pattern_check(p, 0, 2 * THPVM_EXTENT_PAGES, 1, 7))
			_exit(1);
		memset(p, 0xee, THPVM_PAGE_SIZE);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw other bytes (status %d)", status);
	cr_assert_eq(pattern_check(hva_of(map, 0), 0, 2 * THPVM_EXTENT_PAGES, 1, 7), 0, "the child's write leaked");
	thpvm_memmap_destroy(map);
	cr_assert_eq(thpvm_image_io_config_set(NULL), 0);
}

/* Whether this file system takes O_DIRECT for a file in dirpath (tmpfs does since Linux 6.6, not before). */
static bool takes_o_direct(const char *dirpath)
{
	char probe[128];
	int fd;

	snprintf(probe, sizeof(probe), "%s/thpvm-probe-%d", dirpath, getpid());
	fd = open(probe, O_CREAT | O_WRONLY | O_DIRECT, 0600);
	if (fd < 0) {
		cr_assert_eq(errno, EINVAL, "probe %s: %m", probe);
		fd = open(probe, O_CREAT | O_WRONLY, 0600);
		cr_assert_geq(fd, 0, "probe %s: %m", probe);
		close(fd);
		unlink(probe);
		return false;
	}
	close(fd);
	unlink(probe);
	return true;
}

/* tmpfs: O_DIRECT where this kernel's tmpfs takes it, buffered where it refuses it, and the stats say which. */
Test(image, on_tmpfs_the_image_uses_o_direct_only_where_the_kernel_takes_it)
{
	uint8_t emap[NR_EXTENTS];
	struct thpvm_image_stats st;
	bool direct = takes_o_direct("/dev/shm");
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/thpvm-image-%d.mem", getpid());
	save_filled(path, emap, &st);
	cr_assert_eq(st.direct, direct, "O_DIRECT %s by this tmpfs, the save says %s", direct ? "taken" : "refused",
		     st.direct ? "direct" : "buffered");
	load_and_check(path, emap, host_thp_allowed());
	unlink(path);
}

/* Each refusal names the file and the problem, and touches no guest memory. */
Test(image, bad_files_and_maps_are_refused_naming_the_file)
{
	uint8_t emap[NR_EXTENTS];
	struct thpvm_image_stats st;
	struct thpvm_memmap *map;
	struct thpvm_region *r = new_region(&map);
	char path[128], msg[512];

	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	save_filled(path, emap, &st);

	/* one byte short: the size names both */
	cr_assert_eq(truncate(path, REGION_BYTES - 1), 0);
	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, NULL), -EINVAL);
	snprintf(msg, sizeof(msg), "%s: the memory file's size is not the region's: %llu bytes, region 'ram' has %llu",
		 path, (unsigned long long)REGION_BYTES - 1, (unsigned long long)REGION_BYTES);
	cr_assert_str_eq(thpvm_last_error(), msg);

	/* a map byte no writer makes */
	cr_assert_eq(truncate(path, REGION_BYTES), 0);
	emap[5] = 7;
	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, NULL), -EINVAL);
	cr_assert(strstr(thpvm_last_error(), "unknown extent state: extent 5 has state 7"), "%s", thpvm_last_error());
	emap[5] = THPVM_IMAGE_ABSENT;

	/* not there, not a file */
	snprintf(path, sizeof(path), "%s/missing.mem", dir);
	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, NULL), -EIO);
	cr_assert(strstr(thpvm_last_error(), "missing.mem: cannot open the memory file: No such file"), "%s",
		  thpvm_last_error());
	cr_assert_eq(thpvm_region_image_load(r, dir, emap, NULL, NULL, NULL), -EINVAL);
	cr_assert(strstr(thpvm_last_error(), "is not a regular file"), "%s", thpvm_last_error());
	snprintf(path, sizeof(path), "%s/no-such-dir/ram.mem", dir);
	cr_assert_eq(thpvm_region_image_save(r, path, emap, NULL, NULL, NULL), -EIO);
	cr_assert(strstr(thpvm_last_error(), "no-such-dir/ram.mem: cannot open"), "%s", thpvm_last_error());

	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 0; i < NR_EXTENTS; i++)
		cr_assert_eq(present_pages(r, i), 0, "a refused load touched extent %llu", (unsigned long long)i);
	thpvm_memmap_destroy(map);
}

/*
 * A region mapped from a file (a snapshot restored shared): pages the guest
 * never touched still hold the file's bytes, so a save keeps them (data),
 * and the file's holes are zero extents, never absent ones.
 */
Test(image, a_region_mapped_from_a_file_saves_what_its_untouched_pages_hold)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = REGION_BYTES, .backing = THPVM_BACKING_FILE };
	uint8_t emap[NR_EXTENTS], *page = aligned_alloc(4096, 4096);
	struct thpvm_image_stats st;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	char src[128], path[128];

	snprintf(src, sizeof(src), "%s/src.mem", dir);
	snprintf(path, sizeof(path), "%s/saved.mem", dir);
	cfg.fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(cfg.fd, 0, "%m");
	cr_assert_eq(ftruncate(cfg.fd, REGION_BYTES), 0);
	/* one page of a pattern in extent 6; the rest of the file a hole */
	pattern_fill(page, 6 * THPVM_EXTENT_PAGES + 3, 1, 2, 9);
	cr_assert_eq(pwrite(cfg.fd, page, 4096, (off_t)(6 * THPVM_EXTENT_SIZE + 3 * 4096)), 4096);
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0, "%s", thpvm_last_error());
	close(cfg.fd);
	cr_assert_eq(thpvm_region_image_save(r, path, emap, NULL, NULL, &st), 0, "%s", thpvm_last_error());
	for (uint64_t i = 0; i < NR_EXTENTS; i++)
		cr_assert_eq(emap[i], i == 6 ? THPVM_IMAGE_DATA : THPVM_IMAGE_ZERO, "extent %llu is %s",
			     (unsigned long long)i, thpvm_image_extent_str(emap[i]));
	thpvm_memmap_destroy(map);

	/* and the saved image loads back into anonymous memory with the page where it was */
	cfg = (struct thpvm_region_config){ .name = "ram", .size_bytes = REGION_BYTES };
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0);
	cr_assert_eq(thpvm_region_image_load(r, path, emap, NULL, NULL, NULL), 0, "%s", thpvm_last_error());
	cr_assert_eq(pattern_check(hva_of(map, 6) + 3 * 4096, 6 * THPVM_EXTENT_PAGES + 3, 1, 2, 9), 0);
	cr_assert(is_zero(hva_of(map, 6), 3 * 4096));
	thpvm_memmap_destroy(map);
	free(page);
}

/* What the child refused io_uring hands back (a shared page): the save's map and both calls' stats. */
struct plain_io {
	char path[128];
	uint8_t emap[NR_EXTENTS];
	struct thpvm_image_stats save, load;
};

/*
 * In a child whose io_uring_setup fails with EPERM, as under a container
 * runtime's seccomp policy or kernel.io_uring_disabled: a filled region
 * saved, then loaded into a fresh one, which must hold the same bytes with
 * its holes untouched. No Criterion assertion here: it would report from
 * the wrong process.
 */
static int plain_round_trip(void *arg, int reason_fd)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = REGION_BYTES };
	struct thpvm_memmap *src_map, *dst_map;
	struct thpvm_region *src, *dst;
	struct plain_io *p = arg;
	int ret;

	if ((ret = syscall_deny(__NR_io_uring_setup, EPERM)))
		return child_fail(reason_fd, 1, "seccomp: %s", strerror(-ret));
	if (thpvm_memmap_create(&src_map) || thpvm_memmap_add(src_map, &cfg, &src) || thpvm_memmap_create(&dst_map) ||
	    thpvm_memmap_add(dst_map, &cfg, &dst))
		return child_fail(reason_fd, 1, "regions: %s", thpvm_last_error());
	fill(src_map);
	if (thpvm_region_image_save(src, p->path, p->emap, NULL, NULL, &p->save))
		return child_fail(reason_fd, 1, "save: %s", thpvm_last_error());
	if (thpvm_region_image_load(dst, p->path, p->emap, NULL, NULL, &p->load))
		return child_fail(reason_fd, 1, "load: %s", thpvm_last_error());
	if (thpvm_region_refresh(dst))
		return child_fail(reason_fd, 1, "refresh: %s", thpvm_last_error());
	for (uint64_t i = 0; i < NR_EXTENTS; i++) {
		struct thpvm_extent_info e;

		thpvm_region_extent(dst, i, &e);
		if (p->emap[i] != THPVM_IMAGE_DATA && e.nr_present)
			return child_fail(reason_fd, 1, "extent %llu (%s) was touched by the load", (unsigned long long)i,
					  thpvm_image_extent_str(p->emap[i]));
	}
	if (memcmp(thpvm_memmap_gpa_to_hva(src_map, 0, REGION_BYTES), thpvm_memmap_gpa_to_hva(dst_map, 0, REGION_BYTES),
		   REGION_BYTES))
		return child_fail(reason_fd, 1, "the loaded region differs from the saved one");
	return 0;
}

Test(image, without_io_uring_the_image_goes_through_pread_and_pwrite_and_says_why)
{
	struct plain_io *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const struct thpvm_image_stats *calls[] = { &p->save, &p->load };
	char reason[512];
	struct stat sb;

	cr_assert_neq(p, MAP_FAILED, "%m");
	snprintf(p->path, sizeof(p->path), "%s/ram.mem", dir);
	cr_assert_eq(run_in_child(plain_round_trip, p, reason, sizeof(reason)), 0, "%s", reason);
	for (unsigned k = 0; k < 2; k++) {
		cr_assert_eq(calls[k]->uring_error, EPERM, "the %s does not say io_uring_setup was refused",
			     k ? "load" : "save");
		cr_assert_eq(calls[k]->queue_depth, 1, "pread/pwrite: one request at a time");
		cr_assert(calls[k]->direct, "ext4 takes O_DIRECT, with or without io_uring");
		cr_assert_eq(calls[k]->bytes, 3 * THPVM_EXTENT_SIZE);
	}
	cr_assert_eq(p->save.nr[THPVM_IMAGE_DATA], 3);
	cr_assert_eq(p->save.nr[THPVM_IMAGE_ZERO], 1);
	cr_assert_eq(stat(p->path, &sb), 0);
	cr_assert_leq((uint64_t)sb.st_blocks * 512, 3 * THPVM_EXTENT_SIZE + 64 * 1024, "the holes were written");
	/* the file is what any save writes: it loads here (with io_uring where allowed) as saved */
	load_and_check(p->path, p->emap, host_thp_allowed());
	munmap(p, sizeof(*p));
}

#define MAX_CALLS 64

/* Every progress call of one save or load; cancel_at: the call that cancels (1 = the first; 0 = none). */
struct progress_log {
	uint64_t done[MAX_CALLS];
	uint64_t total;
	unsigned n, cancel_at;
	bool total_changed;
};

static int log_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_log *l = arg;

	l->total_changed |= l->n && total != l->total;
	l->total = total;
	if (l->n < MAX_CALLS)
		l->done[l->n] = done;
	l->n++;
	return l->cancel_at && l->n >= l->cancel_at;
}

static void check_progress(const struct progress_log *l, const char *what)
{
	cr_assert_gt(l->n, 0, "%s: progress never called", what);
	cr_assert_leq(l->n, MAX_CALLS, "%s: %u calls for 3 extents", what, l->n);
	cr_assert_not(l->total_changed, "%s: the total changed between calls", what);
	cr_assert_eq(l->total, 3 * THPVM_EXTENT_SIZE, "%s: the total is the data extents' bytes", what);
	cr_assert_gt(l->done[0], 0, "%s", what);
	for (unsigned i = 1; i < l->n; i++)
		cr_assert_geq(l->done[i], l->done[i - 1], "%s: call %u went back from %llu to %llu", what, i,
			      (unsigned long long)l->done[i - 1], (unsigned long long)l->done[i]);
	cr_assert_eq(l->done[l->n - 1], l->total, "%s: the last call is at %llu of %llu", what,
		     (unsigned long long)l->done[l->n - 1], (unsigned long long)l->total);
}

/* As a prefault's: called as the data moves, never decreasing, ending at the total; a non-zero return cancels. */
Test(image, progress_counts_up_to_the_data_bytes_and_a_non_zero_return_cancels)
{
	struct progress_log save = { 0 }, load = { 0 }, cancel = { .cancel_at = 1 };
	struct thpvm_memmap *src_map, *dst_map;
	struct thpvm_region *src = new_region(&src_map), *dst = new_region(&dst_map);
	uint8_t emap[NR_EXTENTS];
	char path[128];

	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	fill(src_map);
	cr_assert_eq(thpvm_region_image_save(src, path, emap, log_progress, &save, NULL), 0, "%s", thpvm_last_error());
	check_progress(&save, "save");
	cr_assert_eq(thpvm_region_image_load(dst, path, emap, log_progress, &load, NULL), 0, "%s", thpvm_last_error());
	check_progress(&load, "load");

	cr_assert_eq(thpvm_region_image_load(dst, path, emap, log_progress, &cancel, NULL), -ECANCELED);
	cr_assert(strstr(thpvm_last_error(), "ram.mem: cancelled by the progress callback: at "), "%s",
		  thpvm_last_error());
	cr_assert_eq(cancel.n, 1, "called again after it cancelled");
	cancel.n = 0;
	snprintf(path, sizeof(path), "%s/cancelled.mem", dir);
	cr_assert_eq(thpvm_region_image_save(src, path, emap, log_progress, &cancel, NULL), -ECANCELED);
	cr_assert(strstr(thpvm_last_error(), "cancelled.mem: cancelled by the progress callback"), "%s",
		  thpvm_last_error());
	cr_assert_eq(cancel.n, 1, "called again after it cancelled");
	thpvm_memmap_destroy(src_map);
	thpvm_memmap_destroy(dst_map);
}

/*
 * The process's own threads now: /proc/self/task but io_uring's workers
 * ("iou-wrk-PID", the kernel's, which outlive a ring for a while). A load's
 * fault-in thread is gone when the load returns.
 */
static unsigned nr_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	unsigned n = 0;

	cr_assert(d);
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		/* a worker gone since readdir() */
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		n += strncmp(comm, "iou-", 4) != 0;
	}
	closedir(d);
	return n;
}

#define AHEAD_BYTES (256 * MIB)

static struct thpvm_region *new_big_region(struct thpvm_memmap **map)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = AHEAD_BYTES };
	struct thpvm_region *r;

	cr_assert_eq(thpvm_memmap_create(map), 0);
	cr_assert_eq(thpvm_memmap_add(*map, &cfg, &r), 0, "%s", thpvm_last_error());
	return r;
}

/*
 * A load faults its data extents in on a thread of its own, ahead of the
 * reads (src/image.c, struct ahead): over 128 extents every byte still
 * comes back where it was, on 2 MiB pages, and the thread is gone when the
 * load returns, also when the load is cancelled at its first read (then
 * the thread, free to run to the region's end, must have been stopped).
 */
Test(image, a_load_faults_in_ahead_on_a_thread_that_is_gone_when_it_returns_even_cancelled)
{
	struct progress_log cancel = { .cancel_at = 1 };
	struct thpvm_memmap *src_map, *dst_map;
	struct thpvm_region *src = new_big_region(&src_map), *dst;
	uint8_t emap[AHEAD_BYTES / THPVM_EXTENT_SIZE];
	struct thpvm_image_stats st;
	unsigned threads = nr_threads();
	char path[128];

	snprintf(path, sizeof(path), "%s/big.mem", dir);
	for (uint64_t e = 0; e < AHEAD_BYTES / THPVM_EXTENT_SIZE; e++)
		pattern_fill(hva_of(src_map, e), e * THPVM_EXTENT_PAGES, THPVM_EXTENT_PAGES, 1, 11);
	cr_assert_eq(thpvm_region_image_save(src, path, emap, NULL, NULL, &st), 0, "%s", thpvm_last_error());
	cr_assert_eq(st.nr[THPVM_IMAGE_DATA], AHEAD_BYTES / THPVM_EXTENT_SIZE);

	dst = new_big_region(&dst_map);
	cr_assert_eq(thpvm_region_image_load(dst, path, emap, NULL, NULL, &st), 0, "%s", thpvm_last_error());
	cr_assert_eq(nr_threads(), threads, "a load left a thread running");
	cr_assert_eq(memcmp(hva_of(src_map, 0), hva_of(dst_map, 0), AHEAD_BYTES), 0, "the loaded bytes differ");
	cr_assert_eq(thpvm_region_refresh(dst), 0);
	for (uint64_t i = 0; i < AHEAD_BYTES / THPVM_EXTENT_SIZE && host_thp_allowed(); i++) {
		struct thpvm_extent_info e;

		thpvm_region_extent(dst, i, &e);
		cr_assert_eq(e.state, THPVM_EXTENT_HUGE, "extent %llu loaded on 4 KiB pages (%s)", (unsigned long long)i,
			     thpvm_extent_state_str(e.state));
	}
	thpvm_memmap_destroy(dst_map);

	dst = new_big_region(&dst_map);
	cr_assert_eq(thpvm_region_image_load(dst, path, emap, log_progress, &cancel, NULL), -ECANCELED);
	cr_assert_eq(nr_threads(), threads, "a cancelled load left a thread running");
	thpvm_memmap_destroy(dst_map);
	thpvm_memmap_destroy(src_map);
}
