/* SPDX-License-Identifier: MIT */
/* Helpers for the control socket tests: a server with test commands, raw socket clients. */
#ifndef THPVM_TEST_CTL_HELPERS_H
#define THPVM_TEST_CTL_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "ctl/ctl.h"

#define NOBODY_UID 65534
#define NOBODY_GID 65534

/* A private directory for sockets, removed with everything in it by ctl_tmp_cleanup(). */
struct ctl_tmp {
	char dir[64];
	char path[128]; /* dir/vm.sock */
};
void ctl_tmp_make(struct ctl_tmp *t);
void ctl_tmp_cleanup(struct ctl_tmp *t);

/*
 * Test commands, all real handlers:
 *   add a:int b:int (required)         -> {"sum": a+b}
 *   echo [value any-object, n:int -5..5, s:string tlb|balanced, flag:bool, list:[uint] 1..3]
 *                                      -> {"args": args}
 *   fail                               -> error bad_state "the test VM is not paused"
 *   bad_result                         -> returns an array (internal error)
 *   sleep ms:uint 0..10000             -> sleeps, {"slept_ms": ms}; tracks concurrency
 *   big bytes:uint                     -> {"data": "xxx..."} of that many bytes
 */
void ctl_test_register(struct ctl_server *srv);
/* Highest number of handlers seen running at once. */
int ctl_test_max_concurrency(void);

/* Log lines the server wrote (config.log = ctl_test_log); joined by '\n'. */
void ctl_test_log(void *arg, const char *line);
const char *ctl_test_log_text(void);

/* Creates and starts a server with the test commands on path; asserts success. */
struct ctl_server *ctl_test_server(const char *path, unsigned max_clients);

/* The usual suite fixture (.init, .fini): a private directory and a test server on its vm.sock. */
extern struct ctl_tmp ctl_fix_tmp;
extern struct ctl_server *ctl_fix_srv;
void ctl_fixture_init(void);
void ctl_fixture_fini(void);

/* A blocking client connection with 10 s receive/send timeouts; -errno on failure. */
int conn_open(const char *path);
void conn_send(int fd, const char *text);
/* One reply line parsed (asserts it is valid JSON); NULL on EOF/reset. */
json_t *conn_recv(int fd);
/* send a line, read the reply */
json_t *conn_call(int fd, const char *line);
/* Whether the server closed the connection (EOF or reset within 10 s). */
bool conn_closed(int fd);

/* A request line that must fail: the error code it gets and a part of its message. */
struct bad_case {
	const char *line;
	const char *code;
	const char *in_message; /* the message names the problem */
};
/* Sends case c (the index-th) on fd and asserts its error: its code, the part of its message. */
void bad_case_check(int fd, const struct bad_case *c, unsigned index);

/* Asserts reply is an error with this code; returns its message. */
const char *reply_error(json_t *reply, const char *code);
/* Asserts reply is ok; returns result. */
json_t *reply_result(json_t *reply);

/* Kilobytes of resident memory of this process (VmRSS). */
long rss_kib(void);

#endif
