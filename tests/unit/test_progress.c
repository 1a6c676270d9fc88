/* SPDX-License-Identifier: MIT */
/*
 * Progress lines (vmm/util/progress.h): on a terminal (a pty here) a line
 * at the end and at most one a second before it; into a pipe, as into a
 * log, nothing at all.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "util/progress.h"

TestSuite(progress, .timeout = 30);

/* What is waiting on fd (non-blocking), "" when nothing. */
static const char *pending(int fd, char *buf, size_t len)
{
	ssize_t n;

	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

Test(progress, a_terminal_gets_a_line_a_second_and_one_at_the_end)
{
	struct progress_lines p;
	int master, slave;
	char buf[1024];

	cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0, "openpty: %m");
	progress_lines_init(&p, slave, "snapshot %s", "/snap/ram.mem");
	cr_assert_eq(progress_lines_report(64 << 20, 1024 << 20, &p), 0);
	cr_assert_str_empty(pending(master, buf, sizeof(buf)), "a line before a second passed: %s", buf);
	sleep_ms(1100);
	cr_assert_eq(progress_lines_report(512 << 20, 1024 << 20, &p), 0);
	cr_assert(strstr(pending(master, buf, sizeof(buf)), "thpvm: snapshot /snap/ram.mem: 512 of 1024 MiB (50%), "),
		  "%s", buf);
	cr_assert(strstr(buf, " MiB/s"), "%s", buf);
	cr_assert_eq(progress_lines_report(1024 << 20, 1024 << 20, &p), 0);
	cr_assert(strstr(pending(master, buf, sizeof(buf)), "1024 of 1024 MiB (100%)"), "the end has its line: %s",
		  buf);
	close(slave);
	close(master);
}

Test(progress, a_pipe_gets_nothing)
{
	struct progress_lines p;
	char buf[256];
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	progress_lines_init(&p, pfd[1], "snapshot %s", "/snap/ram.mem");
	sleep_ms(1100);
	cr_assert_eq(progress_lines_report(512 << 20, 1024 << 20, &p), 0);
	cr_assert_eq(progress_lines_report(1024 << 20, 1024 << 20, &p), 0);
	cr_assert_str_empty(pending(pfd[0], buf, sizeof(buf)), "%s", buf);
	close(pfd[0]);
	close(pfd[1]);
}

struct seen {
	unsigned n;
	uint64_t done, total;
	char what[64];
};

static void on_event(const char *what, uint64_t done, uint64_t total, uint64_t elapsed_ns, void *arg)
{
	struct seen *s = arg;

	cr_assert_gt(elapsed_ns, 0);
	snprintf(s->what, sizeof(s->what), "%s", what);
	s->done = done;
	s->total = total;
	s->n++;
}

Test(progress, events_come_at_the_lines_pace_terminal_or_not)
{
	struct progress_lines p;
	struct seen s = { 0 };
	char buf[256];
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	progress_lines_init(&p, pfd[1], "snapshot %s", "/snap/ram.mem");
	p.event = on_event;
	p.event_arg = &s;
	cr_assert_eq(progress_lines_report(64 << 20, 1024 << 20, &p), 0);
	cr_assert_eq(s.n, 0, "none before a second passed");
	sleep_ms(1100);
	cr_assert_eq(progress_lines_report(512 << 20, 1024 << 20, &p), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.done, 512 << 20);
	cr_assert_str_eq(s.what, "snapshot /snap/ram.mem");
	cr_assert_eq(progress_lines_report(1024 << 20, 1024 << 20, &p), 0);
	cr_assert_eq(s.n, 2, "the end has its event");
	cr_assert_eq(s.done, s.total);
	cr_assert_str_empty(pending(pfd[0], buf, sizeof(buf)), "still no line into a pipe: %s", buf);
	close(pfd[0]);
	close(pfd[1]);
}

Test(progress, a_clients_line_is_the_vmms_line_on_a_terminal_only)
{
	int master, slave, pfd[2];
	char buf[256];

	cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0, "openpty: %m");
	progress_lines_print(slave, "snapshot /snap/ram.mem", 256 << 20, 1024 << 20, 500000000ULL);
	cr_assert(strstr(pending(master, buf, sizeof(buf)), "thpvm: snapshot /snap/ram.mem: 256 of 1024 MiB (25%), 512 MiB/s"),
		  "%s", buf);
	cr_assert_eq(pipe(pfd), 0);
	progress_lines_print(pfd[1], "snapshot /snap/ram.mem", 256 << 20, 1024 << 20, 500000000ULL);
	cr_assert_str_empty(pending(pfd[0], buf, sizeof(buf)), "%s", buf);
	close(pfd[0]);
	close(pfd[1]);
	close(slave);
	close(master);
}
