/* SPDX-License-Identifier: MIT */
/*
 * The control socket's "clone" command (run.h, docs/ctl.md): N more clones
 * of the snapshot a VM was restored from, each its own process, socket and
 * console, started by the one spawner (clones.c). Its schema sits beside
 * its handler; the run adds the hook that registers it.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run.h"
#include "run_opts.h"
#include "ctl/ctl.h"
#include "kvm/vm.h"
#include "state/snapshot_dir.h"
#include "util/clock.h"
#include "util/error.h"

/* sun_path holds 108 bytes with the NUL */
#define CLONE_SOCKET_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
/* a clone builds its VM from the files before it serves its socket */
#define CLONE_READY_TIMEOUT_MS 30000
/* a reaper thread only waits */
#define REAPER_STACK_BYTES (256u << 10)

/* One VM per process: the command's state is the process's (a forked child carries on with a copy). */
static struct clone_ctl {
	const struct run_opts *o;
	struct ctl_server *srv;     /* this process's socket: the default prefix */
	unsigned next_index;        /* clone indices count up over the VM's life: a socket is never reused */
} clone_ctl;

static const struct ctl_arg clone_args[] = {
	{ .name = "n", .type = CTL_ARG_UINT, .min = 1, .max = RUN_MAX_CLONES,
	  .help = "number of clones to start (default 1)" },
	{ .name = "prefix", .type = CTL_ARG_STRING, .min = 1, .max = 100,
	  .help = "clones' sockets are PREFIX.N, N the clone's index (default: this VM's socket path + \".clone\")" },
	{ 0 },
};

