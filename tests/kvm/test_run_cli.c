/* SPDX-License-Identifier: MIT */
/* `thpvm run` and `thpvm stats` as a user calls them: statuses, one-line errors, the report. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"
#include "kvm_test.h"

/* Runs thpvm with the NULL-terminated arguments; captures status, stdout, stderr. */
#define thpvm(...) thpvm_cmd_runl(__VA_ARGS__)

/* An error: the status, and a first stderr line "thpvm: ..." holding msg. */
static void expect_error(const struct thpvm_cmd *c, int status, const char *msg)
{
	cr_assert_eq(c->status, status, "status %d, want %d; stderr: %s", c->status, status, c->err);
	cr_assert(!strncmp(c->err, "thpvm: ", 7), "stderr starts with 'thpvm: ': %s", c->err);
	cr_assert(strstr(c->err, msg), "stderr lacks '%s': %s", msg, c->err);
}

static void expect_one_line(const struct thpvm_cmd *c)
{
	cr_assert(strchr(c->err, '\n') == c->err + strlen(c->err) - 1, "one line: %s", c->err);
}

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/thpvm-test-XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	kvm_test_payload_dir();
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(run_cli, .init = setup, .fini = teardown, .timeout = 60);

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(run_cli, missing_payload_is_refused)
{
	const struct thpvm_cmd *c = thpvm("run", "--payload", "no-such-payload", NULL);

	expect_error(c, 2, "payload 'no-such-payload' not found");
	expect_one_line(c);
	c = thpvm("run", "--payload", "/nonexistent/dir/x.bin", NULL);
	expect_error(c, 2, "No such file or directory");
	c = thpvm("run", "--memory", "64M", NULL);
	expect_error(c, 2, "--payload NAME_OR_PATH is required");
}

Test(run_cli, a_file_that_is_not_a_payload_is_refused)
{
	const char *text = "#!/bin/sh\necho I am not a payload, but I am long enough to hold a header......\n";
	const struct thpvm_cmd *c = thpvm("run", "--payload", write_file("script", text, strlen(text)), NULL);

	expect_error(c, 2, "not a thpvm payload: no THPVMPL magic");
	expect_one_line(c);
	c = thpvm("run", "--payload", write_file("empty", "", 0), NULL);
	expect_error(c, 2, "not a thpvm payload");
}

Test(run_cli, oversized_and_truncated_payloads_are_refused)
{
	size_t big = 5 << 20;
	char *buf = calloc(1, big);
	FILE *f;
	size_t n;
	const struct thpvm_cmd *c;

	c = thpvm("run", "--payload", write_file("big.bin", buf, big), NULL);
	expect_error(c, 2, "too large");
	f = fopen(THPVM_BUILD_DIR "/guests/selftest.bin", "rb");
	cr_assert(f);
	n = fread(buf, 1, big, f);
	fclose(f);
	c = thpvm("run", "--payload", write_file("cut.bin", buf, n - 100), NULL);
	expect_error(c, 2, "payload truncated or padded");
	free(buf);
}

Test(run_cli, memory_sizes_are_checked)
{
	expect_error(thpvm("run", "--payload", "selftest", "--memory", "8M", NULL), 2, "too small");
	expect_error(thpvm("run", "--payload", "selftest", "--memory", "33M", NULL), 2, "multiple of 2 MiB");
	expect_error(thpvm("run", "--payload", "selftest", "--memory", "0", NULL), 2, "multiple of 2 MiB");
	expect_error(thpvm("run", "--payload", "selftest", "--memory", "lots", NULL), 2, "--memory 'lots'");
}

Test(run_cli, unknown_backing_guest_page_and_options_are_refused)
{
	expect_error(thpvm("run", "--payload", "selftest", "--backing", "huge", NULL), 2,
		     "--backing 'huge': expected thp, 4k or hugetlb");
	expect_error(thpvm("run", "--payload", "selftest", "--guest-page", "1g", NULL), 2,
		     "--guest-page '1g': expected 4k or 2m");
	expect_error(thpvm("run", "--payload", "selftest", "--cpus", "0", NULL), 2, "--cpus '0'");
	expect_error(thpvm("run", "--payload", "selftest", "--frobnicate", NULL), 2, "unknown option '--frobnicate'");
}

