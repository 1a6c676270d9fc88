/* SPDX-License-Identifier: MIT */
/*
 * A disk as a chain of copy-on-write layers (suite disk_chain): real image
 * files, real nameless layers, a real fork. Reads take each cluster from
 * the topmost layer that has it; writes touch the top alone, copying up a
 * partly written cluster; the image never changes once a layer is pushed;
 * a forked child with a top of its own and its parent never see each
 * other's writes, and both see what was written before the fork.
 */
#define _GNU_SOURCE /* fallocate */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dev/disk_chain.h"
#include "util/error.h"

#define DISK_BYTES ((1u << 20) + 512) /* a last cluster of one sector: the copy-up stops at the end */

static char path[256];
static int image_fd = -1;
static uint8_t image[DISK_BYTES];

static void setup(void)
{
	snprintf(path, sizeof(path), "%s/thpvm-chain-%d.img", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", getpid());
	for (unsigned i = 0; i < DISK_BYTES; i++)
		image[i] = (uint8_t)(i * 31 + i / 4096);
	cr_assert_geq(image_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
	cr_assert_eq(pwrite(image_fd, image, DISK_BYTES, 0), DISK_BYTES);
}

static void teardown(void)
{
	close(image_fd);
	unlink(path);
}

TestSuite(disk_chain, .init = setup, .fini = teardown);

static int64_t rd(struct disk_chain *c, void *buf, uint64_t len, uint64_t off)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };

	return disk_chain_readv(c, &v, 1, off);
}

/* A write split over two iovecs, as a guest's request may be. */
static int64_t wr(struct disk_chain *c, const void *buf, uint64_t len, uint64_t off)
{
	struct iovec v[2] = { { .iov_base = (void *)buf, .iov_len = len / 2 },
			      { .iov_base = (uint8_t *)buf + len / 2, .iov_len = len - len / 2 } };

	return disk_chain_writev(c, v, 2, off);
}

static void expect_image_unchanged(void)
{
	static uint8_t now[DISK_BYTES];

	cr_assert_eq(pread(image_fd, now, DISK_BYTES, 0), DISK_BYTES);
	cr_expect_eq(memcmp(now, image, DISK_BYTES), 0, "the image is never written under a layer");
}

Test(disk_chain, writes_go_to_the_top_and_reads_merge_the_layers)
{
	static uint8_t want[DISK_BYTES], got[DISK_BYTES];
	struct disk_chain c;
	uint8_t s[512], big[3 * 4096];

	cr_assert_eq(disk_chain_init(&c, image_fd, DISK_BYTES, path), 0, "%s", vmm_last_error());
	cr_expect_not(disk_chain_layered(&c));
	cr_expect_eq(wr(&c, s, 512, 0), -EINVAL, "the image alone is the caller's to write");
	cr_assert_eq(disk_chain_push(&c), 0, "%s", vmm_last_error());
	memcpy(want, image, DISK_BYTES);

	/* a sector inside a cluster the top lacks: copied up, then overwritten */
	memset(s, 0xa1, sizeof(s));
	cr_assert_eq(wr(&c, s, 512, 1024), 512);
	memcpy(want + 1024, s, 512);
	/* three whole clusters, then a second layer over them with a sector across a cluster boundary */
	memset(big, 0xb2, sizeof(big));
	cr_assert_eq(wr(&c, big, sizeof(big), 8 * 4096), (int64_t)sizeof(big));
	memcpy(want + 8 * 4096, big, sizeof(big));
	cr_assert_eq(disk_chain_push(&c), 0);
	memset(s, 0xc3, sizeof(s));
	cr_assert_eq(wr(&c, s, 512, 9 * 4096 - 256), 512);
	memcpy(want + 9 * 4096 - 256, s, 512);
	/* the last cluster, one sector long */
	cr_assert_eq(wr(&c, s, 512, DISK_BYTES - 512), 512);
	memcpy(want + DISK_BYTES - 512, s, 512);

	cr_assert_eq(rd(&c, got, DISK_BYTES, 0), DISK_BYTES);
	cr_expect_eq(memcmp(got, want, DISK_BYTES), 0, "every byte from the right layer");
	cr_assert_eq(rd(&c, got, 512, 9 * 4096 - 512), 512, "a read across layers");
	cr_expect_eq(memcmp(got, want + 9 * 4096 - 512, 512), 0);
	cr_expect_eq(rd(&c, got, 1024, DISK_BYTES - 512), -ERANGE);
	cr_expect_eq(wr(&c, s, 512, DISK_BYTES), -ERANGE);
	cr_expect_eq(disk_chain_flush(&c), 0);
	expect_image_unchanged();
	disk_chain_fini(&c);
}

