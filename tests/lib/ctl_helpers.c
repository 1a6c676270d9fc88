/* SPDX-License-Identifier: MIT */
#include "config.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "ctl_helpers.h"

void ctl_tmp_make(struct ctl_tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/thpvm-ctl-XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir), "mkdtemp: %s", strerror(errno));
	snprintf(t->path, sizeof(t->path), "%s/vm.sock", t->dir);
}

void ctl_tmp_cleanup(struct ctl_tmp *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
		if (unlink(p) && errno == EISDIR)
			rmdir(p);
	}
	closedir(d);
	rmdir(t->dir);
}

/* ---- test commands ---- */

static int running, max_running;

static json_t *h_add(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_pack("{s:I}", "sum", (json_int_t)(ctl_arg_int(args, "a", 0) + ctl_arg_int(args, "b", 0)));
}

static json_t *h_echo(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_pack("{s:O}", "args", args);
}

static json_t *h_fail(void *ctx, json_t *args, struct ctl_error *err)
{
	return ctl_fail(err, CTL_BAD_STATE, "the test VM is not paused");
}

static json_t *h_bad_result(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_array();
}

static json_t *h_sleep(void *ctx, json_t *args, struct ctl_error *err)
{
	long long ms = ctl_arg_int(args, "ms", 0);
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
	int seen = __atomic_load_n(&max_running, __ATOMIC_SEQ_CST);

	while (now > seen && !__atomic_compare_exchange_n(&max_running, &seen, now, false, __ATOMIC_SEQ_CST,
							  __ATOMIC_SEQ_CST))
		;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	__atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
	return json_pack("{s:I}", "slept_ms", (json_int_t)ms);
}

static json_t *h_big(void *ctx, json_t *args, struct ctl_error *err)
{
	size_t n = (size_t)ctl_arg_int(args, "bytes", 0);
	char *s = malloc(n + 1);
	json_t *r;

	if (!s)
		return ctl_fail(err, CTL_NO_MEMORY, "no memory for %zu bytes", n);
	memset(s, 'x', n);
	s[n] = '\0';
	r = json_pack("{s:s}", "data", s);
	free(s);
	return r;
}

int ctl_test_max_concurrency(void)
{
	return __atomic_load_n(&max_running, __ATOMIC_SEQ_CST);
}

static const struct ctl_arg add_args[] = {
	{ .name = "a", .type = CTL_ARG_INT, .required = true, .help = "first" },
	{ .name = "b", .type = CTL_ARG_INT, .required = true, .help = "second" },
	{ 0 },
};
static const char *const modes[] = { "tlb", "balanced", NULL };
static const struct ctl_arg echo_args[] = {
	{ .name = "value", .type = CTL_ARG_OBJECT, .help = "any object" },
	{ .name = "n", .type = CTL_ARG_INT, .min = -5, .max = 5, .help = "small int" },
	{ .name = "s", .type = CTL_ARG_STRING, .choices = modes, .help = "a mode" },
	{ .name = "flag", .type = CTL_ARG_BOOL, .help = "a flag" },
	{ .name = "list", .type = CTL_ARG_ARRAY, .items = CTL_ARG_UINT, .min = 1, .max = 3, .help = "uints" },
	{ .name = "text", .type = CTL_ARG_STRING, .help = "any string" },
	{ .name = "real", .type = CTL_ARG_NUMBER, .min = 0, .max = 1, .help = "a fraction" },
	{ 0 },
};
static const struct ctl_arg sleep_args[] = {
	{ .name = "ms", .type = CTL_ARG_UINT, .required = true, .min = 0, .max = 10000, .help = "milliseconds" },
	{ 0 },
};
static const struct ctl_arg big_args[] = {
	{ .name = "bytes", .type = CTL_ARG_UINT, .required = true, .min = 0, .max = 64 << 20, .help = "size" },
	{ 0 },
};
static const struct ctl_command test_commands[] = {
	{ .name = "add", .help = "add two integers", .args = add_args, .handler = h_add },
	{ .name = "echo", .help = "return the arguments", .args = echo_args, .handler = h_echo },
	{ .name = "fail", .help = "always fails", .handler = h_fail },
	{ .name = "bad_result", .help = "returns a non-object", .handler = h_bad_result },
	{ .name = "sleep", .help = "block the server thread", .args = sleep_args, .handler = h_sleep },
	{ .name = "big", .help = "a large reply", .args = big_args, .handler = h_big },
};

void ctl_test_register(struct ctl_server *srv)
{
	for (size_t i = 0; i < sizeof(test_commands) / sizeof(test_commands[0]); i++)
		cr_assert_eq(ctl_server_register(srv, &test_commands[i], NULL), 0, "register %s",
			     test_commands[i].name);
}

