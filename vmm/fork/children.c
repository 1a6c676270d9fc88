/* SPDX-License-Identifier: MIT */
/*
 * A VM's forked children after the fork: a reaper thread waits for each of
 * them through its pidfd (only ours, never someone else's child, so other
 * code in the process keeps its own waitpid()s), records the exit status,
 * and keeps the last FORK_KEEP_EXITED reaped ones for the stats. No zombie
 * outlives a poll round. Children are independent VMs: the parent never
 * kills them when it ends (they are reparented to init).
 */
#include "config.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include "internal.h"
#include "util/error.h"
#include "kvm/vm.h"
#include "util/clock.h"

static void prune_exited(struct fork_state *fs)
{
	unsigned exited = 0, w = 0;

	for (unsigned i = 0; i < fs->nr_children; i++)
		exited += fs->children[i].exited;
	for (unsigned i = 0; i < fs->nr_children; i++) {
		if (fs->children[i].exited && exited > FORK_KEEP_EXITED) {
			exited--;
			continue;
		}
		fs->children[w++] = fs->children[i];
	}
	fs->nr_children = w;
}

static void reap(struct fork_state *fs, int pidfd)
{
	siginfo_t si;
	int status;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG)) {
		/* someone else reaped it (SIGCHLD ignored, a waitpid(-1) elsewhere): gone, status unknown */
		status = -1;
	} else if (!si.si_pid) {
		return;
	} else {
		status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status; /* a signal's number */
	}
	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nr_children; i++) {
		struct fork_child *c = &fs->children[i];

		if (c->pidfd != pidfd)
			continue;
		close(c->pidfd);
		c->pidfd = -1;
		c->exited = true;
		c->wait_status = status;
		c->exited_ns = util_mono_ns();
		fs->nr_exited++;
		break;
	}
	prune_exited(fs);
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

static void *reaper_thread(void *arg)
{
	struct fork_state *fs = arg;
	struct pollfd *pfds = NULL;
	unsigned cap = 0;

	for (;;) {
		unsigned n = 0;
		bool stop;

		pthread_mutex_lock(&fs->lock);
		stop = fs->stopping;
		if (cap < fs->nr_children + 1) {
			struct pollfd *p = realloc(pfds, (fs->nr_children + 1) * sizeof(*p));

			if (p) {
				pfds = p;
				cap = fs->nr_children + 1;
			}
		}
		if (cap)
			pfds[n++] = (struct pollfd){ .fd = fs->wake_fd, .events = POLLIN };
		for (unsigned i = 0; i < fs->nr_children && n < cap; i++)
			if (fs->children[i].pidfd >= 0)
				pfds[n++] = (struct pollfd){ .fd = fs->children[i].pidfd, .events = POLLIN };
		pthread_mutex_unlock(&fs->lock);
		if (stop)
			break;
		if (!n) {
			/* out of memory for the poll set: try again a little later */
			usleep(100000);
			continue;
		}
		if (poll(pfds, n, -1) < 0)
			continue;
		if (pfds[0].revents) {
			uint64_t v;

			if (read(fs->wake_fd, &v, sizeof(v)) < 0) {
				/* nothing to read: another round builds the set again */
			}
		}
		for (unsigned i = 1; i < n; i++)
			if (pfds[i].revents)
				reap(fs, pfds[i].fd);
	}
	free(pfds);
	return NULL;
}

