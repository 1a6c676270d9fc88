/* SPDX-License-Identifier: MIT */
/*
 * The control server across a real fork(): a handler that forks on the
 * server thread, a child that forgets its parent's server and serves its own
 * socket, and a parent whose socket and clients are untouched.
 */
#include "config.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ctl_helpers.h"

static struct ctl_tmp tmp;

static void setup(void)
{
	ctl_tmp_make(&tmp);
}

/* Children a failed test left running. */
static pid_t children[4];

static void track(pid_t pid)
{
	for (unsigned i = 0; i < 4; i++)
		if (!children[i]) {
			children[i] = pid;
			return;
		}
}

static void teardown(void)
{
	for (unsigned i = 0; i < 4; i++)
		if (children[i] > 0 && !kill(children[i], SIGKILL))
			waitpid(children[i], NULL, 0);
	ctl_tmp_cleanup(&tmp);
}

TestSuite(ctl, .init = setup, .fini = teardown, .timeout = 60);

enum child_style {
	CHILD_NEVER_RETURNS, /* the handler's child continues as the child's main and exits */
	CHILD_RETURNS,       /* the handler's child returns into the forgotten server loop */
};

struct fork_ctx {
	struct ctl_server *srv; /* the parent's */
	char child_path[160];
	enum child_style style;
};

static json_t *h_whoami(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_pack("{s:i}", "pid", (int)getpid());
}

/* ctx: the write end of a pipe the child's main waits on */
static json_t *h_quit(void *ctx, json_t *args, struct ctl_error *err)
{
	char c = 'q';

	if (write((int)(intptr_t)ctx, &c, 1) != 1)
		return ctl_fail(err, CTL_FAILED, "cannot signal quit: %s", strerror(errno));
	return NULL;
}

static const struct ctl_command whoami_cmd = { .name = "whoami", .help = "pid of the VM", .handler = h_whoami };
static const struct ctl_command quit_cmd = { .name = "quit", .help = "end the child", .handler = h_quit };

static json_t *h_fork(void *ctx, json_t *args, struct ctl_error *err);
static const struct ctl_command fork_cmd = { .name = "fork", .help = "fork a child VM", .handler = h_fork };

struct child_vm {
	struct ctl_server *srv;
	int quit_pipe[2];
	struct fork_ctx fc; /* children fork again, into PATH.1 */
};

/* In the child: its own server on its own path. Exits on failure (no parent state to return to). */
static void child_vm_start(struct child_vm *vm, const char *path)
{
	struct ctl_error err;
	char own[150];
	struct ctl_server_config cfg = { .path = own };

	snprintf(own, sizeof(own), "%s", path);
	if (pipe(vm->quit_pipe))
		_exit(20);
	if (ctl_server_create(&vm->srv, &cfg, &err)) {
		fprintf(stderr, "child: %s\n", err.message);
		_exit(21);
	}
	vm->fc.srv = vm->srv;
	vm->fc.style = CHILD_NEVER_RETURNS;
	snprintf(vm->fc.child_path, sizeof(vm->fc.child_path), "%s.1", own);
	if (ctl_server_register(vm->srv, &whoami_cmd, NULL) ||
	    ctl_server_register(vm->srv, &quit_cmd, (void *)(intptr_t)vm->quit_pipe[1]) ||
	    ctl_server_register(vm->srv, &fork_cmd, &vm->fc) || ctl_server_start(vm->srv))
		_exit(22);
}

