/* SPDX-License-Identifier: MIT */
/*
 * The control server: one thread polls the listening socket and its
 * clients, frames requests by newline in a fixed buffer per client, and
 * calls handlers one at a time. A client with an unsent reply is not read
 * from until the reply is out, so memory per client stays bounded by one
 * line in and one reply out whatever the client does.
 */
#include "config.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define MAX_CLIENTS_LIMIT 1024
#define LISTEN_BACKLOG 16

struct ctl_client {
	int fd;
	uid_t uid;
	pid_t pid;
	char *in;          /* CTL_LINE_MAX bytes while connected */
	size_t in_start;   /* first unconsumed byte */
	size_t in_len;     /* bytes held */
	bool discarding;   /* inside an oversized line: drop up to its newline */
	bool eof;          /* the client closed its sending side */
	char *out;         /* reply not yet sent, or NULL */
	size_t out_len, out_off;
};

struct registered {
	struct ctl_command cmd;
	void *ctx;
};

struct ctl_server {
	char *path;
	struct ctl_sock_id sock_id;
	int listen_fd;
	int wake_fd; /* eventfd: a stop request */
	uid_t uid;
	unsigned max_clients;
	struct ctl_client *clients;
	struct pollfd *pfds;
	struct ctl_client **pfd_client;
	void (*log)(void *arg, const char *line);
	void *log_arg;

	pthread_mutex_t reg_lock; /* serialises writers of commands[]; readers use nr_commands */
	struct registered commands[CTL_MAX_COMMANDS];
	unsigned nr_commands; /* published with release after the entry is written */

	pthread_t thread;
	bool started, joined;
	bool stopping;   /* set by the thread when it saw a stop request */
	bool in_handler; /* the thread is inside a handler (seen by a child after fork) */
	bool forgotten;  /* forget_after_fork ran on this thread inside a handler */
	/* the handler's connection and request id, for ctl_server_event(); NULL outside a handler */
	struct ctl_client *cur;
	json_t *cur_id;
	struct ctl_server_stats stats;
};

#define STAT_ADD(srv, field, n) __atomic_fetch_add(&(srv)->stats.field, (n), __ATOMIC_RELAXED)