static void wake(struct fork_state *fs)
{
	uint64_t one = 1;

	if (write(fs->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: the reaper will look again */
	}
}

static int start_reaper(struct fork_state *fs)
{
	sigset_t all, old;
	int ret;

	if (fs->reaper_running)
		return 0;
	if (fs->wake_fd < 0) {
		fs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fs->wake_fd < 0)
			return vmm_fail(-errno, "fork: eventfd for the reaper: %s", strerror(errno));
	}
	/* signals are for the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&fs->reaper, NULL, reaper_thread, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return vmm_fail(-ret, "fork: cannot start the reaper thread: %s", strerror(ret));
	fs->reaper_running = true;
	return 0;
}

int fork_children_add(struct fork_state *fs, const struct vm_fork_reply *reply, const int *pidfds, uint64_t now_ns)
{
	int ret;

	pthread_mutex_lock(&fs->lock);
	if (fs->nr_children + reply->nr_children > fs->cap_children) {
		unsigned cap = fs->cap_children ? fs->cap_children : 16;
		struct fork_child *c;

		while (cap < fs->nr_children + reply->nr_children)
			cap *= 2;
		c = realloc(fs->children, cap * sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&fs->lock);
			return vmm_fail(-ENOMEM, "fork: out of memory for the children table");
		}
		fs->children = c;
		fs->cap_children = cap;
	}
	for (unsigned i = 0; i < reply->nr_children; i++) {
		const struct vm_fork_child *r = &reply->children[i];
		struct fork_child *c = &fs->children[fs->nr_children++];

		memset(c, 0, sizeof(*c));
		c->index = r->index;
		c->pid = r->pid;
		c->pidfd = pidfds[i];
		memcpy(c->socket, r->socket, sizeof(c->socket));
		memcpy(c->console, r->console, sizeof(c->console));
		c->forked_ns = now_ns;
	}
	ret = start_reaper(fs);
	pthread_mutex_unlock(&fs->lock);
	if (!ret)
		wake(fs);
	return ret;
}

/* The children's pidfds and their list, and the reaper's wake fd: what stop and forget both let go. */
static void close_children(struct fork_state *fs)
{
	for (unsigned i = 0; i < fs->nr_children; i++)
		if (fs->children[i].pidfd >= 0)
			close(fs->children[i].pidfd);
	free(fs->children);
	fs->children = NULL;
	fs->nr_children = fs->cap_children = 0;
	if (fs->wake_fd >= 0)
		close(fs->wake_fd);
	fs->wake_fd = -1;
}

void fork_children_stop(struct fork_state *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->stopping = true;
	pthread_mutex_unlock(&fs->lock);
	if (fs->reaper_running) {
		wake(fs);
		pthread_join(fs->reaper, NULL);
		fs->reaper_running = false;
	}
	close_children(fs);
}

void fork_children_forget(struct fork_state *fs)
{
	/* the reaper thread does not exist here; its lock may have been held at fork() */
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	close_children(fs);
	fs->nr_exited = 0;
	fs->reaper_running = false;
	fs->stopping = false;
}

unsigned vm_fork_children(struct vm *vm, struct vm_fork_child_status *out, unsigned max)
{
	struct fork_state *fs = fork_state_get(vm);
	unsigned n = 0;

	if (!fs)
		return 0;
	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nr_children && n < max; i++, n++)
		out[n] = (struct vm_fork_child_status){ .index = fs->children[i].index, .pid = fs->children[i].pid,
							 .exited = fs->children[i].exited,
							 .wait_status = fs->children[i].wait_status };
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static unsigned running(struct fork_state *fs)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fs->nr_children; i++)
		n += !fs->children[i].exited;
	return n;
}

int vm_fork_wait_children(struct vm *vm, unsigned timeout_ms)
{
	struct fork_state *fs = fork_state_get(vm);
	struct timespec end;
	int ret = 0;

	if (!fs)
		return 0;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->lock);
	while (running(fs) && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&fs->cond, &fs->lock, &end);
	ret = running(fs) ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

void vm_fork_signal_children(struct vm *vm, int sig)
{
	struct fork_state *fs = fork_state_get(vm);

	if (!fs)
		return;
	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nr_children; i++)
		if (!fs->children[i].exited)
			kill(fs->children[i].pid, sig);
	pthread_mutex_unlock(&fs->lock);
}

json_t *fork_children_json(struct fork_state *fs)
{
	json_t *list = json_array();

	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nr_children; i++) {
		const struct fork_child *c = &fs->children[i];
		json_t *o = json_pack("{s:i, s:i, s:s}", "index", (int)c->index, "pid", (int)c->pid, "state",
				      !c->exited		  ? "running"
				      : c->wait_status < 0	  ? "gone"
				      : WIFEXITED(c->wait_status) ? "exited"
								  : "killed");

		if (c->socket[0])
			json_object_set_new(o, "socket", json_string(c->socket));
		if (c->console[0])
			json_object_set_new(o, "console", json_string(c->console));
		if (c->exited && c->wait_status >= 0 && WIFEXITED(c->wait_status))
			json_object_set_new(o, "exit_status", json_integer(WEXITSTATUS(c->wait_status)));
		else if (c->exited && c->wait_status >= 0)
			json_object_set_new(o, "signal", json_integer(c->wait_status & 0x7f));
		if (c->exited)
			json_object_set_new(o, "lifetime_ms", json_real((double)(c->exited_ns - c->forked_ns) / 1e6));
		json_array_append_new(list, o);
	}
	pthread_mutex_unlock(&fs->lock);
	return list;
}
