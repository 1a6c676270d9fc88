/* SPDX-License-Identifier: MIT */
/*
 * Clones (run.h): N processes each running the one driver on the same
 * snapshot, each with its own control socket and console file; with
 * --memory-mode shared they all map the snapshot's memory files, one page
 * cache for all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* In clone i (from 1): its own socket, its output (and a Linux guest's console) in SOCKET.console. */
static void __attribute__((noreturn)) clone_main(const struct run_opts *o, unsigned i)
{
	struct run_opts co = *o;
	char sock[PATH_MAX], console[PATH_MAX + 16];
	sigset_t none;
	int fd;

	/* the parent's forwarding is not the clone's: run_guest() sets its own, then signals may come */
	for (unsigned k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		signal(forwarded[k], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	snprintf(sock, sizeof(sock), "%s.%u", o->ctl_sock, i);
	snprintf(console, sizeof(console), "%s.console", sock);
	fd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
		cli_error("%s: clone %u: console %s: %s", o->guest.cmd, i, console, strerror(errno));
		_exit(1);
	}
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	co.ctl_sock = sock;
	co.clones = 0;
	co.guest.console = NULL;        /* a Linux guest's COM1 on stdio: the console file */
	fflush(NULL);
	_exit(run_guest(&co, NULL, NULL));
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
		pid_t pid = fork();

		if (pid == 0)
			clone_main(o, i);
		if (pid < 0) {
			cli_error("%s: clone %u of %u: fork: %s", o->guest.cmd, i, o->clones, strerror(errno));
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
