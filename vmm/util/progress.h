/* SPDX-License-Identifier: MIT */
/*
 * Progress lines for a long job, for a person watching a terminal:
 * "thpvm: WHAT: 512 of 1024 MiB (50%), 1650 MiB/s", at most one a second
 * and one at the end. Where the output is not a terminal (a log, a test's
 * capture) nothing is printed, so logs stay as they were.
 */
#ifndef THPVM_VMM_PROGRESS_H
#define THPVM_VMM_PROGRESS_H

#include <stdint.h>

/* Told what a line would say, at the lines' pace, terminal or not (the control socket's progress events). */
typedef void (*progress_event_fn)(const char *what, uint64_t done, uint64_t total, uint64_t elapsed_ns, void *arg);

struct progress_lines {
	int fd;            /* where the lines go; -1: not a terminal, nothing printed */
	char what[256];
	uint64_t t0_ns;
	uint64_t last_ns;  /* the last line's time (t0 before the first) */
	progress_event_fn event; /* may be NULL; set after progress_lines_init() */
	void *event_arg;
};

/* Lines about what (printf-style) go to fd if it is a terminal. */
__attribute__((format(printf, 3, 4))) void progress_lines_init(struct progress_lines *p, int fd, const char *fmt,
							       ...);
/* A thpvm_progress_fn (arg: the progress_lines): prints when a second has passed, or done == total; never cancels. */
int progress_lines_report(uint64_t done, uint64_t total, void *arg);
/* One line as progress_lines_report() prints it, on fd if it is a terminal (a client showing a server's progress). */
void progress_lines_print(int fd, const char *what, uint64_t done, uint64_t total, uint64_t elapsed_ns);

#endif