Test(run_cli, bad_args_are_refused)
{
	expect_error(thpvm("run", "--payload", "selftest", "--arg", "novalue", NULL), 2, "expected KEY=VALUE");
	expect_error(thpvm("run", "--payload", "selftest", "--arg", "Mode=1", NULL), 2, "keys use a-z, 0-9 and _");
	expect_error(thpvm("run", "--payload", "selftest", "--arg", "status=1", "--arg", "status=2", NULL), 2,
		     "--arg status given twice");
	expect_error(thpvm("run", "--payload", "memtest", "--arg", "colour=red", NULL), 2,
		     "payload 'memtest' takes no argument 'colour' (it takes: mode, seed");
}

/* More hugetlb memory than the pool has free (none on most hosts; the lab's L1 has a pool): one line, how to reserve. */
Test(run_cli, hugetlb_beyond_the_pool_says_how_to_get_more)
{
	struct thpvm_host_thp host;
	char mem[32];

	thpvm_host_thp_read(&host);
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(host.hugetlb_2m_free + 32) * 2);
	expect_error(thpvm("run", "--payload", "selftest", "--memory", mem, "--backing", "hugetlb", NULL), 1,
		     "hugetlb pages");
}

Test(run_cli, payload_status_becomes_thpvm_status)
{
	const struct thpvm_cmd *c;

	REQUIRE_KVM();
	c = thpvm("run", "--payload", "selftest", "--memory", "64M", "--arg", "status=5", NULL);
	cr_assert_eq(c->status, 5, "stderr: %s", c->err);
	cr_assert(strstr(c->out, "selftest: hello from a payload guest\n"));
	cr_assert(strstr(c->out, "result answer=42\n"));
	cr_assert_str_eq(c->err, "");
	c = thpvm("run", "--payload", THPVM_BUILD_DIR "/guests/selftest.bin", "--memory", "64M", "--cpus", "2",
		  "--guest-page", "4k", "--backing", "4k", "--prefault", NULL);
	cr_assert_eq(c->status, 0, "stderr: %s", c->err);
	cr_assert(strstr(c->out, "result cpu1 guest_page_size=4096\n"), "%s", c->out);
}

Test(run_cli, guest_errors_print_one_line_then_the_registers)
{
	const struct thpvm_cmd *c;

	REQUIRE_KVM();
	c = thpvm("run", "--payload", "selftest", "--memory", "64M", "--arg", "mode=pf", NULL);
	expect_error(c, 1, "thpvm: vcpu 0: payload exception #PF page fault at rip 0x");
	cr_assert(strstr(c->err, "\nvcpu 0 registers:\n"), "%s", c->err);
	cr_assert(strstr(c->err, "cr2 0x00007f0000000000"), "CR2 names the address: %s", c->err);
	c = thpvm("run", "--payload", "triplefault", "--memory", "64M", NULL);
	expect_error(c, 1, "thpvm: vcpu 0: guest triple fault (KVM_EXIT_SHUTDOWN)");
	cr_assert(strstr(c->err, "efer 0x"), "%s", c->err);
	c = thpvm("run", "--payload", "selftest", "--memory", "64M", "--arg", "mode=spin", "--timeout", "1", NULL);
	expect_error(c, 124, "guest still running after 1.0 s");
}

