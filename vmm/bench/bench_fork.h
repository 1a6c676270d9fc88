/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench fork, shared by its files: the options, and the templates it
 * forks (`thpvm run` processes driven through their control sockets) with
 * the helpers that read the children's reports.
 */
#ifndef THPVM_BENCH_FORK_H
#define THPVM_BENCH_FORK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

struct opts {
	uint64_t sizes[4];
	unsigned nr_sizes;
	bool thp, k4;
	unsigned reps;
	unsigned children;
	double write_pct;
	unsigned cow_extents;
	unsigned cow_reps;
	uint64_t max_resident;
	bool latency, density, cow;
	const char *json;
};

/*
 * A template: `thpvm run` of forktest on prefaulted RAM, a process of its
 * own (a fork copies every mapping of the process: templates sharing one
 * would each pay for all), driven through its control socket.
 */
struct tmpl {
	struct bench_template vm;   /* label, socket, console, pid */
	uint64_t size_bytes;
	enum thpvm_backing backing;
};

/* The directory of the sockets and consoles, and the TSC frequency (kHz) the guests run at. */
extern char fork_tmpl_dir[64];
extern uint64_t fork_tsc_khz;

/* Starts `thpvm run` of forktest with the payload arguments args ("k=v", NULL-terminated); returns once it waits. */
int fork_tmpl_create(struct tmpl *t, uint64_t size, enum thpvm_backing backing, const char *const *args);
/* Quits (or kills) the template and reaps it. */
void fork_tmpl_destroy(struct tmpl *t);
/* One `fork count=N template=true`: the result, or NULL with vmm_last_error(). */
json_t *fork_tmpl_fork(struct tmpl *t, unsigned count);
pid_t fork_reply_pid(json_t *reply, unsigned i);
const char *fork_reply_console(json_t *reply, unsigned i);
bool fork_console_has(const char *path, const char *needle);

/* bench_fork_mem.c */
int bench_fork_density(const struct opts *o, json_t *out);
int bench_fork_cow(const struct opts *o, json_t *out);

#endif