static void __attribute__((noreturn)) child_vm_run_until_quit(struct child_vm *vm)
{
	char c;

	while (read(vm->quit_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	ctl_server_destroy(vm->srv);
	_exit(0);
}

static void *child_vm_waiter(void *arg)
{
	child_vm_run_until_quit(arg);
}

static struct child_vm child_vm;

static json_t *h_fork(void *ctx, json_t *args, struct ctl_error *err)
{
	struct fork_ctx *fc = ctx;
	pthread_t waiter;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return ctl_fail(err, CTL_NO_RESOURCES, "fork: %s", strerror(errno));
	if (pid > 0)
		return json_pack("{s:i}", "child", (int)pid);

	/* the child: this thread is a copy of the server thread, the only thread */
	ctl_server_forget_after_fork(fc->srv);
	child_vm_start(&child_vm, fc->child_path);
	if (fc->style == CHILD_NEVER_RETURNS)
		child_vm_run_until_quit(&child_vm);
	if (pthread_create(&waiter, NULL, child_vm_waiter, &child_vm))
		_exit(23);
	/* dropped by the forgotten server: the parent's client must never see it */
	return json_pack("{s:i}", "child", 0);
}

static struct ctl_server *parent_server(struct fork_ctx *fc, enum child_style style)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);

	fc->srv = srv;
	fc->style = style;
	snprintf(fc->child_path, sizeof(fc->child_path), "%s.1", tmp.path);
	cr_assert_eq(ctl_server_register(srv, &fork_cmd, fc), 0);
	cr_assert_eq(ctl_server_register(srv, &whoami_cmd, NULL), 0);
	return srv;
}

/* The child creates its socket after the parent's fork reply: wait for it. */
static int connect_retry(const char *path)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct timespec pause = { .tv_nsec = 5 * 1000 * 1000 };
		int fd = conn_open(path);

		if (fd >= 0)
			return fd;
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("nobody listens on %s after 5 s", path);
	return -1;
}

static int whoami(int fd)
{
	json_t *r = conn_call(fd, "{\"cmd\": \"whoami\"}\n");
	int pid = (int)json_integer_value(json_object_get(reply_result(r), "pid"));

	json_decref(r);
	return pid;
}

static void quit_and_reap(const char *path, pid_t pid)
{
	int fd = connect_retry(path), status;
	json_t *r = conn_call(fd, "{\"cmd\": \"quit\"}\n");

	reply_result(r);
	json_decref(r);
	close(fd);
	for (int tries = 0;; tries++) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			break;
		if (tries == 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("child %d did not exit after quit", (int)pid);
		}
		nanosleep(&pause, NULL);
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	cr_assert_eq(access(path, F_OK), -1, "the child removed its own socket");
}

static int nr_threads(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	/* a thread group leader that ended stays listed as a zombie while its other threads run */
	while ((e = readdir(d))) {
		char stat_path[320], buf[256], *paren;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(stat_path, sizeof(stat_path), "%s/%.32s/stat", path, e->d_name);
		f = fopen(stat_path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) && paren[1] == ' ' && paren[2] != 'Z')
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void fork_from_handler(enum child_style style)
{
	struct fork_ctx fc;
	struct ctl_server *srv = parent_server(&fc, style);
	int fd = conn_open(tmp.path), idle = conn_open(tmp.path), cfd;
	char moved[200];
	pid_t child;
	json_t *r;

	cr_assert(fd >= 0 && idle >= 0);
	cr_assert_eq(whoami(idle), getpid(), "idle is accepted before the fork");
	r = conn_call(fd, "{\"cmd\": \"fork\", \"id\": 1}\n");
	child = (pid_t)json_integer_value(json_object_get(reply_result(r), "child"));
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 1);
	cr_assert_gt(child, 0);
	track(child);
	json_decref(r);

	/* the child answers on its own socket, as itself */
	cfd = connect_retry(fc.child_path);
	cr_assert_eq(whoami(cfd), child);
	close(cfd);
	/*
	 * Two threads in the child: its new server's and either the handler's copy
	 * (waiting for quit) or the waiter it started before its old server
	 * thread returned and ended.
	 */
	for (int tries = 0; nr_threads(child) != 2; tries++) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		cr_assert_lt(tries, 500, "child has %d threads, not 2", nr_threads(child));
		nanosleep(&pause, NULL);
	}
	/* the parent is untouched: same connection, next reply is the next request's */
	r = conn_call(fd, "{\"cmd\": \"whoami\", \"id\": 2}\n");
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 2, "a stray reply from the child?");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "pid")), getpid());
	json_decref(r);
	cr_assert_eq(access(tmp.path, F_OK), 0, "the child did not remove the parent's socket");

	/*
	 * The child dropped its copies of the parent's descriptors: stopping the
	 * parent ends them. The socket file is moved aside first so that stop
	 * leaves it: connecting to it afterwards tells whether anybody (the
	 * child) still holds the listening socket.
	 */
	snprintf(moved, sizeof(moved), "%s.moved", tmp.path);
	cr_assert_eq(rename(tmp.path, moved), 0);
	cr_assert_eq(ctl_server_stop(srv), 0);
	cr_assert(conn_closed(idle), "a client is held open by the child's inherited descriptor");
	cr_assert(conn_closed(fd));
	cr_assert_eq(conn_open(moved), -ECONNREFUSED, "the child still holds the parent's listening socket");
	cr_assert_eq(unlink(moved), 0);
	cfd = connect_retry(fc.child_path);
	cr_assert_eq(whoami(cfd), child, "the child serves on while the parent is stopped");
	close(cfd);

	quit_and_reap(fc.child_path, child);
	close(fd);
	close(idle);
	ctl_server_destroy(srv);
	cr_assert_eq(access(tmp.path, F_OK), -1);
}