__attribute__((format(printf, 2, 3))) static void server_log(struct ctl_server *srv, const char *fmt, ...)
{
	char line[CTL_MESSAGE_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (srv->log)
		srv->log(srv->log_arg, line);
	else
		fprintf(stderr, "thpvm: ctl %s: %s\n", srv->path, line);
}

/* ---- dispatch ---- */

static const struct registered *find_command(struct ctl_server *srv, const char *name)
{
	unsigned n = __atomic_load_n(&srv->nr_commands, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(srv->commands[i].cmd.name, name))
			return &srv->commands[i];
	return NULL;
}

/* The request's "id", "cmd" and validated "args"; NULL cmd with err set when the request is refused. */
static const struct registered *parse_request(struct ctl_server *srv, json_t *req, json_t **args,
					      struct ctl_error *err)
{
	const struct registered *r;
	const char *key, *name;
	json_t *v;

	if (!json_is_object(req)) {
		ctl_fail(err, CTL_NOT_OBJECT, "a request must be a JSON object like {\"cmd\": \"help\"}, got %s",
			 json_is_array(req) ? "an array" : "a scalar");
		return NULL;
	}
	json_object_foreach(req, key, v) {
		if (strcmp(key, "cmd") && strcmp(key, "args") && strcmp(key, "id")) {
			ctl_fail(err, CTL_UNKNOWN_FIELD, "request has unknown field '%.48s' (fields: cmd, args, id)", key);
			return NULL;
		}
	}
	v = json_object_get(req, "cmd");
	if (!json_is_string(v)) {
		ctl_fail(err, CTL_NO_CMD, v ? "request's \"cmd\" must be a string naming a command"
					    : "request has no \"cmd\" naming a command");
		return NULL;
	}
	name = json_string_value(v);
	r = find_command(srv, name);
	if (!r) {
		ctl_fail(err, CTL_UNKNOWN_CMD, "no command '%.48s' (try 'help')", name);
		return NULL;
	}
	v = json_object_get(req, "args");
	if (v && !json_is_object(v)) {
		ctl_fail(err, CTL_BAD_ARGS, "\"args\" of '%s' must be an object", name);
		return NULL;
	}
	*args = v ? json_incref(v) : json_object();
	if (!*args) {
		ctl_fail(err, CTL_NO_MEMORY, "out of memory for the arguments of '%s'", name);
		return NULL;
	}
	if (!ctl_args_validate(&r->cmd, *args, err)) {
		json_decref(*args);
		return NULL;
	}
	return r;
}

/*
 * One request line in, one reply line out (NULL for a blank line, or when
 * the server was forgotten inside the handler: a forked child's thread).
 * The line is not used after the handler runs.
 */
static char *handle_line(struct ctl_server *srv, const char *line, size_t len)
{
	struct ctl_error err = { .result = CTL_OK };
	const struct registered *r;
	json_t *req, *id = NULL, *args = NULL, *result = NULL, *reply;
	json_error_t jerr;
	char *out;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len && (line[0] == ' ' || line[0] == '\t')) {
		line++;
		len--;
	}
	if (!len)
		return NULL;
	STAT_ADD(srv, requests, 1);
	req = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		ctl_fail(&err, CTL_BAD_JSON, "request is not valid JSON: %s (column %d)", jerr.text, jerr.column);
		goto error;
	}
	if (json_is_object(req))
		id = json_object_get(req, "id");
	r = parse_request(srv, req, &args, &err);
	if (!r)
		goto error;

	srv->in_handler = true;
	srv->cur_id = id;
	result = r->cmd.handler(r->ctx, args, &err);
	srv->cur_id = NULL;
	srv->in_handler = false;
	json_decref(args);
	if (srv->forgotten) {
		json_decref(result);
		json_decref(req);
		return NULL;
	}
	if (err.result != CTL_OK) {
		json_decref(result);
		goto error;
	}
	if (!result)
		result = json_object();
	if (!json_is_object(result)) {
		json_decref(result);
		ctl_fail(&err, CTL_INTERNAL, "handler of '%s' returned a result that is not an object", r->cmd.name);
		goto error;
	}
	reply = json_pack("{s:b, s:o}", "ok", 1, "result", result);
	if (reply && id)
		json_object_set(reply, "id", id);
	out = reply ? ctl_json_line(reply) : NULL;
	json_decref(reply);
	if (!out) {
		ctl_fail(&err, CTL_INTERNAL, "reply of '%s' cannot be encoded as JSON", r->cmd.name);
		goto error;
	}
	json_decref(req);
	return out;

error:
	STAT_ADD(srv, errors, 1);
	out = ctl_error_line(&err, id);
	json_decref(req);
	return out;
}

char *ctl_server_handle_line(struct ctl_server *srv, const char *line, size_t len)
{
	return handle_line(srv, line, len);
}

/* ---- clients ---- */

static void client_close(struct ctl_server *srv, struct ctl_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		STAT_ADD(srv, clients, (uint64_t)-1);
	}
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Sends what is pending. Returns false when the client is gone. */
static bool client_flush(struct ctl_client *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		} else {
			return false;
		}
	}
	free(c->out);
	c->out = NULL;
	return true;
}

static bool client_queue(struct ctl_client *c, char *line)
{
	if (!line)
		return true;
	/* the rest of an event line a handler could not send whole goes first (ctl_server_event()) */
	if (c->out) {
		size_t rest = c->out_len - c->out_off, len = strlen(line);
		char *both = malloc(rest + len + 1);

		if (!both) {
			free(line);
			return false;
		}
		memcpy(both, c->out + c->out_off, rest);
		memcpy(both + rest, line, len + 1);
		free(c->out);
		free(line);
		line = both;
	}
	c->out = line;
	c->out_len = strlen(line);
	c->out_off = 0;
	return client_flush(c);
}

static bool line_too_long(struct ctl_server *srv, struct ctl_client *c)
{
	struct ctl_error err;

	ctl_fail(&err, CTL_LINE_TOO_LONG,
		 "request line longer than %d bytes (newline included): dropped up to its newline", CTL_LINE_MAX);
	STAT_ADD(srv, requests, 1);
	STAT_ADD(srv, errors, 1);
	STAT_ADD(srv, lines_too_long, 1);
	return client_queue(c, ctl_error_line(&err, NULL));
}

