/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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

const char *proc_exe(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

bool proc_has_args(pid_t pid, const char *arg, const char *value)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* NUL-separated arguments: each compared whole, the next one as its value */
	for (const char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (!strcmp(p, arg) && p + strlen(p) + 1 < buf + n && !strcmp(p + strlen(p) + 1, value))
			return true;
	return false;
}

char proc_state(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p, state = 0;
	int parent = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	/* the name in parentheses may hold spaces: the fields after the last ')' */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && sscanf(p + 1, " %c %d", &state, &parent) != 2)
		state = 0;
	fclose(f);
	if (ppid)
		*ppid = parent;
	return state;
}

/* Calls fn(fd number, ctx) for every descriptor of pid; stops at the first non-zero return, which it returns. */
static int proc_each_fd(pid_t pid, int (*fn)(int fd, void *ctx), void *ctx)
{
	char path[64];
	struct dirent *e;
	int ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(d = opendir(path), "%s: %s", path, strerror(errno));
	while (!ret && (e = readdir(d)))
		if (e->d_name[0] != '.')
			ret = fn(atoi(e->d_name), ctx);
	closedir(d);
	return ret;
}

struct fd_count {
	pid_t pid;
	const char *target;
	unsigned n;
};

static int count_fd(int fd, void *ctx)
{
	struct fd_count *c = ctx;
	char path[64], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)c->pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	c->n += !strcmp(link, c->target);
	return 0;
}

unsigned proc_fds_to(pid_t pid, const char *target)
{
	struct fd_count c = { .pid = pid, .target = target };

	proc_each_fd(pid, count_fd, &c);
	return c.n;
}

struct fd_pair {
	pid_t a, b;
	int fd_a;
};

/* 1 + fd_a when fd of b is fd_a of a, -1 when kcmp cannot tell */
static int same_file(int fd, void *ctx)
{
	struct fd_pair *p = ctx;
	long r = syscall(SYS_kcmp, p->a, p->b, KCMP_FILE, p->fd_a, fd);

	if (r < 0 && (errno == ENOSYS || errno == EPERM))
		return -1;
	return r == 0 ? 1 + p->fd_a : 0;
}

static int shared_with(int fd, void *ctx)
{
	struct fd_pair *p = ctx;

	p->fd_a = fd;
	return proc_each_fd(p->b, same_file, p);
}

int proc_shared_fd(pid_t a, pid_t b)
{
	struct fd_pair p = { .a = a, .b = b };
	int r = proc_each_fd(a, shared_with, &p);

	return r < 0 ? -2 : r - 1;
}
