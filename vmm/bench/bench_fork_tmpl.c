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
#include "ctl/vm_ctl.h"


char fork_tmpl_dir[64];
uint64_t fork_tsc_khz;


void fork_tmpl_destroy(struct tmpl *t)
{
	bench_template_stop(&t->vm);
	memset(t, 0, sizeof(*t));
}

/* args: "k=v" payload arguments, NULL-terminated */
int fork_tmpl_create(struct tmpl *t, uint64_t size, enum thpvm_backing backing, const char *const *args)
{
	char mem[32], sz[32];
	const char *argv[40] = { "--payload", "forktest", "--memory", mem, "--backing", thpvm_backing_str(backing),
				 "--prefault", "--timeout", "3600",
				 /* fork's own costs: no collapse thread mending (and copying) what children split */
				 "--collapse", "off" };
	unsigned n = 11;

	memset(t, 0, sizeof(*t));
	t->size_bytes = size;
	t->backing = backing;
	snprintf(t->vm.label, sizeof(t->vm.label), "%s %s", format_size(size, sz, sizeof(sz)),
		 thpvm_backing_str(backing));
	snprintf(t->vm.sock, sizeof(t->vm.sock), "%s/%llu-%s.sock", fork_tmpl_dir, (unsigned long long)(size >> 20),
		 thpvm_backing_str(backing));
	snprintf(t->vm.out, sizeof(t->vm.out), "%s/%llu-%s.out", fork_tmpl_dir, (unsigned long long)(size >> 20),
		 thpvm_backing_str(backing));
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(size >> 20));
	for (unsigned i = 0; args[i] && n < 38; i++) {
		argv[n++] = "--arg";
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	/* prefaulting 8 GiB of memory the host has not touched for a while takes ~20 s */
	return bench_template_start(&t->vm, argv, 120, NULL);
}

/* One fork command; returns the reply's result (new reference) or NULL with vmm_last_error(). */
json_t *fork_tmpl_fork(struct tmpl *t, unsigned count)
{
	json_t *args = json_pack("{s:i, s:b}", "count", (int)count, "template", 1);
	json_t *res = bench_call(t->vm.sock, "fork", args, 120000);

	if (!res)
		vmm_error_prefix("%s template", t->vm.label);
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

