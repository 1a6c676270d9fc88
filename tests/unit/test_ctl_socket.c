/* SPDX-License-Identifier: MIT */
/* The control socket's file and its peers: 0600, same uid only, safe creation, client limit, stop. */
#include "config.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "helpers.h"
#include "ctl_helpers.h"

static struct ctl_tmp tmp;

static void setup(void)
{
	ctl_tmp_make(&tmp);
}

static void teardown(void)
{
	ctl_tmp_cleanup(&tmp);
}

TestSuite(ctl, .init = setup, .fini = teardown, .timeout = 60);

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to switch a child process to uid %d (nobody)", NOBODY_UID);
}

/* In a child: become nobody for good. */
static int become_nobody(int reason_fd)
{
	if (setgroups(0, NULL) || setresgid(NOBODY_GID, NOBODY_GID, NOBODY_GID) ||
	    setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID))
		return child_fail(reason_fd, 10, "cannot become uid %d: %s", NOBODY_UID, strerror(errno));
	return 0;
}

static int create_error(const char *path, struct ctl_error *err)
{
	struct ctl_server_config cfg = { .path = path, .log = ctl_test_log };
	struct ctl_server *srv = NULL;
	int ret = ctl_server_create(&srv, &cfg, err);

	if (!ret)
		ctl_server_destroy(srv);
	return ret;
}

static void assert_serves(const char *path)
{
	int fd = conn_open(path);
	json_t *r;

	cr_assert_geq(fd, 0, "connect %s: %s", path, strerror(-fd));
	r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 2, \"b\": 3}}\n");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 5);
	json_decref(r);
	close(fd);
}

Test(ctl, socket_is_created_0600_by_our_uid_whatever_the_umask)
{
	mode_t old = umask(0);
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);
	struct stat st;

	umask(old);
	cr_assert_eq(lstat(tmp.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_uid, geteuid());
	assert_serves(tmp.path);
	ctl_server_destroy(srv);
}

static int child_connect_expect_eacces(void *arg, int reason_fd)
{
	int ret = become_nobody(reason_fd), fd;

	if (ret)
		return ret;
	fd = conn_open(arg);
	if (fd != -EACCES)
		return child_fail(reason_fd, 1, "connect as nobody gave %s, not EACCES", fd >= 0 ? "success" : strerror(-fd));
	return 0;
}

Test(ctl, another_uid_cannot_even_connect_to_the_0600_socket)
{
	struct ctl_server *srv;
	char reason[256];

	need_root();
	chmod(tmp.dir, 0755); /* the socket's own mode must be what stops nobody */
	srv = ctl_test_server(tmp.path, 0);
	cr_assert_eq(run_in_child(child_connect_expect_eacces, tmp.path, reason, sizeof(reason)), 0, "%s", reason);
	assert_serves(tmp.path);
	ctl_server_destroy(srv);
}

