/* SPDX-License-Identifier: MIT */
/* Progress lines on a terminal (progress.h). */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "progress.h"
#include "clock.h"

/* Often enough to see it move, rarely enough to read each line. */
#define PROGRESS_INTERVAL_NS 1000000000ULL

void progress_lines_init(struct progress_lines *p, int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
	p->fd = fd >= 0 && isatty(fd) ? fd : -1;
	p->t0_ns = p->last_ns = util_mono_ns();
	p->event = NULL;
	p->event_arg = NULL;
}

static void print_line(int fd, const char *what, uint64_t done, uint64_t total, uint64_t ns)
{
	/* one write per line: a vCPU's console output may share the terminal */
	dprintf(fd, "thpvm: %s: %llu of %llu MiB (%u%%), %.0f MiB/s\n", what, (unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20), total ? (unsigned)(done * 100 / total) : 100,
		ns ? (double)done / (1 << 20) / ((double)ns / 1e9) : 0.0);
}

void progress_lines_print(int fd, const char *what, uint64_t done, uint64_t total, uint64_t elapsed_ns)
{
	if (fd >= 0 && isatty(fd))
		print_line(fd, what, done, total, elapsed_ns);
}

int progress_lines_report(uint64_t done, uint64_t total, void *arg)
{
	struct progress_lines *p = arg;
	uint64_t now = util_mono_ns(), ns = now - p->t0_ns;

	if ((p->fd < 0 && !p->event) || (done < total && now - p->last_ns < PROGRESS_INTERVAL_NS))
		return 0;
	p->last_ns = now;
	if (p->event)
		p->event(p->what, done, total, ns, p->event_arg);
	if (p->fd >= 0)
		print_line(p->fd, p->what, done, total, ns);
	return 0;
}