/* The last line a clone wrote to its console (why it ended), or "". */
static const char *console_tail(const char *sock, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%.*s.console", CLONE_SOCKET_PATH_MAX, sock);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return buf;
	n = pread(fd, buf, len - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf;
}

/* Returns once the clone serves its socket (its VM built and restored), or -errno when it ended or never did. */
static int wait_ready(const char *sock, int pidfd, uint64_t deadline_ns)
{
	struct ctl_error err;
	json_t *res;

	for (;;) {
		struct pollfd ended = { .fd = pidfd, .events = POLLIN };

		if (!ctl_call(sock, "help", NULL, 1000, &res, &err)) {
			json_decref(res);
			return 0;
		}
		if (poll(&ended, 1, 0) > 0)
			return -ECHILD;
		if (util_mono_ns() > deadline_ns)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

/* Only this thread waits for its clone, by pid: never waitpid(-1), which would take fork's children from its reaper. */
static void *reap_clone(void *arg)
{
	pid_t pid = (pid_t)(intptr_t)arg;

	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * A clone is this VM's child (posix_spawn): a small thread of its own waits
 * for it, so it is never left a zombie while the VM runs; a VM that ends
 * first leaves it to init (or the nearest subreaper). Not a double fork:
 * without fork() of this process (which would copy the page tables of
 * guest RAM) the middle process would need a stack of its own, the trick
 * exec did away with. Not fork's reaper (vmm/fork/children.c): its children
 * are the VM's forks, counted in its stats. No SIGCHLD handler: signals stay
 * the run's.
 */
static int reap_later(pid_t pid)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, REAPER_STACK_BYTES);
	/* signals are for the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&t, &attr, reap_clone, (void *)(intptr_t)pid);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -ret;
}

/*
 * One clone started, with its reaper. Returns a pidfd of it (the clone's own
 * handle: its pid may be reused once the reaper took it), or -errno, any
 * clone started then killed and reaped.
 */
static int spawn_one(const char *sock, pid_t *pid)
{
	int pidfd, ret;

	if ((*pid = run_clone_spawn(clone_ctl.o, sock)) < 0)
		return *pid;
	pidfd = (int)syscall(SYS_pidfd_open, *pid, 0);
	ret = pidfd < 0 ? -errno : reap_later(*pid);
	if (!ret)
		return pidfd;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	if (pidfd >= 0)
		close(pidfd);
	return vmm_fail(ret, "clone %s: %s: %s", sock, pidfd < 0 ? "pidfd_open" : "no thread to reap it", strerror(-ret));
}

static json_t *h_clone(void *ctx, json_t *args, struct ctl_error *err)
{
	struct clone_ctl *cc = ctx;
	unsigned n = (unsigned)ctl_arg_int(args, "n", 1);
	uint64_t t0 = util_mono_ns();
	char def_prefix[PATH_MAX], socks[RUN_MAX_CLONES][CLONE_SOCKET_PATH_MAX + 1], tail[1024];
	pid_t pids[RUN_MAX_CLONES];
	int pidfds[RUN_MAX_CLONES];
	const char *prefix;
	struct snapshot_state s;
	json_t *list;
	unsigned made = 0;
	int ret = 0;

	if (!cc->o->restore)
		return ctl_fail(err, CTL_UNSUPPORTED, "clone: this VM was not started from a snapshot (thpvm run --restore "
				"DIR); fork makes children of a running VM");
	/* the directory as the clones will read it: a snapshot gone or damaged since is refused here, once */
	if (vm_snapshot_open(cc->o->restore, &s))
		return ctl_fail(err, CTL_FAILED, "clone: %s", vmm_last_error());
	snapshot_state_free(&s);
	snprintf(def_prefix, sizeof(def_prefix), "%s.clone", ctl_server_path(cc->srv));
	prefix = ctl_arg_string(args, "prefix", def_prefix);
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(socks[i], sizeof(socks[i]), "%s.%u", prefix, cc->next_index + i);

		if (len < 0 || len > CLONE_SOCKET_PATH_MAX)
			return ctl_fail(err, CTL_ARG_VALUE, "clone %u's socket path '%s.%u' is longer than %d bytes",
					cc->next_index + i, prefix, cc->next_index + i, CLONE_SOCKET_PATH_MAX);
	}
	for (; made < n; made++) {
		cc->next_index++;
		if ((pidfds[made] = spawn_one(socks[made], &pids[made])) < 0) {
			ret = pidfds[made];
			break;
		}
	}
	for (unsigned i = 0; i < made && !ret; i++)
		if ((ret = wait_ready(socks[i], pidfds[i], t0 + (uint64_t)CLONE_READY_TIMEOUT_MS * 1000000)))
			vmm_fail(ret, "clone %s (pid %d) %s: %s", socks[i], (int)pids[i],
				 ret == -ECHILD ? "ended before it served its socket" : "did not serve its socket in time",
				 console_tail(socks[i], tail, sizeof(tail)));
	/* all or nothing, as fork: the clones made are stopped (their reapers take them) */
	for (unsigned i = 0; i < made; i++) {
		if (ret)
			syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, NULL, 0);
		close(pidfds[i]);
	}
	if (ret)
		return ctl_fail(err, ret == -EAGAIN || ret == -ENOMEM ? CTL_NO_RESOURCES : CTL_FAILED, "clone: %s",
				vmm_last_error());
	list = json_array();
	for (unsigned i = 0; i < made; i++) {
		char console[PATH_MAX];

		snprintf(console, sizeof(console), "%.*s.console", CLONE_SOCKET_PATH_MAX, socks[i]);
		json_array_append_new(list, json_pack("{s:i, s:i, s:s, s:s}", "index", (int)(cc->next_index - made + i),
						      "pid", (int)pids[i], "socket", socks[i], "console", console));
	}
	return json_pack("{s:o, s:s, s:s, s:f}", "clones", list, "snapshot", cc->o->restore, "memory_mode",
			 cc->o->restore_shared ? "shared" : "eager", "ready_ms", (double)(util_mono_ns() - t0) / 1e6);
}

const struct ctl_command clone_ctl_command = {
	.name = "clone",
	.help = "start clones of the snapshot this VM was restored from, each its own process, socket and console",
	.args = clone_args,
	.handler = h_clone,
};

static int clone_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv)
{
	struct clone_ctl *cc = arg;

	cc->srv = srv;
	return ctl_server_register(srv, &clone_ctl_command, cc);
}

int run_clone_attach(struct vm *vm, const struct run_opts *o)
{
	struct vm_hooks h = { .name = "clone", .arg = &clone_ctl, .ctl_register = clone_ctl_register };

	clone_ctl.o = o;
	clone_ctl.next_index = 1;
	/* now, at start-up: the binary clones run is this VM's, even if its file is replaced later; failing, `clone` says why */
	if (o->restore)
		run_clone_exe_open();
	return vm_add_hooks(vm, &h);
}