/*
 * Answers the complete lines held, stopping at a reply that could not be
 * sent at once (resumed after it is flushed). Returns false when the client
 * is gone or the server was forgotten in a handler.
 */
static bool client_process(struct ctl_server *srv, struct ctl_client *c)
{
	bool alive = true;

	while (alive && !c->out) {
		char *start = c->in + c->in_start;
		size_t held = c->in_len - c->in_start;
		char *nl = memchr(start, '\n', held);

		if (c->discarding) {
			size_t drop = nl ? (size_t)(nl - start) + 1 : held;

			STAT_ADD(srv, bytes_discarded, drop);
			c->in_start += drop;
			c->discarding = !nl;
			if (!nl)
				break;
			continue;
		}
		if (nl) {
			c->in_start += (size_t)(nl - start) + 1;
			srv->cur = c;
			alive = client_queue(c, handle_line(srv, start, (size_t)(nl - start)));
			srv->cur = NULL;
		} else if (held == CTL_LINE_MAX) {
			STAT_ADD(srv, bytes_discarded, held);
			c->in_start = c->in_len;
			c->discarding = true;
			alive = line_too_long(srv, c);
		} else if (c->eof && held) {
			/* the last request may lack its newline */
			c->in_start = c->in_len;
			srv->cur = c;
			alive = client_queue(c, handle_line(srv, start, held));
			srv->cur = NULL;
		} else {
			break;
		}
		if (srv->forgotten)
			return false;
	}
	if (c->in_start) {
		memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
		c->in_len -= c->in_start;
		c->in_start = 0;
	}
	return alive;
}

static bool client_read(struct ctl_server *srv, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, CTL_LINE_MAX - c->in_len, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		c->eof = true;
	c->in_len += (size_t)n;
	return client_process(srv, c);
}

/* Polls and serves one client; returns false when it is to be closed. */
static bool client_serve(struct ctl_server *srv, struct ctl_client *c, short revents)
{
	if (c->out) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return true;
		if (!client_flush(c))
			return false;
		if (!c->out && !client_process(srv, c))
			return false;
	} else if (revents & (POLLIN | POLLERR | POLLHUP)) {
		if (!client_read(srv, c))
			return false;
	}
	return !(c->eof && !c->out && c->in_len == 0);
}

int ctl_server_event(struct ctl_server *srv, json_t *event)
{
	struct ctl_client *c = srv->cur;
	char *line;
	size_t len;
	ssize_t n;

	if (!c || c->fd < 0 || c->out) {
		/* no connection to tell, or one not reading: an event is worth less than a bounded buffer */
		json_decref(event);
		STAT_ADD(srv, events_dropped, 1);
		return -EAGAIN;
	}
	if (srv->cur_id)
		json_object_set(event, "id", srv->cur_id);
	line = ctl_json_line(event);
	json_decref(event);
	if (!line)
		return -ENOMEM;
	len = strlen(line);
	do {
		n = send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		free(line);
		STAT_ADD(srv, events_dropped, 1);
		return -errno;
	}
	STAT_ADD(srv, events, 1);
	if ((size_t)n == len) {
		free(line);
		return 0;
	}
	/* part of the line went out: the rest must, before anything else on this connection */
	c->out = line;
	c->out_len = len;
	c->out_off = (size_t)n;
	return 0;
}

