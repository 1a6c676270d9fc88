/* SPDX-License-Identifier: MIT */
/*
 * Clones (run.h): N processes each running the one driver on the same
 * snapshot, each with its own control socket and console file; with
 * --memory-mode shared they all map the snapshot's memory files, one page
 * cache for all.
 */
#define _GNU_SOURCE /* close_range, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include "run.h"
#include "run_opts.h"
#include "util/util.h"

static volatile pid_t clone_pids[RUN_MAX_CLONES];
static volatile sig_atomic_t nr_clone_pids;
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };

/* A signal to thpvm is a signal to every clone. */
static void forward(int sig)
{
	for (unsigned i = 0; i < (unsigned)nr_clone_pids; i++)
		if (clone_pids[i] > 0)
			kill(clone_pids[i], sig);
}

/*
 * In a clone: its own socket, its output (and a Linux guest's console) in
 * SOCKET.console, nothing of the process it came from: a clone started from
 * a running VM (the `clone` command) must not hold that VM's KVM, socket or
 * memory files open, or they would outlive it.
 */
static void __attribute__((noreturn)) clone_main(const struct run_opts *o, const char *sock)
{
	struct run_opts co = *o;
	char console[PATH_MAX + 16];
	sigset_t none;
	int fd;

	/* the parent's forwarding is not the clone's: run_guest() sets its own, then signals may come */
	for (unsigned k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		signal(forwarded[k], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	snprintf(console, sizeof(console), "%s.console", sock);
	fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
		cli_error("%s: clone %s: console %s: %s", o->guest.cmd, sock, console, strerror(errno));
		_exit(1);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	close_range(3, ~0U, 0);
	co.ctl_sock = sock;
	co.clones = 0;
	co.guest.console = NULL;        /* a Linux guest's COM1 on stdio: the console file */
	co.stats_json = NULL;           /* the starter's file: N clones would write over each other */
	fflush(NULL);
	_exit(run_guest(&co, NULL, NULL));
}

/*
 * A clone forked from a VM's control thread runs on a copy of that thread's
 * stack, which glibc manages: when the clone forks a child of its own (the
 * `fork` command), glibc in that child takes every other thread's stack
 * back for new threads, this one's too, with the run's state on it. So the
 * clone runs on a stack of its own, which glibc does not know.
 */
#define CLONE_STACK_BYTES (8u << 20)
static const struct run_opts *entry_opts;
static const char *entry_sock;

static void clone_entry(void)
{
	clone_main(entry_opts, entry_sock);
}

static void __attribute__((noreturn)) clone_main_own_stack(const struct run_opts *o, const char *sock)
{
	void *stack = mmap(NULL, CLONE_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	ucontext_t uc;

	if (stack == MAP_FAILED || getcontext(&uc))
		_exit(1);
	entry_opts = o;
	entry_sock = sock;
	uc.uc_stack.ss_sp = stack;
	uc.uc_stack.ss_size = CLONE_STACK_BYTES;
	uc.uc_link = NULL;
	makecontext(&uc, clone_entry, 0);
	setcontext(&uc);
	_exit(1);
}

pid_t run_clone_spawn(const struct run_opts *o, const char *sock, bool detach)
{
	pid_t pid, clone_pid = -1;
	int p[2], st;

	fflush(NULL);
	if (!detach) {
		pid = fork();
		if (pid == 0)
			clone_main(o, sock);
		return pid < 0 ? -errno : pid;
	}
	/* detached: a short-lived middle process forks the clone and tells its pid, so init reaps the clone */
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid == 0) {
		pid_t c = fork();

		if (c == 0)
			clone_main_own_stack(o, sock);
		if (write(p[1], &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(1);
		_exit(c < 0 ? 1 : 0);
	}
	close(p[1]);
	if (pid > 0 && (read(p[0], &clone_pid, sizeof(clone_pid)) != (ssize_t)sizeof(clone_pid) || clone_pid <= 0))
		clone_pid = -EAGAIN;
	close(p[0]);
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return clone_pid;
}

int run_clones(const struct run_opts *o)
{
	struct sigaction sa = { .sa_handler = forward }, old[3];
	sigset_t block, prev;
	int status = 0, st;

	nr_clone_pids = 0;
	/* a signal while the clones start waits until each started one is known, then reaches them all */
	sigemptyset(&block);
	sigemptyset(&sa.sa_mask);
	for (unsigned k = 0; k < 3; k++) {
		sigaddset(&block, forwarded[k]);
		sigaction(forwarded[k], &sa, &old[k]);
	}
	sigprocmask(SIG_BLOCK, &block, &prev);
	fflush(NULL);
	for (unsigned i = 1; i <= o->clones; i++) {
		char sock[PATH_MAX];
		pid_t pid;

		snprintf(sock, sizeof(sock), "%s.%u", o->ctl_sock, i);
		pid = run_clone_spawn(o, sock, false);
		if (pid < 0) {
			cli_error("%s: clone %u of %u: fork: %s", o->guest.cmd, i, o->clones, strerror(-pid));
			forward(SIGTERM);
			status = 1;
			break;
		}
		clone_pids[nr_clone_pids] = pid;
		nr_clone_pids = nr_clone_pids + 1;
		printf("clone %u: pid %d, socket %s.%u, console %s.%u.console\n", i, (int)pid, o->ctl_sock, i,
		       o->ctl_sock, i);
		/* out now: a buffered line would be copied into the next clone and land in its console */
		fflush(stdout);
	}
	sigprocmask(SIG_SETMASK, &prev, NULL);
	for (unsigned done = 0; done < (unsigned)nr_clone_pids;) {
		pid_t pid = wait(&st);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (unsigned i = 0; i < (unsigned)nr_clone_pids; i++) {
			int code;

			if (clone_pids[i] != pid)
				continue;
			clone_pids[i] = 0;
			done++;
			code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			printf("clone %u: pid %d ended with status %d\n", i + 1, (int)pid, code);
			fflush(stdout);
			/* thpvm's status: the first clone's that was not 0 */
			if (code && !status)
				status = code;
		}
	}
	for (unsigned k = 0; k < 3; k++)
		sigaction(forwarded[k], &old[k], NULL);
	return status;
}
