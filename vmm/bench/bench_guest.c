/* SPDX-License-Identifier: MIT */
/* Helpers for benchmarks that drive `thpvm run` processes: control-socket calls, guest results, waiting. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"
#include "../ctl/ctl.h"
#include "util/error.h"

void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

json_t *bench_call(const char *sock, const char *cmd, json_t *args, int timeout_ms)
{
	struct ctl_error err;
	json_t *res = NULL;

	if (ctl_call(sock, cmd, args, timeout_ms, &res, &err)) {
		vmm_fail(-EIO, "%s on %s: %s", cmd, sock, err.message);
		return NULL;
	}
	return res;
}

double bench_json_num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

unsigned bench_console_values(const char *path, const char *name, double *out, unsigned max)
{
	char line[256];
	size_t len = strlen(name);
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "result ", 7) && !strncmp(line + 7, name, len) && line[7 + len] == '=' && n < max)
			out[n++] = strtod(line + 8 + len, NULL);
	fclose(f);
	return n;
}

int bench_wait_gone(pid_t pid)
{
	for (unsigned i = 0; i < 120000; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return 0;
		bench_sleep_ms(1);
	}
	return vmm_fail(-ETIMEDOUT, "process %d did not end", (int)pid);
}

/* argv run with stdin /dev/null and stdout+stderr to path, killed after timeout_s: its wait status, or -1 */
int bench_run_logged(const char *const *argv, const char *path, unsigned timeout_s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), st;
	pid_t pid;

	if (fd < 0)
		return vmm_fail(-errno, "%s: %s", path, strerror(errno)), -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return vmm_fail(-errno, "fork: %s", strerror(errno)), -1;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setpgid(0, 0);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	for (unsigned long ms = 0;; ms += 20) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return st;
		if (w < 0)
			return vmm_fail(-errno, "waitpid: %s", strerror(errno)), -1;
		if (ms >= timeout_s * 1000UL) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			vmm_fail(-ETIMEDOUT, "%s did not end within %u s", argv[0], timeout_s);
			return -1;
		}
		bench_sleep_ms(20);
	}
}

#ifndef THPVM_LINUX_GUEST_DIR_DEFAULT
#define THPVM_LINUX_GUEST_DIR_DEFAULT "guests/linux"
#endif

const char *bench_linux_guest(const char *dir, char *kernel, char *initrd, size_t len)
{
	if (!dir)
		dir = getenv("THPVM_LINUX_GUEST_DIR");
	if (!dir)
		dir = THPVM_LINUX_GUEST_DIR_DEFAULT;
	snprintf(kernel, len, "%s/vmlinux", dir);
	snprintf(initrd, len, "%s/initramfs.cpio", dir);
	return dir;
}
