/* SPDX-License-Identifier: MIT */
/*
 * thpvm demo where /dev/kvm cannot be used: the VM parts run in the nested
 * lab (docs/lab.md) instead. tests/lab/run.sh --demo boots an L1 Linux under
 * QEMU TCG with nested SVM, loads kvm-amd (NPT) there and runs `thpvm demo
 * --vm-parts` inside it; its lines come back here as it prints them. The lab
 * lives in the source tree next to the build tree this thpvm runs from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "util/util.h"
#include "demo.h"

#ifndef THPVM_LAB_RUN
#define THPVM_LAB_RUN "tests/lab/run.sh"
#endif

/* Whether prog is an executable in $PATH. */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096], file[4200];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
		snprintf(file, sizeof(file), "%s/%s", n ? dir : ".", prog);
		if (!access(file, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

int demo_in_lab(const char *why, uint64_t memory_bytes)
{
	const char *run = getenv("THPVM_LAB_RUN");
	char build[4096], mem[64];
	int status;
	pid_t pid;

	if (!run)
		run = THPVM_LAB_RUN;
	printf("\nthpvm: %s: the VM parts run in the nested lab (QEMU TCG, an L1 Linux with kvm-amd and NPT); "
	       "its timings are emulated\n", why);
	fflush(stdout);
	if (!in_path("qemu-system-x86_64")) {
		cli_error("demo: the nested lab needs qemu-system-x86_64: apt-get install qemu-system-x86 "
			  "busybox-static cpio xz-utils (bash scripts/install-deps.sh installs them)");
		return 1;
	}
	if (cli_build_dir(build, sizeof(build)) || access(run, R_OK)) {
		cli_error("demo: the nested lab runs from a build tree and its sources (%s not found): "
			  "bash scripts/demo.sh in a clone of thpvm", run);
		return 1;
	}
	snprintf(mem, sizeof(mem), "--memory %lluM", (unsigned long long)(memory_bytes >> 20));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_error("demo: cannot start the lab: %s", strerror(errno));
		return 1;
	}
	if (!pid) {
		execlp("bash", "bash", run, "--builddir", build, "--name", "demo", "--demo", mem, (char *)NULL);
		fprintf(stderr, "thpvm: demo: cannot run bash %s: %s\n", run, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			cli_error("demo: waiting for the lab: %s", strerror(errno));
			return 1;
		}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
