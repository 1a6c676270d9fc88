/* SPDX-License-Identifier: MIT */
/*
 * Whether a snapshot's page cache gives 2 MiB mappings (snapshot_dir.h):
 * measured, not guessed. A few extents of the memory files that hold data
 * are mapped MAP_PRIVATE with MADV_HUGEPAGE at a 2 MiB-aligned address,
 * read once (the fault reads the file ahead in 2 MiB folios where the file
 * system can), and smaps says whether the kernel PMD-mapped them. None
 * PMD-mapped: one line says why and what to do, once per process (each
 * clone is a thpvm of its own, started by exec: it says it in its console).
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "snapshot_dir.h"
#include "util/util.h"

#define PROBE_EXTENTS 4
#define EXTENT (2ull << 20)

static bool said;

static bool vma_inside(uint64_t start, uint64_t end, void *arg)
{
	const uint64_t *range = arg;

	return start >= range[0] && end <= range[1];
}

/* 1: the extent at off came PMD-mapped from the page cache, 0: in 4 KiB pages, -errno: not measured. */
static int probe_extent(int fd, off_t off)
{
	uint8_t *base = mmap(NULL, 2 * EXTENT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), *at;
	uint64_t range[2];
	struct thpvm_smaps sm;
	int ret;

	if (base == MAP_FAILED)
		return -errno;
	at = (uint8_t *)(((uintptr_t)base + EXTENT - 1) & ~(uintptr_t)(EXTENT - 1));
	if (mmap(at, EXTENT, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, off) == MAP_FAILED) {
		ret = -errno;
		munmap(base, 2 * EXTENT);
		return ret;
	}
	madvise(at, EXTENT, MADV_HUGEPAGE);
	(void)*(volatile uint8_t *)at;
	range[0] = (uintptr_t)at;
	range[1] = (uintptr_t)at + EXTENT;
	ret = thpvm_smaps_read(0, vma_inside, range, &sm);
	munmap(base, 2 * EXTENT);
	return ret ? ret : sm.file_pmd > 0;
}

static const char *fs_name(long type)
{
	switch (type) {
	case EXT4_SUPER_MAGIC:
		return "ext4";
	case XFS_SUPER_MAGIC:
		return "XFS";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case RAMFS_MAGIC:
		return "ramfs";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlayfs";
	case NFS_SUPER_MAGIC:
		return "NFS";
	default:
		return "this file system";
	}
}

/* Why the page cache gave no PMD mapping, for the file behind fd. */
static void reason(int fd, char *out, size_t len)
{
	struct thpvm_host_thp host;
	struct statfs sf;

	thpvm_host_thp_read(&host);
	if (host.enabled == THPVM_THP_MODE_NEVER)
		snprintf(out, len, "host THP is off: /sys/kernel/mm/transparent_hugepage/enabled is never");
	else if (!fstatfs(fd, &sf) && sf.f_type == TMPFS_MAGIC)
		snprintf(out, len, "the snapshot is on a tmpfs without huge=, whose page cache holds 4 KiB pages");
	else if (!fstatfs(fd, &sf))
		snprintf(out, len, "%s gave its page cache no 2 MiB folios (no large folios in this kernel's %s, "
			 "or the file was cached in small ones before)", fs_name((long)sf.f_type), fs_name((long)sf.f_type));
	else
		snprintf(out, len, "its file system gave the page cache no 2 MiB folios");
}

void snapshot_page_cache_check(const char *dir, const struct snapshot_state *s)
{
	int fds[THPVM_MAX_REGIONS], probed = 0, pmd = 0, why_fd = -1;
	char why[256];

	if (said || vm_snapshot_open_memory(dir, s, fds))
		return;
	for (unsigned i = 0; i < s->nr_regions; i++) {
		struct stat st;
		off_t off = 0;

		if (fstat(fds[i], &st))
			continue;
		while (probed < PROBE_EXTENTS && !pmd && (off = lseek(fds[i], off, SEEK_DATA)) >= 0) {
			int r;

			off &= ~(off_t)(EXTENT - 1);
			if (off + (off_t)EXTENT > st.st_size)
				break;
			if ((r = probe_extent(fds[i], off)) >= 0) {
				probed++;
				pmd += r;
				why_fd = fds[i];
			}
			off += EXTENT;
		}
	}
	if (probed && !pmd) {
		reason(why_fd, why, sizeof(why));
		cli_error("%s: its page cache gives no 2 MiB mappings (%s): the clones share 4 KiB pages and KVM maps "
			  "them with 4 KiB; for 2 MiB put the snapshot on a tmpfs mounted with huge=within_size or on XFS, "
			  "or restore with --memory-mode eager", dir, why);
		said = true;
	}
	for (unsigned i = 0; i < s->nr_regions; i++)
		close(fds[i]);
}
