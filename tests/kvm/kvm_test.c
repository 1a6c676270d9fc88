/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memfd_create */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include "kvm_test.h"
#include "util/error.h"
#include "helpers.h"

void kvm_test_payload_dir(void)
{
	setenv("THPVM_PAYLOAD_DIR", THPVM_BUILD_DIR "/guests", 1);
}

struct thpvm_memmap *guest_mem(uint64_t size_bytes, enum thpvm_backing backing)
{
	struct guest_ram_config rc = { .size_bytes = size_bytes, .backing = backing };
	struct thpvm_memmap *mem;

	cr_assert_eq(guest_ram_create(&rc, &mem), 0, "guest RAM: %s", vmm_last_error());
	return mem;
}

void guest_setup(struct guest *g, struct thpvm_memmap *mem, const char *payload, unsigned cpus, uint64_t page_size,
		 const char *const *args)
{
	struct payload_config pc = { .guest_page_size = page_size };

	memset(g, 0, sizeof(*g));
	kvm_test_payload_dir();
	g->own_mem = !mem;
	g->mem = mem ? mem : guest_mem(64ULL << 20, THPVM_BACKING_THP);
	cr_assert_eq(payload_image_load(payload, &g->image), 0, "%s", vmm_last_error());
	for (unsigned i = 0; args && args[i]; i++)
		cr_assert_eq(payload_args_add(&g->args, args[i]), 0, "%s", vmm_last_error());
	g->out = open_memstream(&g->out_buf, &g->out_len);
	cr_assert(g->out);
	pc.image = &g->image;
	pc.args = &g->args;
	pc.out = g->out;
	cr_assert_eq(payload_vm_create(g->mem, cpus, &pc, &g->vm, &g->payload), 0, "%s", vmm_last_error());
}

const struct vm_exit_info *guest_run(struct guest *g, unsigned timeout_ms)
{
	cr_assert_eq(vm_run(g->vm, test_ms(timeout_ms) * 1000000ULL, NULL), 0, "%s", vmm_last_error());
	return &g->vm->exit;
}

const char *guest_output(struct guest *g)
{
	fflush(g->out);
	return g->out_buf ? g->out_buf : "";
}

uint64_t guest_result(struct guest *g, const char *name)
{
	uint64_t v = 0;

	cr_assert_eq(payload_result(g->payload, name, -1, &v), 0, "no result '%s'; output:\n%s", name, guest_output(g));
	return v;
}

void guest_teardown(struct guest *g)
{
	vm_destroy(g->vm);
	payload_image_free(&g->image);
	if (g->out)
		fclose(g->out);
	free(g->out_buf);
	if (g->own_mem)
		thpvm_memmap_destroy(g->mem);
	memset(g, 0, sizeof(*g));
}

void fd_slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

pid_t thpvm_spawn(const char *const *argv, int in_fd, int out_fd, int err_fd)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (!pid) {
		int fds[3] = { in_fd, out_fd, err_fd };

		die_with_parent();
		for (int i = 0; i < 3; i++) {
			int fd = fds[i] == SPAWN_DEVNULL ? open("/dev/null", O_RDWR) : fds[i];

			if (fds[i] != -1 && (fd < 0 || dup2(fd, i) < 0))
				_exit(126);
			if (fds[i] == SPAWN_DEVNULL && fd > 2)
				close(fd);
		}
		execv(THPVM, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

struct thpvm_cmd *thpvm_cmd_run_in(const void *in, size_t in_len, const char *const *args)
{
	static struct thpvm_cmd c;
	const char *argv[64] = { THPVM };
	int n = 1, ofd = output_fd_create("out"), efd = output_fd_create("err"), ifd, st;
	struct timespec t0, t1;
	pid_t pid;

	while (n < 63 && args[n - 1]) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	if (in) {
		ifd = memfd_create("in", 0);
		cr_assert_eq(write(ifd, in, in_len), (ssize_t)in_len);
		lseek(ifd, 0, SEEK_SET);
	} else {
		ifd = open("/dev/null", O_RDONLY);
	}
	cr_assert(ofd >= 0 && efd >= 0 && ifd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = thpvm_spawn(argv, ifd, ofd, efd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c.secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	c.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	close(ifd);
	fd_slurp(ofd, c.out, sizeof(c.out));
	fd_slurp(efd, c.err, sizeof(c.err));
	return &c;
}

struct thpvm_cmd *thpvm_cmd_run_va(const void *in, size_t in_len, const char *first, va_list ap)
{
	const char *args[63] = { first };

	if (first)
		argv_append_va(args, 63, 1, ap);
	return thpvm_cmd_run_in(in, in_len, args);
}

struct thpvm_cmd *thpvm_cmd_runl_in(const void *in, size_t in_len, const char *first, ...)
{
	struct thpvm_cmd *c;
	va_list ap;

	va_start(ap, first);
	c = thpvm_cmd_run_va(in, in_len, first, ap);
	va_end(ap);
	return c;
}

static struct thpvm_cmd *ctl_va(const char *path, const char *cmd, va_list ap)
{
	const char *args[32] = { "ctl", "--raw", "--timeout", "30", path, cmd };

	argv_append_va(args, 32, 6, ap);
	return thpvm_cmd_run(args);
}

struct thpvm_cmd *thpvm_ctl(const char *path, const char *cmd, ...)
{
	struct thpvm_cmd *o;
	va_list ap;

	va_start(ap, cmd);
	o = ctl_va(path, cmd, ap);
	va_end(ap);
	return o;
}

json_t *thpvm_ctl_ok(const char *path, const char *cmd, ...)
{
	struct thpvm_cmd *o;
	json_error_t e;
	json_t *j;
	va_list ap;

	va_start(ap, cmd);
	o = ctl_va(path, cmd, ap);
	va_end(ap);
	cr_assert_eq(o->status, 0, "thpvm ctl %s %s: status %d: %s", path, cmd, o->status, o->err);
	j = json_loads(o->out, 0, &e);
	cr_assert_not_null(j, "not JSON: %s", o->out);
	return j;
}

json_t *json_at(json_t *o, const char *path)
{
	json_t *v = o;
	char key[64];

	while (*path) {
		size_t n = strcspn(path, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		v = json_object_get(v, key);
		path += n + (path[n] == '.');
	}
	return v;
}

long long json_num(json_t *o, const char *path)
{
	json_t *v = json_at(o, path);

	cr_assert(json_is_integer(v), "no integer at %s", path);
	return json_integer_value(v);
}

void ctl_wait_fork_waiting(const char *path, pid_t pid, unsigned tries)
{
	for (unsigned i = 0; i < tries; i++) {
		struct thpvm_cmd *o = thpvm_ctl(path, "stats", NULL);
		json_t *j = o->status ? NULL : json_loads(o->out, 0, NULL);
		json_t *w = json_at(j, "payload.fork_waiting");
		long long waiting = json_is_integer(w) ? json_integer_value(w) : 0;

		json_decref(j);
		if (waiting >= 1)
			return;
		cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "thpvm run (%s) ended early", path);
		sleep_ms(10);
	}
	cr_assert_fail("the payload behind %s never waited for a fork", path);
}
