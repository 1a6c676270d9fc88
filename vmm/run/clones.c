/* SPDX-License-Identifier: MIT */
/*
 * Clones (run.h): N processes each running `thpvm run --restore` on the
 * same snapshot, each with its own control socket and console file; with
 * --memory-mode shared they all map the snapshot's memory files, one page
 * cache for all. Each is this binary executed afresh (posix_spawn): it
 * inherits no thread, lock, descriptor or mapping of the process that
 * starts it, which may be a running, multi-threaded VM (the `clone`
 * command, clone_ctl.c), and posix_spawn copies none of that VM's guest
 * RAM on the way (its child shares the address space until the exec).
 */
#define _GNU_SOURCE /* O_PATH, environ */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run.h"
#include "run_opts.h"
#include "util/error.h"
#include "util/util.h"

static volatile pid_t clone_pids[RUN_MAX_CLONES];
static volatile sig_atomic_t nr_clone_pids;
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };

/* The thpvm binary this process runs, opened by run_clone_exe_open(); exe_err says why not. */
static int exe_fd = -1;
static int exe_err = -ENOENT;

/* A signal to thpvm is a signal to every clone. */
static void forward(int sig)
{
	for (unsigned i = 0; i < (unsigned)nr_clone_pids; i++)
		if (clone_pids[i] > 0)
			kill(clone_pids[i], sig);
}

/* fd moved above 0-2, which become a clone's stdio before its exec; -1 (errno set) when it cannot be. */
static int above_stdio(int fd)
{
	int high, e;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	e = errno;
	close(fd);
	errno = e;
	return high;
}

/*
 * A descriptor of the binary, not its path: a clone must run the very
 * binary its VM runs (the same snapshot format, the same options), and the
 * file at the path may be replaced while the VM runs (a rebuild, an
 * upgrade), which leaves /proc/self/exe pointing to "... (deleted)". The
 * descriptor keeps the running one. O_PATH: it is only ever executed.
 */
int run_clone_exe_open(void)
{
	if (exe_fd >= 0)
		return 0;
	exe_fd = above_stdio(open("/proc/self/exe", O_PATH | O_CLOEXEC));
	if (exe_fd < 0)
		return exe_err = vmm_fail(-errno, "cannot open this binary (/proc/self/exe): %s", strerror(errno));
	return 0;
}

#define CLONE_ARGV_MAX 20

struct clone_argv {
	char *argv[CLONE_ARGV_MAX];
	char timeout[24];
};

/*
 * A clone's command line, built before the spawn: `thpvm run --restore DIR`
 * in o's memory mode with its own socket, and the options of o a restored
 * run takes (--collapse as given, --timeout, --prefault, --stats), so that
 * a clone runs as its VM does. Not --console: a clone's stdout and stderr
 * are its console file, a Linux guest's COM1 too (a second opening of that
 * file would write over the first), and a payload guest takes none. Not
 * --stats-json (one file for every clone) nor --clones.
 */
static void clone_argv(const struct run_opts *o, const char *sock, struct clone_argv *a)
{
	char **v = a->argv;

	*v++ = (char *)"thpvm";
	*v++ = (char *)"run";
	*v++ = (char *)"--restore";
	*v++ = (char *)o->restore;
	*v++ = (char *)"--memory-mode";
	*v++ = (char *)(o->restore_shared ? "shared" : "eager");
	*v++ = (char *)"--ctl-sock";
	*v++ = (char *)sock;
	if (o->collapse_arg) {
		*v++ = (char *)"--collapse";
		*v++ = (char *)o->collapse_arg;
	}
	if (o->timeout_ns) {
		snprintf(a->timeout, sizeof(a->timeout), "%llu", (unsigned long long)(o->timeout_ns / 1000000000ULL));
		*v++ = (char *)"--timeout";
		*v++ = a->timeout;
	}
	if (o->prefault)
		*v++ = (char *)"--prefault";
	if (o->stats)
		*v++ = (char *)"--stats";
	*v = NULL;
}

pid_t run_clone_spawn(const struct run_opts *o, const char *sock)
{
	char console[PATH_MAX + 16], exe[32];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct clone_argv a;
	sigset_t none, dfl;
	pid_t pid;
	int out, ret;

	if (exe_fd < 0)
		return vmm_fail(exe_err, "clone %s: this binary was not opened at start-up (/proc/self/exe): %s", sock,
				strerror(-exe_err));
	clone_argv(o, sock, &a);
	snprintf(exe, sizeof(exe), "/proc/self/fd/%d", exe_fd);
	snprintf(console, sizeof(console), "%s.console", sock);
	out = above_stdio(open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (out < 0)
		return vmm_fail(-errno, "clone %s: console %s: %s", sock, console, strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	/*
	 * Every other descriptor closed, not only the O_CLOEXEC ones: this
	 * process may hold some its own starter left without O_CLOEXEC. The
	 * binary's stays until the exec, which closes it (O_CLOEXEC).
	 */
	for (int fd = STDERR_FILENO + 1; fd < exe_fd; fd++)
		posix_spawn_file_actions_addclose(&fa, fd);
	posix_spawn_file_actions_addclosefrom_np(&fa, exe_fd + 1);
	/* the caller's mask (a control thread blocks every signal) and a disposition it ignores (SIGPIPE) survive an exec */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	for (unsigned k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		sigaddset(&dfl, forwarded[k]);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	ret = posix_spawn(&pid, exe, &fa, &attr, a.argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(out);
	if (ret)
		return vmm_fail(-ret, "clone %s: cannot start %s: %s", sock, exe, strerror(ret));
	return pid;
}

int run_clones(const struct run_opts *o)
{
	struct sigaction sa = { .sa_handler = forward }, old[3];
	sigset_t block, prev;
	int status = 0, st;

	nr_clone_pids = 0;
	if (run_clone_exe_open()) {
		cli_error("%s: %s", o->guest.cmd, vmm_last_error());
		return 1;
	}
	/* a signal while the clones start waits until each started one is known, then reaches them all */
	sigemptyset(&block);
	sigemptyset(&sa.sa_mask);
	for (unsigned k = 0; k < 3; k++) {
		sigaddset(&block, forwarded[k]);
		sigaction(forwarded[k], &sa, &old[k]);
	}
	sigprocmask(SIG_BLOCK, &block, &prev);
	for (unsigned i = 1; i <= o->clones; i++) {
		char sock[PATH_MAX];
		pid_t pid;

		snprintf(sock, sizeof(sock), "%s.%u", o->ctl_sock, i);
		pid = run_clone_spawn(o, sock);
		if (pid < 0) {
			cli_error("%s: clone %u of %u: %s", o->guest.cmd, i, o->clones, vmm_last_error());
			forward(SIGTERM);
			status = 1;
			break;
		}
		clone_pids[nr_clone_pids] = pid;
		nr_clone_pids = nr_clone_pids + 1;
		printf("clone %u: pid %d, socket %s.%u, console %s.%u.console\n", i, (int)pid, o->ctl_sock, i,
		       o->ctl_sock, i);
		/* out now, as the clone starts: a script reading thpvm's output learns of each clone in time */
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