/* Refuses a connection with an error reply and closes it. */
static void refuse(int fd, enum ctl_result res, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(int fd, enum ctl_result res, const char *fmt, ...)
{
	struct ctl_error err = { .result = res };
	char *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	ctl_message_clean(err.message);
	line = ctl_error_line(&err, NULL);
	if (line && send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* the client is gone already: nothing to tell */
	}
	free(line);
	close(fd);
}

/* Accepts one connection; false when there is none left to accept now. */
static bool accept_one(struct ctl_server *srv)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_client *c = NULL;
	int fd;

	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == EINTR || e == ECONNABORTED)
			return true;
		if (e != EAGAIN && e != EWOULDBLOCK) {
			/* out of descriptors or memory: the backlog stays readable, so pause rather than spin */
			struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };

			server_log(srv, "accept failed: %s; retrying in 100 ms", strerror(e));
			nanosleep(&pause, NULL);
		}
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		server_log(srv, "cannot read the peer's credentials: %s; connection closed", strerror(errno));
		close(fd);
		return true;
	}
	if (cred.uid != srv->uid) {
		STAT_ADD(srv, refused_peer, 1);
		server_log(srv, "refused a connection from uid %u (pid %d): the control socket serves uid %u only",
			   (unsigned)cred.uid, (int)cred.pid, (unsigned)srv->uid);
		refuse(fd, CTL_PEER_REFUSED, "connection from uid %u refused: this control socket serves uid %u only",
		       (unsigned)cred.uid, (unsigned)srv->uid);
		return true;
	}
	for (unsigned i = 0; i < srv->max_clients && !c; i++)
		if (srv->clients[i].fd < 0)
			c = &srv->clients[i];
	if (!c) {
		STAT_ADD(srv, refused_full, 1);
		server_log(srv, "refused a connection from pid %d: %u clients connected, the maximum", (int)cred.pid,
			   srv->max_clients);
		refuse(fd, CTL_TOO_MANY_CLIENTS, "too many clients: %u connected, the maximum; try again later",
		       srv->max_clients);
		return true;
	}
	c->in = malloc(CTL_LINE_MAX);
	if (!c->in) {
		server_log(srv, "out of memory for a client; connection closed");
		close(fd);
		return true;
	}
	c->fd = fd;
	c->uid = cred.uid;
	c->pid = cred.pid;
	STAT_ADD(srv, connections, 1);
	STAT_ADD(srv, clients, 1);
	return true;
}

/* ---- the thread ---- */

static void server_free(struct ctl_server *srv)
{
	for (unsigned i = 0; srv->clients && i < srv->max_clients; i++) {
		free(srv->clients[i].in);
		free(srv->clients[i].out);
	}
	free(srv->clients);
	free(srv->pfds);
	free(srv->pfd_client);
	free(srv->path);
	free(srv);
}