Test(run_cli, stats_prints_both_views_of_guest_ram)
{
	char json[128];
	const struct thpvm_cmd *c;
	json_t *j;

	REQUIRE_KVM();
	snprintf(json, sizeof(json), "%s/stats.json", tmpdir);
	c = thpvm("stats", "--payload", "memtest", "--memory", "64M", "--arg", "mode=fill", "--json", json, NULL);
	cr_assert_eq(c->status, 0, "%s", c->err);
	cr_assert(strstr(c->out, "host view (libthpvm extents) | KVM view (stage-2 mappings)"), "%s", c->out);
	cr_assert(strstr(c->out, "pages_2m") && strstr(c->out, "pages_4k") && strstr(c->out, "pages_1g"), "%s", c->out);
	cr_assert(strstr(c->out, "KVM statistics of the VM"), "%s", c->out);
	cr_assert(strstr(c->out, "region     backing"), "the host coverage table: %s", c->out);
	j = json_load_file(json, 0, NULL);
	cr_assert(j, "stats JSON written");
	cr_assert(json_is_integer(json_object_get(json_object_get(json_object_get(j, "kvm"), "vm"), "pages_2m")));
	json_decref(j);
	c = thpvm("run", "--payload", "selftest", "--memory", "64M", "--stats", NULL);
	cr_assert_eq(c->status, 0);
	cr_assert(strstr(c->out, "pages_2m"));
}

/*
 * Whether pid is thpvm itself and catches sig yet (its handler is installed:
 * /proc/PID/status SigCgt). Not the libtool wrapper script that execs it
 * from the build tree: bash catches SIGINT too, and dies of it.
 */
static bool catches(pid_t pid, int sig)
{
	char path[64], line[256], exe[512];
	unsigned long long mask = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) <= 0)
		return false;
	exe[n] = '\0';
	if (!strstr(strrchr(exe, '/') ? strrchr(exe, '/') : exe, "thpvm"))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	fclose(f);
	return mask & (1ull << (sig - 1));
}

Test(run_cli, sigint_stops_the_guest_cleanly)
{
	const char *argv[] = { THPVM, "run", "--payload", "selftest", "--memory", "64M", "--cpus", "2",
			       "--arg", "mode=spin", NULL };
	int efd = output_fd_create("err"), st;
	char err[4096];
	pid_t pid;

	REQUIRE_KVM();
	pid = thpvm_spawn(argv, -1, -1, efd);
	/* a signal before thpvm's main (exec, the dynamic loader: slow on a loaded host) is the default action's */
	for (unsigned i = 0; i < 1000 && !catches(pid, SIGINT); i++)
		usleep(10000);
	usleep(200000); /* and the guest running */
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	fd_slurp(efd, err, sizeof(err));
	cr_assert(WIFEXITED(st), "thpvm died of a signal instead of stopping the guest");
	cr_assert_eq(WEXITSTATUS(st), 130, "stderr: %s", err);
	cr_assert(strstr(err, "thpvm: interrupted by a signal"), "%s", err);
}

/* The README's main job, small: coverage per backing, tlbbench both ways, a fork recovered by the thread. */
Test(run_cli, demo_shows_coverage_tlb_and_a_fork_recovered_by_the_collapse_thread, .timeout = 120)
{
	const struct thpvm_cmd *c;
	double to99, huge_pct;
	char to2m[32];
	const char *row;

	REQUIRE_KVM();
	REQUIRE_THP();
	c = thpvm("demo", "--memory", "64M", NULL);
	cr_assert_eq(c->status, 0, "stderr: %s\nstdout: %s", c->err, c->out);
	cr_assert(strstr(c->out, "== thp backing, 64 MiB =="), "%s", c->out);
	cr_assert(strstr(c->out, "HUGE: 100.0% of guest RAM"), "%s", c->out);
	cr_assert(strstr(c->out, "faster on THP"), "%s", c->out);
	cr_assert(strstr(c->out, "== fork + collapse"), "%s", c->out);
	row = strstr(c->out, "\ntlb ");
	cr_assert_not_null(row, "%s", c->out);
	/* +2m (KVM's pages_2m back) is the host's own pace under load: shown, not judged here */
	cr_assert_eq(sscanf(row, " tlb %lf %31s %lf", &to99, to2m, &huge_pct), 3, "%s", row);
	cr_assert_geq(huge_pct, 99.0, "the child's RAM did not come back onto 2 MiB pages: %s", row);
	cr_assert_leq(to99, 5000.0);
	cr_assert(strstr(c->out, "\nkhugepaged "), "%s", c->out);
}