/* As nobody, through a socket made world-writable: the server must refuse by SO_PEERCRED. */
static int child_expect_peer_refused(void *arg, int reason_fd)
{
	const char *req = "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}}\n";
	char buf[1024], *nl;
	size_t len = 0;
	json_t *reply, *e;
	int ret = become_nobody(reason_fd), fd;
	ssize_t n;

	if (ret)
		return ret;
	fd = conn_open(arg);
	if (fd < 0)
		return child_fail(reason_fd, 1, "connect as nobody: %s", strerror(-fd));
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		return child_fail(reason_fd, 2, "send: %s", strerror(errno));
	while (len < sizeof(buf) - 1 && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	nl = strchr(buf, '\n');
	if (!nl)
		return child_fail(reason_fd, 3, "no reply line as nobody: '%s'", buf);
	if (nl[1])
		return child_fail(reason_fd, 4, "more than the refusal was sent: '%s'", buf);
	reply = json_loads(buf, 0, NULL);
	e = json_object_get(reply, "error");
	if (!json_is_false(json_object_get(reply, "ok")) ||
	    strcmp(json_string_value(json_object_get(e, "code")) ?: "", "peer_refused") ||
	    !strstr(json_string_value(json_object_get(e, "message")) ?: "", "uid 65534"))
		return child_fail(reason_fd, 5, "not a peer_refused error naming uid 65534: %s", buf);
	json_decref(reply);
	close(fd);
	return 0;
}

Test(ctl, another_uid_is_refused_by_peer_credentials_with_an_error_and_a_log_line)
{
	struct ctl_server_stats st;
	struct ctl_server *srv;
	char reason[256];

	need_root();
	chmod(tmp.dir, 0755);
	srv = ctl_test_server(tmp.path, 0);
	cr_assert_eq(chmod(tmp.path, 0666), 0);
	cr_assert_eq(run_in_child(child_expect_peer_refused, tmp.path, reason, sizeof(reason)), 0, "%s", reason);
	ctl_server_get_stats(srv, &st);
	cr_assert_eq(st.refused_peer, 1);
	cr_assert_eq(st.requests, 0, "the refused peer's request was never handled");
	cr_assert_not_null(strstr(ctl_test_log_text(), "refused a connection from uid 65534"), "log: %s",
			   ctl_test_log_text());
	assert_serves(tmp.path);
	ctl_server_destroy(srv);
}

/* A socket file left by a process that died without removing it. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_lt(strlen(path), sizeof(addr.sun_path));
	memcpy(addr.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	close(fd);
}

Test(ctl, stale_socket_nobody_listens_on_is_replaced)
{
	struct ctl_server *srv;

	make_stale_socket(tmp.path);
	cr_assert_eq(conn_open(tmp.path), -ECONNREFUSED, "the socket file is stale");
	srv = ctl_test_server(tmp.path, 0);
	assert_serves(tmp.path);
	ctl_server_destroy(srv);
}

Test(ctl, socket_another_server_listens_on_is_refused_and_keeps_working)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);
	struct ctl_error err;

	cr_assert_eq(create_error(tmp.path, &err), -EADDRINUSE);
	cr_assert_eq(err.result, CTL_PATH_IN_USE);
	cr_assert_not_null(strstr(err.message, tmp.path), "%s", err.message);
	cr_assert_not_null(strstr(err.message, "another process listens"), "%s", err.message);
	assert_serves(tmp.path);
	ctl_server_destroy(srv);
}

Test(ctl, existing_path_that_is_not_a_socket_is_refused_and_left_intact)
{
	char dir[200], link[200], buf[16] = { 0 };
	struct ctl_error err;
	int fd;

	fd = open(tmp.path, O_CREAT | O_WRONLY, 0644);
	cr_assert_eq(write(fd, "keep me", 7), 7);
	close(fd);
	cr_assert_eq(create_error(tmp.path, &err), -EEXIST);
	cr_assert_eq(err.result, CTL_PATH_NOT_SOCKET);
	cr_assert_not_null(strstr(err.message, "is not a socket"), "%s", err.message);
	fd = open(tmp.path, O_RDONLY);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "keep me");
	close(fd);

	snprintf(dir, sizeof(dir), "%s/adir", tmp.dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(create_error(dir, &err), -EEXIST);
	cr_assert_eq(err.result, CTL_PATH_NOT_SOCKET);

	/* a dangling symlink is not followed: its target is never created */
	snprintf(link, sizeof(link), "%s/link", tmp.dir);
	cr_assert_eq(symlink("/tmp/thpvm-ctl-never-created", link), 0);
	cr_assert_eq(create_error(link, &err), -EEXIST);
	cr_assert_eq(access("/tmp/thpvm-ctl-never-created", F_OK), -1);
}

Test(ctl, path_too_long_for_sun_path_is_refused_107_bytes_fit)
{
	struct sockaddr_un addr;
	char path[300];
	struct ctl_error err;
	struct ctl_server *srv;
	size_t base = strlen(tmp.dir) + 1;

	/* exactly sizeof(sun_path) - 1 bytes: the longest that fits */
	snprintf(path, sizeof(path), "%s/", tmp.dir);
	memset(path + base, 'a', sizeof(addr.sun_path) - 1 - base);
	path[sizeof(addr.sun_path) - 1] = '\0';
	srv = ctl_test_server(path, 0);
	assert_serves(path);
	ctl_server_destroy(srv);

	path[sizeof(addr.sun_path) - 1] = 'a';
	path[sizeof(addr.sun_path)] = '\0';
	cr_assert_eq(create_error(path, &err), -ENAMETOOLONG);
	cr_assert_eq(err.result, CTL_PATH_TOO_LONG);
	cr_assert_not_null(strstr(err.message, "108 bytes"), "%s", err.message);
	cr_assert_eq(access(path, F_OK), -1);
}

Test(ctl, missing_directory_is_refused_with_its_reason)
{
	char path[200];
	struct ctl_error err;

	snprintf(path, sizeof(path), "%s/no/such/dir/vm.sock", tmp.dir);
	cr_assert_eq(create_error(path, &err), -ENOENT);
	cr_assert_eq(err.result, CTL_PATH_NO_DIR);
	cr_assert_not_null(strstr(err.message, "directory does not exist"), "%s", err.message);
	cr_assert_eq(create_error("", &err), -ENOENT);
}

static int child_create_expect_eacces(void *arg, int reason_fd)
{
	struct ctl_error err;
	int ret = become_nobody(reason_fd);

	if (ret)
		return ret;
	ret = create_error(arg, &err);
	if (ret != -EACCES || err.result != CTL_PATH_ACCESS || !strstr(err.message, "Permission denied"))
		return child_fail(reason_fd, 1, "create as nobody: %d %s", ret, err.message);
	return 0;
}

Test(ctl, directory_without_write_permission_is_refused)
{
	char reason[256];

	need_root();
	chmod(tmp.dir, 0755);
	cr_assert_eq(run_in_child(child_create_expect_eacces, tmp.path, reason, sizeof(reason)), 0, "%s", reason);
	cr_assert_eq(access(tmp.path, F_OK), -1);
}

