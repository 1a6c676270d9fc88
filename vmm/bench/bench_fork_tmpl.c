/* SPDX-License-Identifier: MIT */
/* thpvm bench fork: the template processes and the children's reports. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_fork.h"
#include "util/util.h"
#include "../ctl/ctl.h"
#include "util/error.h"
#include "../fork/fork.h"
#include "machine/guest_ram.h"
#include "../kvm/vcpu.h"
#include "../kvm/vm.h"
#include "machine/payload.h"
#include "ctl/vm_api.h"


char fork_tmpl_dir[64];
uint64_t fork_tsc_khz;


void fork_tmpl_destroy(struct tmpl *t)
{
	if (t->pid > 0) {
		json_decref(bench_call(t->sock, "quit", NULL, 10000));
		for (unsigned i = 0; i < 2000 && waitpid(t->pid, NULL, WNOHANG) == 0; i++)
			bench_sleep_ms(5);
		if (!kill(t->pid, SIGKILL))
			waitpid(t->pid, NULL, 0);
	}
	memset(t, 0, sizeof(*t));
}

/* args: "k=v" payload arguments, NULL-terminated */
int fork_tmpl_create(struct tmpl *t, uint64_t size, enum thpvm_backing backing, const char *const *args)
{
	char exe[4096], mem[32], sz[32];
	const char *argv[32] = { exe, "run", "--payload", "forktest", "--memory", mem, "--backing",
				 thpvm_backing_str(backing), "--prefault", "--timeout", "3600", "--api-sock", t->sock,
				 /* fork's own costs: no collapse thread mending (and copying) what children split */
				 "--collapse", "off" };
	unsigned n = 15;
	ssize_t len;
	int fd;

	memset(t, 0, sizeof(*t));
	t->size_bytes = size;
	t->backing = backing;
	snprintf(t->label, sizeof(t->label), "%s %s", format_size(size, sz, sizeof(sz)), thpvm_backing_str(backing));
	snprintf(t->sock, sizeof(t->sock), "%s/%llu-%s.sock", fork_tmpl_dir, (unsigned long long)(size >> 20),
		 thpvm_backing_str(backing));
	snprintf(t->out, sizeof(t->out), "%s/%llu-%s.out", fork_tmpl_dir, (unsigned long long)(size >> 20),
		 thpvm_backing_str(backing));
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(size >> 20));
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return vmm_fail(-errno, "cannot find this program: %s", strerror(errno));
	exe[len] = '\0';
	for (unsigned i = 0; args[i] && n < 30; i++) {
		argv[n++] = "--arg";
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vmm_fail(-errno, "%s: %s", t->out, strerror(errno));
	fflush(NULL);
	t->pid = fork();
	if (t->pid < 0) {
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
	/* prefaulting 8 GiB of memory the host has not touched for a while takes ~20 s */
	for (unsigned i = 0; i < 12000; i++) {
		json_t *st;
		struct ctl_error err;
		long long waiting = 0;

		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = 0;
			return vmm_fail(-EIO, "the %s template ended (see %s)", t->label, t->out);
		}
		if (!ctl_call(t->sock, "stats", NULL, 10000, &st, &err)) {
			waiting = json_integer_value(json_object_get(json_object_get(st, "payload"), "fork_waiting"));
			json_decref(st);
		}
		if (waiting >= 1)
			return 0;
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\rbench fork: starting the %s template %u s   ", t->label, i / 100);
		bench_sleep_ms(10);
	}
	fork_tmpl_destroy(t);
	return vmm_fail(-ETIMEDOUT, "the %s template never waited for a fork", t->label);
}

/* One fork command; returns the reply's result (new reference) or NULL with vmm_last_error(). */
json_t *fork_tmpl_fork(struct tmpl *t, unsigned count)
{
	json_t *args = json_pack("{s:i, s:b}", "count", (int)count, "template", 1);
	json_t *res = bench_call(t->sock, "fork", args, 120000);

	if (!res)
		vmm_error_prefix("%s template", t->label);
	json_decref(args);
	return res;
}

pid_t fork_reply_pid(json_t *reply, unsigned i)
{
	return (pid_t)json_integer_value(json_object_get(json_array_get(json_object_get(reply, "children"), i), "pid"));
}

const char *fork_reply_console(json_t *reply, unsigned i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(reply, "children"), i), "console"));
}

bool fork_console_has(const char *path, const char *needle)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