/* ---- log capture ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[8192];

void ctl_test_log(void *arg, const char *line)
{
	size_t len;

	pthread_mutex_lock(&log_lock);
	len = strlen(log_buf);
	snprintf(log_buf + len, sizeof(log_buf) - len, "%s\n", line);
	pthread_mutex_unlock(&log_lock);
}

const char *ctl_test_log_text(void)
{
	static char copy[sizeof(log_buf)];

	pthread_mutex_lock(&log_lock);
	memcpy(copy, log_buf, sizeof(copy));
	pthread_mutex_unlock(&log_lock);
	return copy;
}

struct ctl_server *ctl_test_server(const char *path, unsigned max_clients)
{
	struct ctl_server_config cfg = { .path = path, .max_clients = max_clients, .log = ctl_test_log };
	struct ctl_server *srv;
	struct ctl_error err;
	int ret;

	ret = ctl_server_create(&srv, &cfg, &err);
	cr_assert_eq(ret, 0, "ctl_server_create(%s): %d %s", path, ret, err.message);
	ctl_test_register(srv);
	cr_assert_eq(ctl_server_start(srv), 0);
	return srv;
}

/* ---- raw clients ---- */

/* What was read past a reply's newline, per descriptor: the next replies. */
#define MAX_FDS 1024
static struct {
	char *buf;
	size_t len, cap;
} pending[MAX_FDS];

static void pending_reset(int fd)
{
	if (fd >= 0 && fd < MAX_FDS)
		pending[fd].len = 0;
}

int conn_open(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return -e;
	}
	pending_reset(fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

void conn_send(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		text += n;
		len -= (size_t)n;
	}
}

json_t *conn_recv(int fd)
{
	json_error_t jerr;
	char *nl;
	json_t *v;

	cr_assert(fd >= 0 && fd < MAX_FDS);
	for (;;) {
		ssize_t n;

		nl = pending[fd].len ? memchr(pending[fd].buf, '\n', pending[fd].len) : NULL;
		if (nl)
			break;
		if (pending[fd].cap - pending[fd].len < 65536) {
			pending[fd].cap = pending[fd].cap ? pending[fd].cap * 2 : 1 << 17;
			pending[fd].buf = realloc(pending[fd].buf, pending[fd].cap);
			cr_assert_not_null(pending[fd].buf);
		}
		n = recv(fd, pending[fd].buf + pending[fd].len, pending[fd].cap - pending[fd].len, 0);
		/* sockets with a timeout are not restarted after a signal (SIGCHLD from our children) */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			cr_assert(n == 0 || errno == ECONNRESET, "recv: %s", strerror(errno));
			cr_assert_eq(pending[fd].len, 0, "connection ended inside a reply");
			return NULL;
		}
		pending[fd].len += (size_t)n;
	}
	v = json_loadb(pending[fd].buf, (size_t)(nl - pending[fd].buf) + 1, 0, &jerr);
	cr_assert_not_null(v, "reply is not JSON: %s: %.*s", jerr.text, (int)(nl - pending[fd].buf), pending[fd].buf);
	pending[fd].len -= (size_t)(nl - pending[fd].buf) + 1;
	memmove(pending[fd].buf, nl + 1, pending[fd].len);
	return v;
}

json_t *conn_call(int fd, const char *line)
{
	json_t *r;

	conn_send(fd, line);
	r = conn_recv(fd);
	cr_assert_not_null(r, "no reply to %s", line);
	return r;
}

bool conn_closed(int fd)
{
	char c;
	ssize_t n;

	if (fd >= 0 && fd < MAX_FDS && pending[fd].len)
		return false;
	do
		n = recv(fd, &c, 1, 0);
	while (n < 0 && errno == EINTR);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

const char *reply_error(json_t *reply, const char *code)
{
	json_t *e = json_object_get(reply, "error");
	char *text = json_dumps(reply, JSON_COMPACT);

	cr_assert(json_is_false(json_object_get(reply, "ok")), "expected an error %s, got %s", code, text);
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code, "reply %s", text);
	cr_assert(json_is_string(json_object_get(e, "message")) &&
		  strlen(json_string_value(json_object_get(e, "message"))) > 10 &&
		  !strchr(json_string_value(json_object_get(e, "message")), '\n'),
		  "error message must be one line naming the problem: %s", text);
	free(text);
	return json_string_value(json_object_get(e, "message"));
}

json_t *reply_result(json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	cr_assert(json_is_true(json_object_get(reply, "ok")), "expected ok, got %s", text);
	cr_assert(json_is_object(json_object_get(reply, "result")), "no result object in %s", text);
	free(text);
	return json_object_get(reply, "result");
}

long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct ctl_tmp ctl_fix_tmp;
struct ctl_server *ctl_fix_srv;

void ctl_fixture_init(void)
{
	ctl_tmp_make(&ctl_fix_tmp);
	ctl_fix_srv = ctl_test_server(ctl_fix_tmp.path, 0);
}

void ctl_fixture_fini(void)
{
	ctl_server_destroy(ctl_fix_srv);
	ctl_fix_srv = NULL;
	ctl_tmp_cleanup(&ctl_fix_tmp);
}

void bad_case_check(int fd, const struct bad_case *c, unsigned index)
{
	json_t *r = conn_call(fd, c->line);
	const char *msg = reply_error(r, c->code);

	cr_assert_not_null(strstr(msg, c->in_message), "case %u %s: message '%s' lacks '%s'", index, c->line, msg,
			   c->in_message);
	json_decref(r);
}