Test(disk_chain, a_forked_child_and_its_parent_see_only_their_own_writes)
{
	uint8_t before[512], mine[512], theirs[512], got[512];
	struct disk_chain c;
	int status;
	pid_t pid;

	cr_assert_eq(disk_chain_init(&c, image_fd, DISK_BYTES, path), 0);
	cr_assert_eq(disk_chain_push(&c), 0);
	memset(before, 0x11, sizeof(before));
	cr_assert_eq(wr(&c, before, 512, 4096), 512, "written before the fork");
	/* the fork: the parent freezes its top, the child replaces the (empty) new top with its own */
	cr_assert_eq(disk_chain_push(&c), 0);
	memset(mine, 0x22, sizeof(mine));
	memset(theirs, 0x33, sizeof(theirs));
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int ok = !disk_chain_replace_top(&c) && wr(&c, theirs, 512, 0) == 512;

		/* the parent writes meanwhile: give it time, then look */
		usleep(200 * 1000);
		ok = ok && rd(&c, got, 512, 0) == 512 && !memcmp(got, theirs, 512);
		ok = ok && rd(&c, got, 512, 4096) == 512 && !memcmp(got, before, 512);
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(wr(&c, mine, 512, 0), 512);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw its own write and the one before the fork");
	cr_assert_eq(rd(&c, got, 512, 0), 512);
	cr_expect_eq(memcmp(got, mine, 512), 0, "the parent sees its own write, not the child's");
	cr_assert_eq(rd(&c, got, 512, 4096), 512);
	cr_expect_eq(memcmp(got, before, 512), 0, "and what was written before the fork");
	expect_image_unchanged();
	disk_chain_fini(&c);
}

/* A snapshot's copy: the disk as the chain has it, flattened, sparse where nothing was. */
Test(disk_chain, a_flattened_copy_is_the_disk_as_read)
{
	static uint8_t merged[DISK_BYTES], copy[DISK_BYTES];
	char out[300];
	struct disk_chain c;
	struct stat st;
	uint8_t s[4096];
	int fd;

	/* an image with a hole in the middle: the copy keeps it */
	cr_assert_eq(fallocate(image_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 256 << 10, 512 << 10), 0);
	memset(image + (256 << 10), 0, 512 << 10);
	cr_assert_eq(disk_chain_init(&c, image_fd, DISK_BYTES, path), 0);
	cr_assert_eq(disk_chain_push(&c), 0);
	memset(s, 0x5a, sizeof(s));
	cr_assert_eq(wr(&c, s, 4096, 300 << 10), 4096, "into the hole");
	cr_assert_eq(disk_chain_push(&c), 0);
	cr_assert_eq(wr(&c, s, 512, 100), 512, "a sector, copied up");
	cr_assert_eq(rd(&c, merged, DISK_BYTES, 0), DISK_BYTES);

	snprintf(out, sizeof(out), "%s.copy", path);
	unlink(out);
	cr_assert_geq(fd = open(out, O_RDWR | O_CREAT | O_EXCL, 0600), 0);
	cr_assert_eq(disk_chain_copy(&c, fd), 0);
	cr_assert_eq(pread(fd, copy, DISK_BYTES, 0), DISK_BYTES);
	cr_expect_eq(memcmp(copy, merged, DISK_BYTES), 0, "the copy reads as the chain");
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_lt((uint64_t)st.st_blocks * 512, DISK_BYTES - (400 << 10), "the hole stays a hole: %lld bytes allocated",
		     (long long)st.st_blocks * 512);
	close(fd);
	unlink(out);
	expect_image_unchanged();
	disk_chain_fini(&c);
}

Test(disk_chain, a_chain_has_at_most_its_layers)
{
	struct disk_chain c;

	cr_assert_eq(disk_chain_init(&c, image_fd, DISK_BYTES, path), 0);
	cr_expect_eq(disk_chain_replace_top(&c), -EINVAL, "the image is not a layer to replace");
	for (unsigned i = 1; i < DISK_CHAIN_MAX_LAYERS; i++)
		cr_assert_eq(disk_chain_push(&c), 0, "layer %u", i);
	cr_expect_eq(disk_chain_push(&c), -E2BIG);
	cr_expect(strstr(vmm_last_error(), "copy-on-write layers already"), "%s", vmm_last_error());
	disk_chain_fini(&c);
}