static void *server_thread(void *arg)
{
	struct ctl_server *srv = arg;

	while (!srv->stopping) {
		unsigned n = 0;

		srv->pfds[n++] = (struct pollfd){ .fd = srv->wake_fd, .events = POLLIN };
		srv->pfds[n++] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
		for (unsigned i = 0; i < srv->max_clients; i++) {
			struct ctl_client *c = &srv->clients[i];

			if (c->fd < 0)
				continue;
			srv->pfd_client[n] = c;
			srv->pfds[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
		}
		if (poll(srv->pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			server_log(srv, "poll failed: %s; the control server stops", strerror(errno));
			break;
		}
		if (srv->pfds[0].revents) {
			srv->stopping = true;
			break;
		}
		for (unsigned i = 2; i < n; i++) {
			struct ctl_client *c = srv->pfd_client[i];

			if (!srv->pfds[i].revents)
				continue;
			if (!client_serve(srv, c, srv->pfds[i].revents)) {
				if (srv->forgotten)
					goto forgotten;
				client_close(srv, c);
			}
		}
		/* a few per round, so a connection storm cannot starve the clients */
		if (srv->pfds[1].revents & POLLIN)
			for (unsigned k = 0; k < 8 && accept_one(srv); k++)
				;
	}
	for (unsigned i = 0; i < srv->max_clients; i++)
		if (srv->clients[i].fd >= 0) {
			client_flush(&srv->clients[i]);
			client_close(srv, &srv->clients[i]);
		}
	return NULL;

forgotten:
	/* a forked child's copy of this thread: its parent's server is not ours to use */
	server_free(srv);
	return NULL;
}

/* ---- built-in help ---- */

static json_t *cmd_help(void *ctx, json_t *args, struct ctl_error *err)
{
	struct ctl_server *srv = ctx;
	const char *only = ctl_arg_string(args, "command", NULL);
	unsigned n = __atomic_load_n(&srv->nr_commands, __ATOMIC_ACQUIRE);
	json_t *list = json_array();

	if (!list)
		return ctl_fail(err, CTL_NO_MEMORY, "out of memory listing the commands");
	for (unsigned i = 0; i < n; i++)
		if (!only || !strcmp(only, srv->commands[i].cmd.name))
			json_array_append_new(list, ctl_command_describe(&srv->commands[i].cmd));
	if (only && !json_array_size(list)) {
		json_decref(list);
		return ctl_fail(err, CTL_UNKNOWN_CMD, "no command '%.48s' to describe", only);
	}
	return json_pack("{s:o}", "commands", list);
}

static const struct ctl_arg help_args[] = {
	{ .name = "command", .type = CTL_ARG_STRING, .help = "describe only this command" },
	{ 0 },
};

static const struct ctl_command help_command = {
	.name = "help",
	.help = "list the commands with their arguments",
	.args = help_args,
	.handler = cmd_help,
};

/* ---- the API ---- */

int ctl_server_create(struct ctl_server **out, const struct ctl_server_config *cfg, struct ctl_error *err)
{
	struct ctl_server *srv;
	int ret;

	*out = NULL;
	if (cfg->max_clients > MAX_CLIENTS_LIMIT)
		return ctl_fail_errno(err, CTL_SOCKET_FAILED, "at most %d control clients, not %u", MAX_CLIENTS_LIMIT,
				      cfg->max_clients);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return ctl_fail_errno(err, CTL_NO_MEMORY, "out of memory for the control server");
	srv->listen_fd = srv->wake_fd = -1;
	srv->uid = geteuid();
	srv->max_clients = cfg->max_clients ? cfg->max_clients : CTL_DEFAULT_MAX_CLIENTS;
	srv->log = cfg->log;
	srv->log_arg = cfg->log_arg;
	pthread_mutex_init(&srv->reg_lock, NULL);
	srv->path = cfg->path ? strdup(cfg->path) : NULL;
	srv->clients = calloc(srv->max_clients, sizeof(*srv->clients));
	srv->pfds = calloc(srv->max_clients + 2, sizeof(*srv->pfds));
	srv->pfd_client = calloc(srv->max_clients + 2, sizeof(*srv->pfd_client));
	if ((cfg->path && !srv->path) || !srv->clients || !srv->pfds || !srv->pfd_client) {
		ret = ctl_fail_errno(err, CTL_NO_MEMORY, "out of memory for the control server");
		goto fail;
	}
	for (unsigned i = 0; i < srv->max_clients; i++)
		srv->clients[i].fd = -1;
	srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->wake_fd < 0) {
		ret = ctl_fail_errno(err, CTL_SOCKET_FAILED, "cannot create the control server's eventfd: %s",
				     strerror(errno));
		goto fail;
	}
	ret = ctl_socket_listen(srv->path, LISTEN_BACKLOG, &srv->sock_id, err);
	if (ret < 0)
		goto fail;
	srv->listen_fd = ret;
	ret = ctl_server_register(srv, &help_command, srv);
	if (ret) {
		ctl_fail(err, CTL_INTERNAL, "cannot register the help command");
		goto fail_unlink;
	}
	*out = srv;
	return 0;

fail_unlink:
	ctl_socket_unlink_if_ours(srv->path, &srv->sock_id);
fail:
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	pthread_mutex_destroy(&srv->reg_lock);
	server_free(srv);
	return ret;
}

int ctl_server_register(struct ctl_server *srv, const struct ctl_command *cmd, void *ctx)
{
	struct ctl_error err;
	unsigned n;
	int ret = 0;

	if (!ctl_command_check(cmd, &err)) {
		server_log(srv, "%s", err.message);
		return -EINVAL;
	}
	pthread_mutex_lock(&srv->reg_lock);
	n = srv->nr_commands;
	if (find_command(srv, cmd->name)) {
		ret = -EEXIST;
	} else if (n == CTL_MAX_COMMANDS) {
		ret = -ENOSPC;
	} else {
		srv->commands[n] = (struct registered){ .cmd = *cmd, .ctx = ctx };
		__atomic_store_n(&srv->nr_commands, n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&srv->reg_lock);
	return ret;
}

int ctl_server_start(struct ctl_server *srv)
{
	sigset_t all, old;
	int ret;

	if (srv->started)
		return -EALREADY;
	/* vCPU kicks and terminal signals belong to other threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&srv->thread, NULL, server_thread, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	srv->started = true;
	return 0;
}

int ctl_server_open(struct ctl_server **out, const struct ctl_server_config *cfg, struct ctl_error *err)
{
	int ret = ctl_server_create(out, cfg, err);

	if (ret)
		return ret;
	ret = ctl_server_start(*out);
	if (ret) {
		ctl_server_destroy(*out);
		*out = NULL;
		return ctl_fail_errno(err, CTL_SOCKET_FAILED, "cannot start the control server thread: %s",
				      strerror(-ret));
	}
	return 0;
}

void ctl_server_request_stop(struct ctl_server *srv)
{
	uint64_t one = 1;

	if (write(srv->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: a stop is pending */
	}
}

/* Closes the listening socket (connections still in its backlog are reset) and removes our socket file. */
static void release_socket(struct ctl_server *srv)
{
	if (srv->listen_fd < 0)
		return;
	close(srv->listen_fd);
	srv->listen_fd = -1;
	ctl_socket_unlink_if_ours(srv->path, &srv->sock_id);
}

int ctl_server_stop(struct ctl_server *srv)
{
	if (!srv->started || srv->joined)
		return 0;
	if (pthread_equal(pthread_self(), srv->thread))
		return -EDEADLK;
	ctl_server_request_stop(srv);
	pthread_join(srv->thread, NULL);
	srv->joined = true;
	release_socket(srv);
	return 0;
}

void ctl_server_destroy(struct ctl_server *srv)
{
	if (!srv)
		return;
	if (ctl_server_stop(srv)) {
		server_log(srv, "ctl_server_destroy called from a handler: the server is left running");
		return;
	}
	for (unsigned i = 0; i < srv->max_clients; i++)
		client_close(srv, &srv->clients[i]);
	release_socket(srv);
	close(srv->wake_fd);
	pthread_mutex_destroy(&srv->reg_lock);
	server_free(srv);
}

void ctl_server_forget_after_fork(struct ctl_server *srv)
{
	if (!srv)
		return;
	/* no locks, no unlink, no join: those belong to the parent */
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	close(srv->wake_fd);
	srv->listen_fd = srv->wake_fd = -1;
	for (unsigned i = 0; i < srv->max_clients; i++) {
		if (srv->clients[i].fd >= 0)
			close(srv->clients[i].fd);
		srv->clients[i].fd = -1;
	}
	if (srv->started && !srv->joined && srv->in_handler && pthread_equal(pthread_self(), srv->thread)) {
		/* we are the server thread's copy, inside a handler: free when it returns */
		srv->forgotten = true;
		return;
	}
	server_free(srv);
}

const char *ctl_server_path(const struct ctl_server *srv)
{
	return srv->path;
}

void ctl_server_get_stats(const struct ctl_server *srv, struct ctl_server_stats *stats)
{
	stats->connections = __atomic_load_n(&srv->stats.connections, __ATOMIC_RELAXED);
	stats->refused_peer = __atomic_load_n(&srv->stats.refused_peer, __ATOMIC_RELAXED);
	stats->refused_full = __atomic_load_n(&srv->stats.refused_full, __ATOMIC_RELAXED);
	stats->requests = __atomic_load_n(&srv->stats.requests, __ATOMIC_RELAXED);
	stats->errors = __atomic_load_n(&srv->stats.errors, __ATOMIC_RELAXED);
	stats->lines_too_long = __atomic_load_n(&srv->stats.lines_too_long, __ATOMIC_RELAXED);
	stats->bytes_discarded = __atomic_load_n(&srv->stats.bytes_discarded, __ATOMIC_RELAXED);
	stats->clients = __atomic_load_n(&srv->stats.clients, __ATOMIC_RELAXED);
	stats->events = __atomic_load_n(&srv->stats.events, __ATOMIC_RELAXED);
	stats->events_dropped = __atomic_load_n(&srv->stats.events_dropped, __ATOMIC_RELAXED);
}
