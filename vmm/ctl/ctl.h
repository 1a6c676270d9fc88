/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a unix stream socket (mode 0600, same uid only) that
 * speaks one JSON object per line each way (docs/ctl.md). The server runs in
 * its own thread and calls command handlers from a declarative table, one at
 * a time, after validating their arguments against the command's schema.
 */
#ifndef THPVM_VMM_CTL_H
#define THPVM_VMM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm/result.h>

/*
 * Everything that can go wrong on the control path, both ends: the wire code
 * of an error reply is the name without CTL_ in lower case ("bad_json").
 */
#define CTL_RESULTS(X)                                                                             \
	X(CTL_OK, 0, "ok")                                                                         \
	/* requests (server -> client) */                                                          \
	X(CTL_BAD_JSON, EINVAL, "request is not valid JSON")                                      \
	X(CTL_NOT_OBJECT, EINVAL, "request is not a JSON object")                                 \
	X(CTL_NO_CMD, EINVAL, "request has no \"cmd\" string")                                    \
	X(CTL_UNKNOWN_FIELD, EINVAL, "request has a field other than cmd, args, id")              \
	X(CTL_UNKNOWN_CMD, ENOENT, "no such command")                                             \
	X(CTL_BAD_ARGS, EINVAL, "\"args\" is not a JSON object")                                  \
	X(CTL_UNKNOWN_ARG, EINVAL, "command has no such argument")                                \
	X(CTL_MISSING_ARG, EINVAL, "a required argument is missing")                              \
	X(CTL_ARG_TYPE, EINVAL, "argument has the wrong JSON type")                               \
	X(CTL_ARG_VALUE, ERANGE, "argument value outside its allowed range or set")               \
	X(CTL_LINE_TOO_LONG, EMSGSIZE, "request line longer than the maximum")                    \
	X(CTL_TOO_MANY_CLIENTS, EBUSY, "too many clients connected")                              \
	X(CTL_PEER_REFUSED, EPERM, "connection from another uid refused")                         \
	/* handlers (the VMM's commands) */                                                        \
	X(CTL_BAD_STATE, EBUSY, "command not possible in the VM's current state")                 \
	X(CTL_NO_RESOURCES, EAGAIN, "host resources exhausted (processes, memory, mappings)")     \
	X(CTL_UNSUPPORTED, EOPNOTSUPP, "not supported by this VM or host")                         \
	X(CTL_FAILED, EIO, "command failed")                                                      \
	X(CTL_INTERNAL, EPROTO, "internal error in the command handler")                          \
	X(CTL_NO_MEMORY, ENOMEM, "out of memory")                                                 \
	/* setting up the socket (server) */                                                       \
	X(CTL_PATH_TOO_LONG, ENAMETOOLONG, "socket path longer than a unix socket address holds") \
	X(CTL_PATH_NO_DIR, ENOENT, "directory of the socket path does not exist")                 \
	X(CTL_PATH_ACCESS, EACCES, "permission denied on the socket path")                        \
	X(CTL_PATH_NOT_SOCKET, EEXIST, "socket path exists and is not a socket")                  \
	X(CTL_PATH_IN_USE, EADDRINUSE, "another process listens on the socket path")              \
	X(CTL_SOCKET_FAILED, EIO, "cannot create the control socket")                             \
	/* talking to a server (client) */                                                         \
	X(CTL_NO_SOCKET, ENOENT, "no such socket")                                                \
	X(CTL_CONN_REFUSED, ECONNREFUSED, "connection refused (nobody listens on the socket)")    \
	X(CTL_TIMEOUT, ETIMEDOUT, "no reply within the timeout")                                  \
	X(CTL_CONN_CLOSED, ECONNRESET, "connection closed before a reply")                        \
	X(CTL_BAD_REPLY, EPROTO, "reply is not a valid control reply")

/* ctl_result_errno() is the positive errno of a result (0 for CTL_OK) */
THPVM_RESULT_DECLARE(ctl_result, enum ctl_result, CTL_RESULTS, CTL_NR_RESULTS);
/* Wire code: "bad_json" for CTL_BAD_JSON. */
const char *ctl_result_code(enum ctl_result res);

/* The one-line problem of a failed request, handler or call. */
#define CTL_MESSAGE_MAX 256
struct ctl_error {
	enum ctl_result result;
	char message[CTL_MESSAGE_MAX];
};

/*
 * Records res and a one-line message (control characters and broken UTF-8
 * replaced by '?', so the message stays one line JSON can carry whatever it
 * quotes and wherever it was cut). Returns NULL, so a handler can
 * `return ctl_fail(err, CTL_BAD_STATE, "vm is not paused");`.
 */
__attribute__((format(printf, 3, 4))) json_t *ctl_fail(struct ctl_error *err, enum ctl_result res,
							 const char *fmt, ...);
/* Same, returning -errno of res: for functions that return an int. */
__attribute__((format(printf, 3, 4))) int ctl_fail_errno(struct ctl_error *err, enum ctl_result res,
							 const char *fmt, ...);

/* ---- the command table ---- */

