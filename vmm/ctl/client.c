/* SPDX-License-Identifier: MIT */
/* The control client: connect, one request line out, one reply line in (after any event lines it asked for). */
#include "config.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "util/clock.h"

/* Replies can be large (stats with per-extent detail) but not unbounded. */
#define REPLY_MAX (64u << 20)

/* Milliseconds left before deadline (-1: none), 0 when passed. */
static int left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - util_mono_ms();
	return left > 0 ? (int)(left > 1 << 30 ? 1 << 30 : left) : 0;
}

int ctl_client_connect(const char *path, int timeout_ms, struct ctl_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int64_t deadline = timeout_ms >= 0 ? util_mono_ms() + timeout_ms : -1;
	size_t len = strlen(path);
	struct stat st;
	int fd, e;

	if (!len)
		return ctl_fail_errno(err, CTL_NO_SOCKET, "empty control socket path");
	if (len >= sizeof(addr.sun_path))
		return ctl_fail_errno(err, CTL_PATH_TOO_LONG, "control socket path is %zu bytes long, at most %zu fit: %.60s...",
				      len, sizeof(addr.sun_path) - 1, path);
	memcpy(addr.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ctl_fail_errno(err, CTL_NO_MEMORY, "cannot create a socket: %s", strerror(errno));
	/* a unix connect fails with EAGAIN while the listener's backlog is full: retry until the deadline */
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN && left_ms(deadline)) {
			nanosleep(&pause, NULL);
			continue;
		}
		close(fd);
		switch (e) {
		case EAGAIN:
			return ctl_fail_errno(err, CTL_TIMEOUT, "%s: the VM accepts no connection (backlog full) within %d ms",
					      path, timeout_ms);
		case ENOENT:
		case ENOTDIR:
			return ctl_fail_errno(err, CTL_NO_SOCKET, "no such socket: %s", path);
		case EACCES:
		case EPERM:
			return ctl_fail_errno(err, CTL_PATH_ACCESS, "permission denied: %s", path);
		case ECONNREFUSED:
			if (!stat(path, &st) && !S_ISSOCK(st.st_mode))
				return ctl_fail_errno(err, CTL_CONN_REFUSED, "%s is not a socket", path);
			return ctl_fail_errno(err, CTL_CONN_REFUSED,
					      "connection refused: nobody listens on %s (a VM that exited?)", path);
		default:
			return ctl_fail_errno(err, CTL_CONN_REFUSED, "cannot connect to %s: %s", path, strerror(e));
		}
	}
	return fd;
}

/* Lines in from the server: what was read past a line stays for the next (an event, then the reply). */
struct line_reader {
	char *buf;
	size_t cap, len, start;
};

/* Reads up to the next newline; returns the line (without it, valid until the next call) or NULL with err set. */
static char *read_line(int fd, struct line_reader *lr, int64_t deadline, int timeout_ms, struct ctl_error *err)
{
	char *nl;

	if (lr->start) {
		memmove(lr->buf, lr->buf + lr->start, lr->len - lr->start);
		lr->len -= lr->start;
		lr->start = 0;
	}
	if (!lr->buf && !(lr->buf = malloc(lr->cap = 4096))) {
		ctl_fail(err, CTL_NO_MEMORY, "out of memory for the reply");
		return NULL;
	}
	for (size_t seen = 0;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int ret;

		nl = memchr(lr->buf + seen, '\n', lr->len - seen);
		if (nl) {
			*nl = '\0';
			lr->start = (size_t)(nl - lr->buf) + 1;
			return lr->buf;
		}
		seen = lr->len;
		ret = poll(&pfd, 1, left_ms(deadline));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret == 0) {
			ctl_fail(err, CTL_TIMEOUT, "no reply within %d ms", timeout_ms);
			return NULL;
		}
		if (lr->len == lr->cap) {
			char *bigger = lr->cap < REPLY_MAX ? realloc(lr->buf, lr->cap * 2) : NULL;

			if (!bigger) {
				ctl_fail(err, CTL_BAD_REPLY, "reply longer than %u bytes", REPLY_MAX);
				return NULL;
			}
			lr->buf = bigger;
			lr->cap *= 2;
		}
		n = recv(fd, lr->buf + lr->len, lr->cap - lr->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			ctl_fail(err, CTL_CONN_CLOSED, "the VM closed the connection before replying%s%s",
				 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return NULL;
		}
		lr->len += (size_t)n;
	}
}

