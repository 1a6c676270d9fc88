/* SPDX-License-Identifier: MIT */
/*
 * Snapshot-fork (docs/fork.md): a VM is paused, its state captured, and
 * fork() makes child processes that share all guest RAM copy-on-write; each
 * child builds a new KVM VM over that memory, restores the state and runs
 * on. A child's first write to a shared 2 MiB extent copies 4 KiB (the
 * kernel's anonymous THP CoW); the rest of the extent stays shared.
 *
 * Per VM, vm_fork_attach() adds a "fork" entry to the VM's hooks: its
 * identity (index, depth, parent), its children (reaped by a thread, exit
 * statuses kept), counters, the last fork's timings and the memory it
 * owns versus shares, all in vm_stats_json().
 */
#ifndef THPVM_FORK_H
#define THPVM_FORK_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include <thpvm.h>

struct vm;

/* What a fork request can end with: one list, its errno and its text. */
#define VM_FORK_RESULTS(X)                                                                           \
	X(VM_FORK_OK, 0, "ok")                                                                       \
	X(VM_FORK_BAD_REQUEST, EINVAL, "bad fork request")                                           \
	X(VM_FORK_BAD_STATE, EBUSY, "the VM cannot be forked in its current state")                  \
	X(VM_FORK_PREPARE_FAILED, EBUSY, "a subsystem could not prepare for the fork")               \
	X(VM_FORK_CAPTURE_FAILED, EIO, "capturing the VM's state failed")                            \
	X(VM_FORK_NO_PROCESSES, EAGAIN, "no more processes (process limit reached)")                 \
	X(VM_FORK_NO_MEMORY, ENOMEM, "not enough memory or mappings for another process")            \
	X(VM_FORK_NO_DESCRIPTORS, EMFILE, "no more file descriptors")                                 \
	X(VM_FORK_CHILD_NO_RESOURCES, EAGAIN, "a child ran out of resources building its VM")        \
	X(VM_FORK_CHILD_FAILED, EIO, "a child could not build or start its VM")                      \
	X(VM_FORK_CHILD_TIMEOUT, ETIMEDOUT, "a child did not report its VM running in time")

THPVM_RESULT_DECLARE(vm_fork_result, enum vm_fork_result, VM_FORK_RESULTS, VM_FORK_NR_RESULTS);
/* "no_processes" for VM_FORK_NO_PROCESSES: the name in lower case without VM_FORK_. */
const char *vm_fork_result_code(enum vm_fork_result r, char *buf, size_t len);
/* Whether the failure is the host's resources (processes, memory, mappings, descriptors). */
bool vm_fork_result_is_resources(enum vm_fork_result r);

#define VM_FORK_MAX_COUNT 256
#define VM_FORK_PATH_MAX 256

/* Where time went, child side; CLOCK_MONOTONIC, ns after the fork command. */
struct vm_fork_child_timing {
	uint64_t started;           /* fork() returned in the child */
	uint64_t init_ns;           /* child_init (sockets, console) */
	uint64_t destroy_ns;        /* closing the inherited KVM objects */
	uint64_t create_ns;         /* vm_kvm_create (all steps) */
	uint64_t memslots_ns;       /* of which: registering guest memory */
	uint64_t vcpus_ns;          /* of which: creating the vCPUs */
	uint64_t restore_ns;        /* VM, vCPU, TSC and device state */
	uint64_t hooks_ns;          /* fork_child hooks (payload mailbox, collapse thread, ...) */
	uint64_t start_ns;          /* vm_start: vCPU threads created */
	uint64_t open_ns;           /* child_open (the control socket), after the vCPUs were released */
	uint64_t running;           /* vCPU threads released into KVM_RUN */
	uint64_t resume_host_tsc;   /* host TSC right before vm_start */
};

struct vm_fork_child {
	unsigned index;             /* unique among the children of this VM, from 1 */
	pid_t pid;
	char socket[VM_FORK_PATH_MAX];   /* control socket, or "" (set by describe) */
	char console[VM_FORK_PATH_MAX];  /* console file, or "" for the inherited stdout (set by describe) */
	struct vm_fork_child_timing timing;
};

/* Where time went, parent side, in ns. */
struct vm_fork_timing {
	uint64_t prepare_ns;        /* fork_prepare hooks */
	uint64_t pause_ns;          /* vm_pause (0 when already paused) */
	uint64_t capture_ns;        /* all of the state capture */
	uint64_t complete_io_ns, capture_vcpus_ns, capture_vm_ns, capture_devices_ns;
	uint64_t fork_ns;           /* all fork() calls */
	uint64_t fork_max_ns;       /* the slowest one */
	uint64_t resume_ns;         /* vm_resume (0 for a template) */
	uint64_t ready_ns;          /* waiting for the children to report their VMs running */
	uint64_t total_ns;          /* command to reply */
	uint64_t cmd_host_tsc;      /* host TSC at the fork command */
	uint64_t capture_host_tsc;  /* host TSC when the state was captured */
};

