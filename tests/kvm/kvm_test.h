/* SPDX-License-Identifier: MIT */
/* Helpers for tests that run real payload guests on /dev/kvm. */
#ifndef THPVM_KVM_TEST_H
#define THPVM_KVM_TEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <thpvm.h>
#include "require.h"
#include "machine/guest_ram.h"
#include "kvm/vm.h"
#include "machine/payload.h"


/* The thpvm program of this build tree (a libtool wrapper or the ELF). */
#define THPVM THPVM_BUILD_DIR "/vmm/thpvm"

/* What a thpvm process left: its status (128 + signal when killed) and its output. */
struct thpvm_cmd {
	int status;
	double secs;                /* how long it ran */
	char out[65536];
	char err[65536];
};
/*
 * Runs THPVM with args (NULL-terminated, argv[0] excluded) to its end, with
 * in (in_len bytes; NULL: /dev/null) on its stdin, and returns what it
 * left, in a static buffer the next call reuses. The one way the tests run
 * thpvm to its end.
 */
struct thpvm_cmd *thpvm_cmd_run_in(const void *in, size_t in_len, const char *const *args);
static inline struct thpvm_cmd *thpvm_cmd_run(const char *const *args)
{
	return thpvm_cmd_run_in(NULL, 0, args);
}
/* The same with the arguments of ap after first (NULL-terminated; at most 62 in all, first included). */
struct thpvm_cmd *thpvm_cmd_run_va(const void *in, size_t in_len, const char *first, va_list ap);
/* The same with the arguments inline: thpvm_cmd_runl("run", "--payload", "selftest", NULL). */
struct thpvm_cmd *thpvm_cmd_runl_in(const void *in, size_t in_len, const char *first, ...) __attribute__((sentinel));
#define thpvm_cmd_runl(...) thpvm_cmd_runl_in(NULL, 0, __VA_ARGS__)
/*
 * Starts THPVM with argv (argv[0] included, NULL-terminated) in the
 * background, its stdin, stdout and stderr on in_fd, out_fd, err_fd (-1:
 * this process's; SPAWN_DEVNULL: /dev/null), dying with this process.
 * Returns its pid; asserts fork worked. thpvm_cmd_run_in() runs a thpvm
 * this way to its end.
 */
#define SPAWN_DEVNULL (-2)
pid_t thpvm_spawn(const char *const *argv, int in_fd, int out_fd, int err_fd);
/* `thpvm ctl --raw --timeout 30 PATH CMD ARGS...` (NULL-terminated) to its end: what thpvm_cmd_run() returns. */
struct thpvm_cmd *thpvm_ctl(const char *path, const char *cmd, ...) __attribute__((sentinel));
/* The same for a command that must succeed: its result (new reference); fails the test otherwise. */
json_t *thpvm_ctl_ok(const char *path, const char *cmd, ...) __attribute__((sentinel));
/* The value at key path "a.b.c" in o, or NULL; json_num() fails the test where it is no integer. */
json_t *json_at(json_t *o, const char *path);
long long json_num(json_t *o, const char *path);
/*
 * Returns once the VM behind the control socket path has its payload
 * waiting for a fork (stats payload.fork_waiting, forktest or memtest
 * mode=fork), looking every 10 ms, tries times at most; fails the test
 * when thpvm (pid) ends first or the payload never waits.
 */
void ctl_wait_fork_waiting(const char *path, pid_t pid, unsigned tries);

/* Reads an fd's file (a memfd the child wrote) from its start into buf, NUL-terminated, and closes it. */
void fd_slurp(int fd, char *buf, size_t len);

/* Process facts from /proc, for processes thpvm starts itself (clones). */
/* /proc/PID/exe resolved into buf; "" when unreadable. */
const char *proc_exe(pid_t pid, char *buf, size_t len);
/* Whether /proc/PID/cmdline holds arg immediately followed by value. */
bool proc_has_args(pid_t pid, const char *arg, const char *value);
/* pid's state letter ('Z' a zombie), its parent in *ppid; 0 when pid is gone. */
char proc_state(pid_t pid, pid_t *ppid);
/* How many of pid's descriptors read as target in /proc/PID/fd ("/dev/kvm", "anon_inode:kvm-vm"). */
unsigned proc_fds_to(pid_t pid, const char *target);
/*
 * A descriptor of pid a that is the very open file of one of pid b's
 * (kcmp KCMP_FILE: the same open file description, not merely the same
 * path): its number, -1 for none, -2 when kcmp cannot tell (ENOSYS, EPERM).
 */
int proc_shared_fd(pid_t a, pid_t b);

/* Payloads from this build tree, whatever the current directory. */
void kvm_test_payload_dir(void);

/* A payload guest run in-process: memory (owned or borrowed), image, VM, captured output. */
struct guest {
	struct thpvm_memmap *mem;
	bool own_mem;
	struct payload_image image;
	struct payload_args args;
	struct vm *vm;
	struct payload *payload;
	FILE *out;
	char *out_buf;
	size_t out_len;
};

/* RAM of size_bytes with backing, ram-low/ram-high like thpvm run. Asserts. */
struct thpvm_memmap *guest_mem(uint64_t size_bytes, enum thpvm_backing backing);
/*
 * Sets up payload (a name) with args ("k=v" strings, NULL-terminated) on
 * cpus vCPUs over mem (NULL: a fresh 64 MiB THP guest). Asserts.
 */
void guest_setup(struct guest *g, struct thpvm_memmap *mem, const char *payload, unsigned cpus, uint64_t page_size,
		 const char *const *args);
/* Runs to the end (timeout in ms, times the time scale) and returns vm->exit. */
const struct vm_exit_info *guest_run(struct guest *g, unsigned timeout_ms);
/* What the payload printed so far (NUL-terminated). */
const char *guest_output(struct guest *g);
/* The result name from any vCPU; fails the test when missing. */
uint64_t guest_result(struct guest *g, const char *name);
/* Destroys the VM, and the memory when the guest owns it. */
void guest_teardown(struct guest *g);

#endif
