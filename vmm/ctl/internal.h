/* SPDX-License-Identifier: MIT */
/* Internals shared by the control socket's sources. */
#ifndef THPVM_VMM_CTL_INTERNAL_H
#define THPVM_VMM_CTL_INTERNAL_H

#include <sys/types.h>
#include "ctl.h"

/* The inode the server bound, so it removes its own socket and nobody else's. */
struct ctl_sock_id {
	dev_t dev;
	ino_t ino;
};

/*
 * Creates, binds (mode 0600) and listens on a unix stream socket at path,
 * non-blocking and close-on-exec; replaces a stale socket nobody listens on.
 * Returns the descriptor or -errno with err set.
 */
int ctl_socket_listen(const char *path, int backlog, struct ctl_sock_id *id, struct ctl_error *err);
/* Unlinks path if it is still the socket described by id. */
void ctl_socket_unlink_if_ours(const char *path, const struct ctl_sock_id *id);

/* Writes all of buf to a non-blocking or blocking socket, without SIGPIPE; waits up to timeout_ms. */
int ctl_send_all(int fd, const char *buf, size_t len, int timeout_ms);
/* j as one compact line with its '\n' (caller frees), or NULL. */
char *ctl_json_line(json_t *j);
/* A reply line (with its '\n') for a request that failed; id may be NULL. Caller frees. */
char *ctl_error_line(const struct ctl_error *err, json_t *id);
/*
 * One request line (without its '\n') through the server's whole path, as the
 * transport hands it over: the reply line (with its '\n'; caller frees), or
 * NULL for a blank line. For the fuzzer, which has no time for sockets.
 */
char *ctl_server_handle_line(struct ctl_server *srv, const char *line, size_t len);
/* Replaces control bytes and every byte of an ill-formed or cut UTF-8 sequence with '?'. */
void ctl_message_clean(char *msg);

#endif