/* Who this VM is in its fork family. */
struct vm_fork_identity {
	unsigned index;             /* 0: the original VM; i: child i of its parent */
	unsigned depth;             /* forks between the original and this VM */
	pid_t parent_pid;           /* 0 for the original */
	uint64_t cmd_host_tsc;      /* host TSC of the fork command that made this VM (children) */
	uint64_t resume_host_tsc;   /* host TSC just before this child's vCPUs were released */
	int64_t tsc_offset;         /* guest TSC = host TSC + offset (vCPU 0) */
};

struct vm_fork_ops {
	/*
	 * Parent, before fork(): names child c (its index is set): socket and
	 * console paths. nth counts the children of this request from 0.
	 * Optional. Returns 0 or -errno with vmm_last_error() (bad request).
	 */
	int (*describe)(void *arg, unsigned nth, struct vm_fork_child *c);
	/*
	 * Child, first thing (only this thread exists; the VM's KVM objects
	 * are the parent's and dead): drop what belongs to the parent, open
	 * what is the child's own (control socket, console). Optional.
	 * Returns 0 or -errno with vmm_last_error(): the child reports it and exits.
	 */
	int (*child_init)(void *arg, struct vm *vm, const struct vm_fork_child *c);
	/*
	 * Child, once its vCPUs run and before the parent is told: open what
	 * the parent's reply promises (the control socket), off the path to
	 * the guest's first instruction. Optional; fails like child_init.
	 */
	int (*child_open)(void *arg, struct vm *vm, const struct vm_fork_child *c);
	/*
	 * Child, once its vCPUs run and the parent has been told: carries on as
	 * the child, normally never returning (it waits for the VM and exits).
	 * The calling thread is the child's thread-group leader: if it ended,
	 * /proc/self (smaps, pagemap: the stats) would answer ESRCH. If it
	 * returns, vm_fork() returns VM_FORK_IN_CHILD.
	 */
	void (*child_run)(void *arg, struct vm *vm, const struct vm_fork_child *c);
	void *arg;
};

struct vm_fork_request {
	unsigned count;             /* 1..VM_FORK_MAX_COUNT */
	bool template;              /* stay paused afterwards (else run) */
	uint64_t cmd_host_tsc;      /* when the command arrived (0: now) */
	uint64_t cmd_ns;            /* CLOCK_MONOTONIC then (0: now) */
	unsigned ready_timeout_ms;  /* 0: 30 s */
	const struct vm_fork_ops *ops;
};

struct vm_fork_reply {
	enum vm_fork_result result;
	char message[512];          /* one line when result != OK */
	unsigned nr_children;
	struct vm_fork_child children[VM_FORK_MAX_COUNT];
	struct vm_fork_timing timing;
	bool paused;                /* the VM's state afterwards */
};

/* vm_fork()'s return in a child whose child_run returned. */
#define VM_FORK_IN_CHILD 1

/*
 * Forks vm into req->count children (docs/fork.md): fork_prepare hooks
 * (before the pause: a failure aborts), vm_pause unless paused, capture,
 * fork() each child, fork_parent hooks, resume unless template, wait for
 * every child to report its VM running. All or nothing: if one child cannot
 * be made, those made are killed and reaped, the VM's run state is what it
 * was, and the reply says why. Returns 0 (the parent, reply filled), -errno
 * (reply->result, reply->message), or VM_FORK_IN_CHILD (see child_run).
 * Call from one thread at a time; reply is large, allocate it.
 */
int vm_fork(struct vm *vm, const struct vm_fork_request *req, struct vm_fork_reply *reply);

/* Adds the "fork" hooks to vm (once; vm_fork() does it too). Returns 0 or -errno. */
int vm_fork_attach(struct vm *vm);
/* This VM's identity; NULL when vm_fork_attach() never ran. */
const struct vm_fork_identity *vm_fork_identity(struct vm *vm);

/* A child as the reaper saw it. */
struct vm_fork_child_status {
	unsigned index;
	pid_t pid;
	bool exited;                /* reaped */
	int wait_status;            /* waitpid() status when exited, -1 when someone else reaped it */
};

/* Children of vm known now (running and reaped), at most max; returns how many were copied. */
unsigned vm_fork_children(struct vm *vm, struct vm_fork_child_status *out, unsigned max);
/* Waits until every child of vm has been reaped or timeout_ms passed. Returns 0 or -ETIMEDOUT. */
int vm_fork_wait_children(struct vm *vm, unsigned timeout_ms);
/* Sends sig to every running child of vm. */
void vm_fork_signal_children(struct vm *vm, int sig);

/* Guest RAM memory (mem may be NULL) of process pid (0: this one) from its smaps, plus its whole Pss (smaps_rollup). */
struct vm_fork_memory {
	uint64_t rss_bytes, pss_bytes, private_bytes, shared_bytes, anon_huge_bytes;
	uint64_t process_pss_bytes;
};
int vm_fork_memory(struct thpvm_memmap *mem, pid_t pid, struct vm_fork_memory *out);

/* A fork's timings as JSON (milliseconds), as in the stats and the fork reply. */
json_t *vm_fork_timing_json(const struct vm_fork_timing *t, const struct vm_fork_child_timing *first_child,
			    unsigned count);

/* The "fork" object of the stats: identity, counters, children, last timings, memory. New reference. */
json_t *vm_fork_stats_json(struct vm *vm);

#endif
