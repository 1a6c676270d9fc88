/* SPDX-License-Identifier: MIT */
/* The fork module's per-VM state, shared by its files. */
#ifndef THPVM_FORK_INTERNAL_H
#define THPVM_FORK_INTERNAL_H

#include <pthread.h>
#include "fork.h"
#include "state/snapshot.h"

struct fork_child {
	unsigned index;
	pid_t pid;
	int pidfd;                  /* -1 once reaped */
	char socket[VM_FORK_PATH_MAX];
	char console[VM_FORK_PATH_MAX];
	bool exited;
	int wait_status;
	uint64_t forked_ns, exited_ns;   /* CLOCK_MONOTONIC */
};

/* Reaped children kept for stats beyond the running ones. */
#define FORK_KEEP_EXITED 256

struct fork_state {
	struct vm *vm;
	pthread_mutex_t lock;       /* everything below; never held across a fork() */
	pthread_cond_t cond;        /* a child was reaped */
	struct vm_fork_identity id;
	unsigned next_index;        /* of the next child */
	/* counters */
	uint64_t nr_requests, nr_children_made, nr_exited;
	uint64_t results[VM_FORK_NR_RESULTS];
	char last_error[512];
	bool has_last;
	unsigned last_count;
	struct vm_fork_timing last;
	struct vm_fork_child_timing last_child;     /* the first child of the last fork */
	/* children */
	struct fork_child *children;
	unsigned nr_children, cap_children;
	/* the reaper thread: polls the children's pidfds and an eventfd */
	int wake_fd;
	pthread_t reaper;
	bool reaper_running;
	bool stopping;
};

/* What a child tells its parent through its pipe: it runs (its timings), or why it could not. */
struct ready_msg {
	int32_t err;                        /* 0, or -errno */
	int32_t result;                     /* enum vm_fork_result */
	char message[400];
	struct vm_fork_child_timing timing;
};
_Static_assert(sizeof(struct ready_msg) < 4096, "one atomic pipe write (PIPE_BUF)");

/* One fork request, as both sides see it. */
struct fork_batch {
	struct vm *vm;
	struct fork_state *fs;
	const struct vm_fork_request *req;
	struct vm_fork_reply *rep;
	struct vm_snapshot snap;
	uint64_t cmd_ns, cmd_tsc;
	pid_t parent_pid;
	int (*pipes)[2];
	int *pidfds;
};

/* fork_child.c: a child's whole life up to child_run; returns VM_FORK_IN_CHILD if that returns, exits on failure. */
int fork_child_main(struct fork_batch *b, unsigned nth);

/* The VM's fork state (attached on first use), or NULL with vmm_last_error(). */
struct fork_state *fork_state_get(struct vm *vm);

/* children.c */
/* Adds reaped-by-us children made by one request and starts the reaper if needed. Takes the lock. */
int fork_children_add(struct fork_state *fs, const struct vm_fork_reply *reply, const int *pidfds, uint64_t now_ns);
/* Stops the reaper (parent side), closes the pidfds. */
void fork_children_stop(struct fork_state *fs);
/* In a child process: forgets the parent's children (closes their pidfds), no reaper. */
void fork_children_forget(struct fork_state *fs);
json_t *fork_children_json(struct fork_state *fs);

/* fork_stats.c: the memory this process's guest RAM owns and shares (smaps), extents (libthpvm). */
json_t *fork_memory_json(struct vm *vm);


#endif
