/* SPDX-License-Identifier: MIT */
/* The payload cores as static Linux programs (guests/linux-user): same arguments, same results. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "helpers.h"

#define DIR THPVM_BUILD_DIR "/guests/linux-user/"

struct proc {
	int status;
	char out[16384];
};

static struct proc *run(const char *prog, ...)
{
	static struct proc p;
	const char *argv[32] = { prog };
	int n = 1, fd = output_fd_create("out"), st;
	va_list ap;
	ssize_t len;
	pid_t pid;

	cr_assert_geq(fd, 0, "output_fd_create: %s", strerror(-fd));
	va_start(ap, prog);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	fflush(NULL);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		dup2(fd, 1);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	p.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	len = pread(fd, p.out, sizeof(p.out) - 1, 0);
	p.out[len > 0 ? len : 0] = '\0';
	close(fd);
	return &p;
}

/* How often needle occurs in haystack. */
static int count(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *at = strstr(haystack, needle); at; at = strstr(at + 1, needle))
		n++;
	return n;
}

TestSuite(linux_user, .timeout = 60);

Test(linux_user, selftest_prints_reports_and_exits_like_in_a_vm)
{
	struct proc *p = run(DIR "selftest", "status=4", "value=64M", NULL);

	cr_assert_eq(p->status, 4);
	cr_assert(strstr(p->out, "selftest: hello from a payload guest\n"), "%s", p->out);
	cr_assert(strstr(p->out, "result answer=42\n"));
	cr_assert(strstr(p->out, "result value=67108864\n"));
	cr_assert(strstr(p->out, "=18446744073709551615\n"), "u64 max formatted: %s", p->out);
}

Test(linux_user, memtest_on_threads)
{
	struct proc *p = run(DIR "memtest", "mem=16M", "cpus=3", "mode=seq", "iterations=3", NULL);

	cr_assert_eq(p->status, 0, "%s", p->out);
	cr_assert(strstr(p->out, "result pages_written=12288\n"), "3 passes over 16 MiB: %s", p->out);
	cr_assert(strstr(p->out, "result pages_checked=8192\n"), "%s", p->out);
	cr_assert(strstr(p->out, "result pages_bad=0\n"));
	cr_assert_eq(count(p->out, "result passes=3\n"), 3, "every thread reports its passes: %s", p->out);
}

Test(linux_user, tlbbench_runs)
{
	struct proc *p = run(DIR "tlbbench", "mem=8M", "size=4M", "laps=1", NULL);

	cr_assert_eq(p->status, 0, "%s", p->out);
	cr_assert(strstr(p->out, "result elements=1024\n"), "%s", p->out);
	cr_assert(strstr(p->out, "result chase_accesses=1024\n"), "%s", p->out);
}

Test(linux_user, bad_arguments_are_refused)
{
	cr_assert_eq(run(DIR "memtest", "colour=red", NULL)->status, 2);
	cr_assert_eq(run(DIR "memtest", "seed=1", "seed=2", NULL)->status, 2);
	cr_assert_eq(run(DIR "memtest", "mem=lots", NULL)->status, 2);
	cr_assert_eq(run(DIR "memtest", "cpus=0", NULL)->status, 2);
	cr_assert_eq(run(DIR "memtest", "Seed=1", NULL)->status, 2);
	cr_assert(strstr(run(DIR "memtest", "noequals", NULL)->out, "payload: bad argument 'noequals'"));
	cr_assert_eq(run(DIR "memtest", "mem=4M", "mode=nope", NULL)->status, 2);
}

/* blkbench (thpvm bench blk's measuring side) on a file: one line, every figure > 0, its writes on the file */
Test(linux_user, blkbench_measures_a_file_and_writes_it)
{
	char path[] = "/var/tmp/thpvm-blkbench-test-XXXXXX", *line;
	static unsigned char data[4 << 20], back[4 << 20];
	double iops_r, iops_w, mib_r, mib_w;
	int fd = mkstemp(path), direct, n;
	struct proc *p;

	cr_assert_geq(fd, 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 1);
	cr_assert_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	p = run(DIR "blkbench", path, "secs=1", "qd=2", NULL);
	cr_assert_eq(p->status, 0, "%s", p->out);
	line = strstr(p->out, "blkbench-result ");
	cr_assert_not_null(line, "%s", p->out);
	n = sscanf(line,
		   "blkbench-result direct=%d size=4194304 secs=1 qd=2 randread_iops=%lf randwrite_iops=%lf "
		   "seqread_mibs=%lf seqwrite_mibs=%lf\n",
		   &direct, &iops_r, &iops_w, &mib_r, &mib_w);
	cr_assert_eq(n, 5, "one line with every figure: %s", p->out);
	cr_assert(direct == 0 || direct == 1);
	cr_assert(iops_r > 0 && iops_w > 0 && mib_r > 0 && mib_w > 0, "%s", p->out);
	/* its writes reached the file (random data over the pattern), which kept its size */
	cr_assert_eq(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	cr_assert_neq(memcmp(data, back, sizeof(data)), 0, "blkbench wrote nothing");
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)sizeof(data));
	close(fd);
	cr_assert_eq(run(DIR "blkbench", path, "secs=0", NULL)->status, 2);
	cr_assert_eq(run(DIR "blkbench", path, "qd=65", NULL)->status, 2);
	cr_assert_eq(run(DIR "blkbench", path, "colour=red", NULL)->status, 2);
	unlink(path);
	cr_assert_eq(run(DIR "blkbench", path, NULL)->status, 1, "a missing file");
}
