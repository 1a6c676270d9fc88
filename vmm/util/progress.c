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
}

int progress_lines_report(uint64_t done, uint64_t total, void *arg)
{
	struct progress_lines *p = arg;
	uint64_t now = util_mono_ns(), ns = now - p->t0_ns;

	if (p->fd < 0 || (done < total && now - p->last_ns < PROGRESS_INTERVAL_NS))
		return 0;
	p->last_ns = now;
	/* one write per line: a vCPU's console output may share the terminal */
	dprintf(p->fd, "thpvm: %s: %llu of %llu MiB (%u%%), %.0f MiB/s\n", p->what, (unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20), total ? (unsigned)(done * 100 / total) : 100,
		ns ? (double)done / (1 << 20) / ((double)ns / 1e9) : 0.0);
	return 0;
}