/* An event line (docs/ctl.md, "Events"): comes before a reply, is never one. */
static bool is_event(json_t *j)
{
	return json_is_object(j) && json_is_string(json_object_get(j, "event")) && !json_object_get(j, "ok");
}

static bool valid_reply(json_t *reply)
{
	json_t *ok = json_object_get(reply, "ok"), *e = json_object_get(reply, "error");

	if (json_is_true(ok))
		return json_is_object(json_object_get(reply, "result"));
	return json_is_false(ok) && json_is_string(json_object_get(e, "code")) &&
	       json_is_string(json_object_get(e, "message"));
}

int ctl_client_request(int fd, json_t *request, int timeout_ms, json_t **reply, struct ctl_error *err)
{
	return ctl_client_request_events(fd, request, timeout_ms, NULL, NULL, reply, err);
}

int ctl_client_request_events(int fd, json_t *request, int timeout_ms, ctl_event_fn on_event, void *arg,
			      json_t **reply, struct ctl_error *err)
{
	struct line_reader lr = { 0 };
	int64_t deadline = timeout_ms >= 0 ? util_mono_ms() + timeout_ms : -1;
	char *text = json_dumps(request, JSON_COMPACT), *line;
	json_error_t jerr;
	size_t len;
	int ret;

	*reply = NULL;
	if (!text)
		return ctl_fail_errno(err, CTL_NO_MEMORY, "cannot encode the request");
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return ctl_fail_errno(err, CTL_NO_MEMORY, "out of memory for the request");
	}
	line[len] = '\n';
	ret = ctl_send_all(fd, line, len + 1, left_ms(deadline));
	free(line);
	if (ret == -ETIMEDOUT)
		return ctl_fail_errno(err, CTL_TIMEOUT, "the VM takes no request within %d ms", timeout_ms);
	/* a refused connection (other uid, server full) still carries its error reply: read it */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return ctl_fail_errno(err, CTL_CONN_CLOSED, "cannot send the request: %s", strerror(-ret));
	for (;;) {
		line = read_line(fd, &lr, deadline, timeout_ms, err);
		if (!line) {
			free(lr.buf);
			return -ctl_result_errno(err->result);
		}
		*reply = json_loads(line, 0, &jerr);
		if (!is_event(*reply))
			break;
		if (on_event)
			on_event(*reply, arg);
		json_decref(*reply);
	}
	free(lr.buf);
	if (!*reply || !valid_reply(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		return ctl_fail_errno(err, CTL_BAD_REPLY, "the reply is not a control reply%s%s", jerr.text[0] ? ": " : "",
				      jerr.text);
	}
	return 0;
}

bool ctl_reply_error(json_t *reply, struct ctl_error *err)
{
	json_t *e = json_object_get(reply, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	enum ctl_result res = ctl_result_from_code(code);

	if (!code || !msg) {
		ctl_fail(err, CTL_BAD_REPLY, "the reply has no error code and message");
		return false;
	}
	if (res == CTL_NR_RESULTS)
		ctl_fail(err, CTL_FAILED, "%s: %s", code, msg);
	else
		ctl_fail(err, res, "%s", msg);
	return true;
}

int ctl_call(const char *path, const char *cmd, json_t *args, int timeout_ms, json_t **result, struct ctl_error *err)
{
	json_t *req, *reply;
	int fd, ret;

	*result = NULL;
	fd = ctl_client_connect(path, timeout_ms, err);
	if (fd < 0)
		return fd;
	req = args ? json_pack("{s:s, s:O}", "cmd", cmd, "args", args) : json_pack("{s:s}", "cmd", cmd);
	if (!req) {
		close(fd);
		return ctl_fail_errno(err, CTL_NO_MEMORY, "cannot build the request");
	}
	ret = ctl_client_request(fd, req, timeout_ms, &reply, err);
	json_decref(req);
	close(fd);
	if (ret)
		return ret;
	if (json_is_true(json_object_get(reply, "ok"))) {
		*result = json_incref(json_object_get(reply, "result"));
		json_decref(reply);
		return 0;
	}
	ctl_reply_error(reply, err);
	json_decref(reply);
	return -ctl_result_errno(err->result);
}