/* The largest request line, newline included; longer lines get CTL_LINE_TOO_LONG. */
#define CTL_LINE_MAX (64 * 1024)
#define CTL_MAX_COMMANDS 64
#define CTL_MAX_ARGS 16
#define CTL_DEFAULT_MAX_CLIENTS 16

enum ctl_arg_type {
	CTL_ARG_INT,    /* JSON integer, [min, max] when min or max is non-zero */
	CTL_ARG_UINT,   /* JSON integer >= 0, [min, max] likewise */
	CTL_ARG_NUMBER, /* JSON integer or real, [min, max] likewise */
	CTL_ARG_BOOL,   /* true / false */
	CTL_ARG_STRING, /* JSON string; length in [min, max] likewise; one of choices when given */
	CTL_ARG_OBJECT, /* JSON object, validated by the handler */
	CTL_ARG_ARRAY,  /* JSON array; length in [min, max] likewise; every element of type items */
	CTL_NR_ARG_TYPES
};

/* "uint", "string"... as shown by help and in type errors. */
const char *ctl_arg_type_str(enum ctl_arg_type type);

struct ctl_arg {
	const char *name;
	enum ctl_arg_type type;
	bool required;
	const char *help; /* one line */
	/* value range (numbers) or length range (strings, arrays); both 0: unbounded */
	long long min, max;
	/* CTL_ARG_STRING: NULL-terminated list of allowed values, or NULL */
	const char *const *choices;
	/* CTL_ARG_ARRAY: type of every element (a scalar type, not ARRAY/OBJECT ranges) */
	enum ctl_arg_type items;
};

/*
 * A handler runs on the server thread, one at a time, and may block (pause
 * waits for the vCPUs). args is the request's validated "args" object
 * (borrowed; {} when the request had none). On success it returns a new
 * reference to a JSON object (the reply's "result"), or NULL with err
 * untouched for an empty result {}. On failure it returns ctl_fail(err, ...).
 * It must not call ctl_server_stop() or ctl_server_destroy() on its own
 * server (use ctl_server_request_stop()).
 */
typedef json_t *(*ctl_handler_fn)(void *ctx, json_t *args, struct ctl_error *err);

struct ctl_command {
	const char *name; /* [a-z][a-z0-9_-]*, at most 32 characters */
	const char *help; /* one line */
	/* schema: at most CTL_MAX_ARGS, terminated by an entry with name NULL; NULL = no arguments */
	const struct ctl_arg *args;
	ctl_handler_fn handler;
};

/*
 * Checks args (a JSON object) against a command's schema: every argument is
 * known, required ones are present, each has its type and range. Returns
 * true, or false with err set naming the command and argument.
 */
bool ctl_args_validate(const struct ctl_command *cmd, json_t *args, struct ctl_error *err);
/* The command's description for help: {"name", "help", "args": [{"name", "type", ...}]}. */
json_t *ctl_command_describe(const struct ctl_command *cmd);
/* Whether a command's own declaration is sound (name, types, ranges); false with err naming the fault. */
bool ctl_command_check(const struct ctl_command *cmd, struct ctl_error *err);

/* Reading validated arguments in a handler: the default when the argument is absent. */
static inline long long ctl_arg_int(json_t *args, const char *name, long long dflt)
{
	json_t *v = json_object_get(args, name);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}
static inline bool ctl_arg_bool(json_t *args, const char *name, bool dflt)
{
	json_t *v = json_object_get(args, name);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}
static inline const char *ctl_arg_string(json_t *args, const char *name, const char *dflt)
{
	json_t *v = json_object_get(args, name);
	return json_is_string(v) ? json_string_value(v) : dflt;
}
static inline double ctl_arg_number(json_t *args, const char *name, double dflt)
{
	json_t *v = json_object_get(args, name);
	return json_is_number(v) ? json_number_value(v) : dflt;
}

/* ---- the server ---- */

struct ctl_server;