Test(ctl, connections_over_the_limit_get_an_error_and_are_closed)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 3);
	struct ctl_server_stats st;
	int fds[3], extra;
	json_t *r;

	for (int i = 0; i < 3; i++) {
		fds[i] = conn_open(tmp.path);
		cr_assert_geq(fds[i], 0);
		r = conn_call(fds[i], "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}}\n");
		reply_result(r);
		json_decref(r);
	}
	extra = conn_open(tmp.path);
	cr_assert_geq(extra, 0);
	r = conn_recv(extra);
	cr_assert_not_null(strstr(reply_error(r, "too_many_clients"), "3 connected"));
	json_decref(r);
	cr_assert(conn_closed(extra));
	close(extra);
	ctl_server_get_stats(srv, &st);
	cr_assert_eq(st.refused_full, 1);
	cr_assert_eq(st.clients, 3);
	cr_assert_not_null(strstr(ctl_test_log_text(), "3 clients connected, the maximum"));
	/* the others are still served; a freed slot is taken again */
	r = conn_call(fds[1], "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}}\n");
	reply_result(r);
	json_decref(r);
	close(fds[0]);
	for (int tries = 0;; tries++) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		ctl_server_get_stats(srv, &st);
		if (st.clients == 2)
			break;
		cr_assert_lt(tries, 500, "the server did not notice a closed client");
		nanosleep(&pause, NULL);
	}
	assert_serves(tmp.path);
	close(fds[1]);
	close(fds[2]);
	ctl_server_destroy(srv);
}

Test(ctl, stop_closes_clients_destroy_removes_only_its_own_socket)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);
	struct ctl_server *other;
	int fd = conn_open(tmp.path);
	char path2[200];

	cr_assert_geq(fd, 0);
	cr_assert_eq(ctl_server_stop(srv), 0);
	cr_assert(conn_closed(fd), "a stopped server closes its clients");
	cr_assert_eq(ctl_server_stop(srv), 0, "stop is idempotent");
	cr_assert_eq(access(tmp.path, F_OK), -1, "stop removes the socket");
	close(fd);
	ctl_server_destroy(srv);

	/* somebody replaced our socket: destroy must not remove theirs */
	snprintf(path2, sizeof(path2), "%s/vm2.sock", tmp.dir);
	other = ctl_test_server(path2, 0);
	cr_assert_eq(unlink(path2), 0);
	cr_assert_eq(close(open(path2, O_CREAT | O_WRONLY, 0600)), 0);
	ctl_server_destroy(other);
	cr_assert_eq(access(path2, F_OK), 0, "a file that is not our socket is left alone");
}

Test(ctl, a_server_created_but_not_started_queues_connections_until_start)
{
	struct ctl_server_config cfg = { .path = tmp.path, .log = ctl_test_log };
	struct ctl_server *srv;
	struct ctl_error err;
	int fd;
	json_t *r;

	cr_assert_eq(ctl_server_create(&srv, &cfg, &err), 0, "%s", err.message);
	ctl_test_register(srv);
	fd = conn_open(tmp.path);
	cr_assert_geq(fd, 0, "the backlog holds the connection");
	conn_send(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 20, \"b\": 22}}\n");
	cr_assert_eq(ctl_server_start(srv), 0);
	cr_assert_eq(ctl_server_start(srv), -EALREADY);
	r = conn_recv(fd);
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 42);
	json_decref(r);
	close(fd);
	ctl_server_destroy(srv);

	/* destroying a server never started removes its socket too */
	cr_assert_eq(ctl_server_create(&srv, &cfg, &err), 0, "%s", err.message);
	ctl_server_destroy(srv);
	cr_assert_eq(access(tmp.path, F_OK), -1);
}

static unsigned count_lines(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

Test(ctl, out_of_descriptors_is_logged_without_spinning_and_recovers)
{
	struct ctl_server *srv = ctl_test_server(tmp.path, 0);
	struct timespec wait = { .tv_nsec = 350 * 1000 * 1000 };
	struct rlimit old, low;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), lowest;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	unsigned logged;
	json_t *r;

	cr_assert_geq(fd, 0);
	lowest = dup(0);
	cr_assert_geq(lowest, 0);
	close(lowest);
	memcpy(addr.sun_path, tmp.path, strlen(tmp.path) + 1);
	/* no descriptor can be allocated any more: the server's accept fails with EMFILE */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	nanosleep(&wait, NULL);
	logged = count_lines(ctl_test_log_text(), "accept failed: Too many open files; retrying in 100 ms");
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert(logged >= 1 && logged <= 6, "%u log lines in 350 ms: %s", logged, ctl_test_log_text());
	{
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}}\n");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 2, "served once descriptors are back");
	json_decref(r);
	close(fd);
	ctl_server_destroy(srv);
}
