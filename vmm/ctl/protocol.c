/* SPDX-License-Identifier: MIT */
/* Wire helpers shared by server and client: reply lines, sending a whole buffer. */
#include "config.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "internal.h"
#include "util/clock.h"

char *ctl_json_line(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT), *line;
	size_t len;

	if (!text)
		return NULL;
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

char *ctl_error_line(const struct ctl_error *err, json_t *id)
{
	const char *msg = err->message[0] ? err->message : ctl_result_str(err->result);
	json_t *reply = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", ctl_result_code(err->result),
				  "message", msg);
	char *line;

	/* a message JSON refuses (ctl_message_clean() was bypassed) still gets its reply: the result's own text */
	if (!reply)
		reply = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", ctl_result_code(err->result),
				  "message", ctl_result_str(err->result));
	if (!reply)
		return NULL;
	if (id)
		json_object_set(reply, "id", id);
	line = ctl_json_line(reply);
	json_decref(reply);
	return line;
}

int ctl_send_all(int fd, const char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? util_mono_ms() + timeout_ms : 0;

	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int wait = -1;

			if (timeout_ms >= 0) {
				int64_t left = deadline - util_mono_ms();
				if (left <= 0)
					return -ETIMEDOUT;
				wait = (int)left;
			}
			if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}