struct ctl_server_config {
	const char *path;     /* filesystem path of the socket (copied) */
	unsigned max_clients; /* simultaneous connections; 0 = CTL_DEFAULT_MAX_CLIENTS */
	/* One line per event worth keeping (refused peers, full server, I/O errors);
	 * NULL prints "thpvm: ctl PATH: ..." on stderr. Called on the server thread. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/* Counters, for stats and tests. */
struct ctl_server_stats {
	uint64_t connections;     /* accepted and served */
	uint64_t refused_peer;    /* other uid (SO_PEERCRED) */
	uint64_t refused_full;    /* over max_clients */
	uint64_t requests;        /* request lines answered */
	uint64_t errors;          /* error replies among them */
	uint64_t lines_too_long;  /* oversized lines refused */
	uint64_t bytes_discarded; /* bytes of oversized lines dropped */
	uint64_t clients;         /* connected now */
	uint64_t events;          /* event lines sent before a reply (ctl_server_event()) */
	uint64_t events_dropped;  /* event lines dropped: the client was not reading */
};

/*
 * Creates the socket at cfg->path, mode 0600, and listens on it; no thread
 * yet (connections wait in the backlog). Refuses a path that is too long,
 * in a missing or forbidden directory, that exists and is not a socket, or
 * that another process listens on; a stale socket nobody listens on is
 * replaced. Registers the built-in "help". Returns 0 or -errno with err set.
 */
int ctl_server_create(struct ctl_server **out, const struct ctl_server_config *cfg, struct ctl_error *err);
/*
 * Adds a command (copied; the strings, schema and ctx must outlive the server).
 * Thread-safe, allowed before and after ctl_server_start(); commands are never
 * removed, so stop the server before tearing down what ctx points to.
 * Returns 0, -EEXIST (name taken), -ENOSPC (table full), -EINVAL (bad declaration).
 */
int ctl_server_register(struct ctl_server *srv, const struct ctl_command *cmd, void *ctx);
/* Starts the server thread (all signals blocked in it). Returns 0 or -errno. */
int ctl_server_start(struct ctl_server *srv);
/* create + start in one call. */
int ctl_server_open(struct ctl_server **out, const struct ctl_server_config *cfg, struct ctl_error *err);
/* Asks the server thread to stop; returns at once. Async-signal-safe, allowed in handlers. */
void ctl_server_request_stop(struct ctl_server *srv);
/*
 * Stops the server thread and joins it (waits for a running handler), closes
 * the clients and the listening socket (connections still in its backlog are
 * reset) and removes the socket file if it is still the one we created.
 * Cannot be restarted. Idempotent. Returns -EDEADLK on the server thread.
 */
int ctl_server_stop(struct ctl_server *srv);
/* Stops (see above; also for a server never started), frees. NULL is fine. */
void ctl_server_destroy(struct ctl_server *srv);
/*
 * In a child after fork(): drops the inherited server without touching the
 * parent's: closes the inherited descriptors, frees the memory, neither
 * unlinks the parent's socket nor joins the thread (which does not exist in
 * the child) nor takes any lock another thread may have held at fork().
 * May be called by a handler that forked on the server thread: the handler
 * then should not return (it continues as the child's main and ends with
 * exit()); if it returns anyway, its reply is dropped and the thread ends
 * (the child process ends with it unless it started other threads). That
 * thread is a copy of the server thread: every signal is blocked in it, so
 * the child unblocks what it needs (pthread_sigmask) before relying on it.
 */
void ctl_server_forget_after_fork(struct ctl_server *srv);

/*
 * From inside a handler, on the server thread: sends event (an object with
 * an "event" member, taken) to the connection whose request is being
 * handled, as a line of its own before the request's one reply, with the
 * request's id added (docs/ctl.md, "Events"). Only for a request that asked
 * for events (e.g. snapshot's progress=true): other clients would not
 * expect them. Lossy by design: where the client is not reading (its socket
 * full) the event is dropped, so a handler never blocks on it and no memory
 * piles up. Returns 0 or -errno (-EAGAIN: dropped).
 */
int ctl_server_event(struct ctl_server *srv, json_t *event);

const char *ctl_server_path(const struct ctl_server *srv);
void ctl_server_get_stats(const struct ctl_server *srv, struct ctl_server_stats *stats);

/* ---- the client ---- */

/*
 * Connects to the socket at path. Returns a connected descriptor (close it
 * with close()) or -errno with err set: CTL_NO_SOCKET, CTL_CONN_REFUSED,
 * CTL_PATH_ACCESS, CTL_PATH_TOO_LONG, CTL_TIMEOUT. timeout_ms < 0: no limit.
 */
int ctl_client_connect(const char *path, int timeout_ms, struct ctl_error *err);
/*
 * Sends one request line and reads one reply line on fd. Returns 0 with
 * *reply (a new reference to the whole reply object, ok or not), or -errno
 * with err set: CTL_TIMEOUT, CTL_CONN_CLOSED, CTL_BAD_REPLY.
 */
int ctl_client_request(int fd, json_t *request, int timeout_ms, json_t **reply, struct ctl_error *err);
/*
 * The same, handing each event line that comes before the reply (an object
 * with "event" and no "ok") to on_event (borrowed; may be NULL: skipped).
 */
typedef void (*ctl_event_fn)(json_t *event, void *arg);
int ctl_client_request_events(int fd, json_t *request, int timeout_ms, ctl_event_fn on_event, void *arg,
			      json_t **reply, struct ctl_error *err);
/*
 * One command on a fresh connection: {"cmd": cmd, "args": args}. args may be
 * NULL (borrowed otherwise). Returns 0 and *result (new reference) when the
 * reply is ok; otherwise -errno with err set to the reply's error (its code
 * mapped back to a result when known) or to the transport failure.
 */
int ctl_call(const char *path, const char *cmd, json_t *args, int timeout_ms, json_t **result,
	     struct ctl_error *err);
/* Fills err from an error reply's "error" object; false if the reply is malformed. */
bool ctl_reply_error(json_t *reply, struct ctl_error *err);
/* The result whose wire code is code, or CTL_NR_RESULTS. */
enum ctl_result ctl_result_from_code(const char *code);

#endif
