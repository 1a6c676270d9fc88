/* SPDX-License-Identifier: MIT */
/*
 * A benchmark's template VM: `thpvm run` of this very program in the
 * background, driven through its control socket, until its payload waits
 * for a fork (bench fork, bench collapse).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"
#include "util/error.h"

int bench_template_start(struct bench_template *t, const char *const *run_args, unsigned limit_s, json_t **stats)
{
	const char *argv[48];
	char exe[4096];
	unsigned n = 0, ticks = limit_s * 100;
	json_t *st = NULL;
	ssize_t len;
	int fd;

	if (stats)
		*stats = NULL;
	t->pid = 0;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return vmm_fail(-errno, "cannot find this program: %s", strerror(errno));
	exe[len] = '\0';
	argv[n++] = exe;
	argv[n++] = "run";
	for (unsigned i = 0; run_args[i] && n < 43; i++)
		argv[n++] = run_args[i];
	argv[n++] = "--ctl-sock";
	argv[n++] = t->sock;
	argv[n] = NULL;
	fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vmm_fail(-errno, "%s: %s", t->out, strerror(errno));
	fflush(NULL);
	t->pid = fork();
	if (t->pid < 0) {
		t->pid = 0;
		close(fd);
		return vmm_fail(-errno, "cannot start the %s template: %s", t->label, strerror(errno));
	}
	if (!t->pid) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	/* prefaulting memory the host has not touched for a while (and a payload's set-up) take seconds */
	for (unsigned i = 0; i < ticks; i++) {
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = 0;
			json_decref(st);
			return vmm_fail(-EIO, "the %s template ended (see %s)", t->label, t->out);
		}
		json_decref(st);
		st = bench_call(t->sock, "stats", NULL, 30000);
		if (st && bench_json_num(json_object_get(st, "payload"), "fork_waiting", NULL) >= 1) {
			bench_progress_done();
			if (stats)
				*stats = st;
			else
				json_decref(st);
			return 0;
		}
		if (isatty(STDERR_FILENO) && i % 100 == 0)
			fprintf(stderr, "\rbench: starting the %s template %u s   ", t->label, i / 100);
		bench_sleep_ms(10);
	}
	bench_progress_done();
	json_decref(st);
	bench_template_stop(t);
	return vmm_fail(-ETIMEDOUT, "the %s template never waited for a fork (see %s)", t->label, t->out);
}

void bench_template_stop(struct bench_template *t)
{
	if (t->pid <= 0)
		return;
	json_decref(bench_call(t->sock, "quit", NULL, 10000));
	for (unsigned i = 0; i < 2000 && waitpid(t->pid, NULL, WNOHANG) == 0; i++)
		bench_sleep_ms(5);
	if (!kill(t->pid, SIGKILL))
		waitpid(t->pid, NULL, 0);
	t->pid = 0;
}
