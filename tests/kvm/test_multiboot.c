/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 kernels (suite multiboot): guests/multiboot/mbtest.elf, a
 * small ELF32 kernel that reports on COM1 what the loader gave it (EAX
 * magic, memory sizes, command line, modules, memory map) and exits
 * through QEMU's isa-debug-exit port 0xf4, run by `thpvm run --kernel`
 * with modules; then every malformed multiboot input refused with one line
 * before anything runs. Ring 0 in 32-bit protected mode: emulated on
 * kvm-pvm, native elsewhere. Skips without /dev/kvm.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "kvm_test.h"
#include "linux_helpers.h"

#define thpvm(...) thpvm_cmd_runl(__VA_ARGS__)
#define MBTEST THPVM_BUILD_DIR "/guests/multiboot/mbtest.elf"

TestSuite(multiboot, .init = linux_run_fixture_init, .fini = linux_run_fixture_fini, .timeout = 120);

static void expect_refused(const struct thpvm_cmd *c, const char *msg)
{
	cr_assert_eq(c->status, 2, "status %d, want 2; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, msg), "stderr lacks '%s': %s", msg, c->err);
	cr_assert(strchr(c->err, '\n') == c->err + strlen(c->err) - 1, "one line: %s", c->err);
	cr_assert_str_empty(c->out, "no guest output: %s", c->out);
}

static void expect_line(const char *out, const char *line)
{
	cr_expect(strstr(out, line), "the guest said '%s': %s", line, out);
}

Test(multiboot, boots_with_its_information_and_exits_through_0xf4)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", MBTEST, "--memory", "64M", "--cmdline", "hello multiboot",
					  NULL);

	cr_assert_eq(c->status, 0, "status %d; stderr: %s; out: %s", c->status, c->err, c->out);
	expect_line(c->out, "mb: hello from a multiboot kernel\n");
	/* 639 KiB below the EBDA, 63 MiB from 1 MiB to the end of RAM */
	expect_line(c->out, "mb: mem_lower=639 mem_upper=64512\n");
	expect_line(c->out, "mb: cmdline=hello multiboot\n");
	cr_expect_null(strstr(c->out, "mb: mods="), "no modules, no module flag: %s", c->out);
	expect_line(c->out, "mb: mmap entries=3 ram_above_1m_kib=64512\n");
	expect_line(c->out, "mb: exit 0\n");
	cr_expect_null(strstr(c->err, "thpvm: run:"), "a debug-exit status is not an error: %s", c->err);
}

Test(multiboot, the_status_written_to_0xf4_is_thpvms_one_byte_or_four)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", MBTEST, "--memory", "64M", "--cmdline", "status=7", NULL);

	cr_expect_eq(c->status, 7, "a 1-byte write: status %d; stderr: %s", c->status, c->err);
	c = thpvm("run", "--kernel", MBTEST, "--memory", "64M", "--cmdline", "wide status=5", NULL);
	cr_expect_eq(c->status, 5, "a 4-byte write: status %d; stderr: %s", c->status, c->err);
}

Test(multiboot, modules_are_page_aligned_with_their_strings)
{
	char first[300], out[64];
	const char *a = linux_test_file("first.mod", "FIRST-MODULE-BYTES", 18);
	const char *b = linux_test_file("second.mod", "second!!", 8);

	snprintf(first, sizeof(first), "%s,first module", a);
	const struct thpvm_cmd *c = thpvm("run", "--kernel", MBTEST, "--memory", "64M", "--module", first, "--module",
					  b, NULL);

	cr_assert_eq(c->status, 0, "status %d; stderr: %s; out: %s", c->status, c->err, c->out);
	expect_line(c->out, "mb: mods=2\n");
	expect_line(c->out, "mb: mod first module size=18 page_offset=0 bytes=FIRST-MO\n");
	snprintf(out, sizeof(out), "mb: mod %s size=8 page_offset=0 bytes=second!!\n", b);
	expect_line(c->out, out); /* no string given: its path */
}

/* A copy of mbtest with its 32-bit words at the header's offsets set to the given ones. */
static const char *mbtest_with_header(const char *name, uint32_t flags, uint32_t checksum_delta, bool keep_magic)
{
	static char buf[16384];
	int fd = open(MBTEST, O_RDONLY);
	ssize_t n;
	uint32_t magic = 0x1BADB002, sum;

	cr_assert_geq(fd, 0, "%s (built by make check)", MBTEST);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_gt(n, 0x100c);
	/* the header is the first thing in the first PT_LOAD: file offset 0x1000 (mbtest.ld) */
	cr_assert_eq(memcmp(buf + 0x1000, &magic, 4), 0, "mbtest's header at 0x1000");
	if (!keep_magic)
		memset(buf + 0x1000, 0, 4);
	sum = (uint32_t)(-(magic + flags)) + checksum_delta;
	memcpy(buf + 0x1004, &flags, 4);
	memcpy(buf + 0x1008, &sum, 4);
	return linux_test_file(name, buf, (size_t)n);
}

Test(multiboot, malformed_multiboot_input_is_refused)
{
	const char *good = mbtest_with_header("good.elf", 3, 0, true);

	cr_assert_eq(thpvm("run", "--kernel", good, "--memory", "64M", NULL)->status, 0, "the copy itself boots");
	expect_refused(thpvm("run", "--kernel", mbtest_with_header("sum.elf", 3, 1, true), NULL),
		       "multiboot header at offset 0x1000: magic + flags + checksum is 0x1, not 0");
	expect_refused(thpvm("run", "--kernel", mbtest_with_header("video.elf", 7, 0, true), NULL),
		       "requires a video mode (multiboot flag 2)");
	expect_refused(thpvm("run", "--kernel", mbtest_with_header("unknown.elf", 3 | 0x100, 0, true), NULL),
		       "requires multiboot features 0x100");
	expect_refused(thpvm("run", "--kernel", mbtest_with_header("none.elf", 3, 0, false), NULL),
		       "no multiboot header in its first 8192 bytes");
	expect_refused(thpvm("run", "--kernel", good, "--initrd", good, NULL), "takes --module, not --initrd");
	expect_refused(thpvm("run", "--kernel", good, "--module", "/nonexistent/mod", NULL), "module '/nonexistent/mod'");
	expect_refused(thpvm("run", "--kernel", good, "--memory", "64M", "--module",
			     linux_test_sparse_file("big.mod", 80ULL << 20), NULL),
		       "does not fit in guest RAM");
	expect_refused(thpvm("run", "--kernel", good, "--module", ",x", NULL), "--module ',x': expected PATH[,STRING]");
}
