/* SPDX-License-Identifier: MIT */
/* Creating the control socket safely: 0600 from birth, no clobbering, stale sockets only. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "internal.h"

static int path_errno(const char *path, int e, const char *doing, struct ctl_error *err)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return ctl_fail_errno(err, CTL_PATH_NO_DIR, "cannot %s control socket %s: its directory does not exist",
				      doing, path);
	case EACCES:
	case EPERM:
	case EROFS:
		return ctl_fail_errno(err, CTL_PATH_ACCESS, "cannot %s control socket %s: %s", doing, path,
				      strerror(e));
	case EADDRINUSE:
		return ctl_fail_errno(err, CTL_PATH_IN_USE, "cannot %s control socket %s: the path is in use",
				      doing, path);
	default:
		return ctl_fail_errno(err, CTL_SOCKET_FAILED, "cannot %s control socket %s: %s", doing, path,
				      strerror(e));
	}
}

/*
 * An existing socket file: is anybody listening on it? A listener (even one
 * with a full backlog: EAGAIN) keeps it; only ECONNREFUSED proves it stale.
 */
static int probe_existing(const struct sockaddr_un *addr, const char *path, struct ctl_error *err)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret, e;

	if (fd < 0)
		return path_errno(path, errno, "probe", err);
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	e = errno;
	close(fd);
	if (ret == 0 || e == EAGAIN || e == EINPROGRESS)
		return ctl_fail_errno(err, CTL_PATH_IN_USE,
				      "control socket %s is in use: another process listens on it", path);
	if (e != ECONNREFUSED)
		return path_errno(path, e, "probe existing", err);
	if (unlink(path) && errno != ENOENT)
		return path_errno(path, errno, "remove stale", err);
	return 0;
}

int ctl_socket_listen(const char *path, int backlog, struct ctl_sock_id *id, struct ctl_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = path ? strlen(path) : 0;
	struct stat st;
	int fd, ret;

	if (!len)
		return ctl_fail_errno(err, CTL_PATH_NO_DIR, "control socket path is empty");
	if (len >= sizeof(addr.sun_path))
		return ctl_fail_errno(err, CTL_PATH_TOO_LONG,
				      "control socket path is %zu bytes long, a unix socket address holds at most %zu: %.60s...",
				      len, sizeof(addr.sun_path) - 1, path);
	memcpy(addr.sun_path, path, len + 1);

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return ctl_fail_errno(err, CTL_PATH_NOT_SOCKET,
					      "%s exists and is not a socket: refusing to replace it", path);
		ret = probe_existing(&addr, path, err);
		if (ret)
			return ret;
	} else if (errno != ENOENT) {
		return path_errno(path, errno, "create", err);
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return path_errno(path, errno, "create", err);
	/*
	 * Linux creates the socket's inode with the socket's own mode minus the
	 * umask: 0600 here means the file never exists with a wider mode, without
	 * touching the process-wide umask other threads depend on.
	 */
	if (fchmod(fd, 0600)) {
		ret = path_errno(path, errno, "create", err);
		goto fail_close;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = path_errno(path, errno, "create", err);
		goto fail_close;
	}
	if (lstat(path, &st)) {
		ret = path_errno(path, errno, "create", err);
		goto fail_unlink;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	/* Kernels that ignore the socket's mode: narrow it before anyone can connect (before listen). */
	if ((st.st_mode & 07777) != 0600 && chmod(path, 0600)) {
		ret = path_errno(path, errno, "chmod", err);
		goto fail_unlink;
	}
	if (listen(fd, backlog)) {
		ret = path_errno(path, errno, "listen on", err);
		goto fail_unlink;
	}
	return fd;

fail_unlink:
	unlink(path);
fail_close:
	close(fd);
	return ret;
}

void ctl_socket_unlink_if_ours(const char *path, const struct ctl_sock_id *id)
{
	struct stat st;

	if (!lstat(path, &st) && S_ISSOCK(st.st_mode) && st.st_dev == id->dev && st.st_ino == id->ino)
		unlink(path);
}