Test(ctl, handler_forks_on_the_server_thread_child_serves_a_new_socket)
{
	fork_from_handler(CHILD_NEVER_RETURNS);
}

Test(ctl, child_handler_returning_after_forget_ends_only_the_old_thread)
{
	fork_from_handler(CHILD_RETURNS);
}

Test(ctl, children_fork_again_and_outlive_their_parent)
{
	struct fork_ctx fc;
	struct ctl_server *srv = parent_server(&fc, CHILD_NEVER_RETURNS);
	char grandchild_path[180];
	pid_t child, grandchild;
	int fd;
	json_t *r;

	/* grandchildren are reparented to us when their parent exits, so we can reap them */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	fd = conn_open(tmp.path);
	r = conn_call(fd, "{\"cmd\": \"fork\"}\n");
	child = (pid_t)json_integer_value(json_object_get(reply_result(r), "child"));
	json_decref(r);
	close(fd);
	track(child);

	fd = connect_retry(fc.child_path);
	r = conn_call(fd, "{\"cmd\": \"help\"}\n");
	cr_assert_eq(json_array_size(json_object_get(reply_result(r), "commands")), 4,
		     "the child's server is its own: help, whoami, quit, fork");
	json_decref(r);
	r = conn_call(fd, "{\"cmd\": \"fork\"}\n");
	grandchild = (pid_t)json_integer_value(json_object_get(reply_result(r), "child"));
	json_decref(r);
	close(fd);
	cr_assert(grandchild > 0 && grandchild != child);
	track(grandchild);

	snprintf(grandchild_path, sizeof(grandchild_path), "%s.1", fc.child_path);
	fd = connect_retry(grandchild_path);
	cr_assert_eq(whoami(fd), grandchild);
	close(fd);
	quit_and_reap(fc.child_path, child);
	fd = connect_retry(grandchild_path);
	cr_assert_eq(whoami(fd), grandchild, "the grandchild serves on after its parent exited");
	close(fd);
	quit_and_reap(grandchild_path, grandchild);
	fd = conn_open(tmp.path);
	cr_assert_eq(whoami(fd), getpid());
	close(fd);
	ctl_server_destroy(srv);
}

Test(ctl, fork_from_another_thread_during_a_handler_child_forgets_and_serves)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	char child_path[160];
	int busy = conn_open(tmp.path), fd;
	pid_t pid;
	json_t *r;

	cr_assert_eq(ctl_server_register(srv, &whoami_cmd, NULL), 0);
	snprintf(child_path, sizeof(child_path), "%s.2", tmp.path);
	/* the server thread is inside a handler when this thread forks */
	conn_send(busy, "{\"cmd\": \"sleep\", \"args\": {\"ms\": 300}}\n");
	nanosleep(&pause, NULL);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	track(pid);
	if (pid == 0) {
		ctl_server_forget_after_fork(srv);
		child_vm_start(&child_vm, child_path);
		child_vm_run_until_quit(&child_vm);
	}
	r = conn_recv(busy);
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "slept_ms")), 300);
	json_decref(r);
	fd = connect_retry(child_path);
	cr_assert_eq(whoami(fd), pid);
	close(fd);
	fd = conn_open(tmp.path);
	cr_assert_eq(whoami(fd), getpid());
	close(fd);
	quit_and_reap(child_path, pid);
	cr_assert_eq(access(tmp.path, F_OK), 0);
	close(busy);
	ctl_server_destroy(srv);
}
