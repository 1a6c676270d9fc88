/* SPDX-License-Identifier: MIT */
/*
 * The control socket of a running VM under load (issue 16): client threads
 * for a bounded time mixing valid commands (stats, help, pause/resume,
 * collapse status and changes) with malformed ones (overlong lines, invalid
 * UTF-8, deeply nested JSON, half a line then silence, half a line then
 * gone, a client gone before its reply), while the main thread forks
 * short-lived children, opens more connections than the server allows and
 * connects as another uid. The guest (memtest mode=seq on 2 vCPUs, every
 * pass checking the last) runs on, its collapse thread too; afterwards every
 * page holds its last generation, every malformed request got exactly one
 * error line, and the process's descriptors and threads are back to their
 * starting counts. In-process, so those counts are this process's own.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"
#include "ctl/vm_ctl.h"
#include "util/clock.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* a string literal and its length, without its NUL */
#define LIT(s) s, sizeof(s) - 1
#define GUEST_MEM (96 * MIB)
#define SEQ_BYTES (32 * MIB)
#define NR_CPUS 2
#define NR_CLIENTS 6
#define SOAK_SECONDS 20
#define REPLY_MS test_ms(30000) /* a reply under load, times the host's time scale (the lab's is larger) */

TestSuite(ctl_soak, .timeout = 600);

static char dir[64], sock[128];
static atomic_bool stop_soak;
static int64_t soak_start_ms;

/* ---- a client, usable from any thread (no Criterion assertion off the main thread) ---- */

struct conn {
	int fd;
	char buf[1 << 17];
	size_t len;
};

static bool conn_connect(struct conn *c, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (c->fd >= 0 && !connect(c->fd, (struct sockaddr *)&a, sizeof(a)))
		return true;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return false;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static bool conn_write(struct conn *c, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* The next reply line parsed, or NULL on timeout, EOF or a line that is not one JSON object. */
static json_t *conn_line(struct conn *c, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			json_t *j = json_loadb(c->buf, (size_t)(nl - c->buf), 0, NULL);

			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
			return json_is_object(j) ? j : (json_decref(j), NULL);
		}
		if (c->len == sizeof(c->buf) || poll(&p, 1, timeout_ms) <= 0)
			return NULL;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

/* The error code of a reply, "" for a success, NULL for no reply. */
static const char *reply_code(json_t *r)
{
	if (!r)
		return NULL;
	if (json_is_true(json_object_get(r, "ok")))
		return "";
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* ---- the soak's clients ---- */

struct client {
	pthread_t thread;
	unsigned id, seed;
	uint64_t valid, malformed, abandoned, paused, refused;
	char why[256]; /* the first failure */
};

static void fail(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct client *cl, const char *fmt, ...)
{
	va_list ap;

	if (cl->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(cl->why, sizeof(cl->why), fmt, ap);
	snprintf(cl->why + strlen(cl->why), sizeof(cl->why) - strlen(cl->why), " (at %lld ms)",
		 (long long)(util_mono_ms() - soak_start_ms));
	va_end(ap);
	/* it may quote a malformed request: Criterion prints only clean text */
	for (char *p = cl->why; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	atomic_store(&stop_soak, true);
}

/* Sends line, expects one reply whose code is one of codes ("" = success), then proves no second line followed. */
static void call(struct client *cl, struct conn *c, const char *line, size_t len, const char *const *codes)
{
	static const char probe[] = "{\"cmd\":\"help\",\"args\":{\"command\":\"stats\"},\"id\":\"probe\"}\n";
	const char *code;
	json_t *r;

	if (!conn_write(c, line, len)) {
		fail(cl, "client %u: cannot send %.40s: %s", cl->id, line, strerror(errno));
		return;
	}
	r = conn_line(c, REPLY_MS);
	code = reply_code(r);
	for (unsigned i = 0; code && codes[i]; i++)
		if (!strcmp(code, codes[i])) {
			json_decref(r);
			/* the next line answers the probe: the request got exactly one reply */
			conn_write(c, probe, sizeof(probe) - 1);
			r = conn_line(c, REPLY_MS);
			if (!r || strcmp(json_string_value(json_object_get(r, "id")) ?: "", "probe"))
				fail(cl, "client %u: after %.40s the next line is not the probe's reply", cl->id, line);
			json_decref(r);
			return;
		}
	fail(cl, "client %u: %.60s: reply %s", cl->id, line, code ? code : "none (timeout or closed)");
	json_decref(r);
}

/*
 * Connects until the server takes the connection: one that arrives while the
 * main thread holds every free slot gets one too_many_clients line and the
 * end; the client comes back later.
 */
static void client_connect(struct client *cl, struct conn *c)
{
	while (!atomic_load(&stop_soak)) {
		json_t *r;
		const char *code;

		if (!conn_connect(c, sock)) {
			fail(cl, "client %u: cannot connect: %s", cl->id, strerror(errno));
			return;
		}
		conn_write(c, LIT("{\"cmd\":\"help\",\"id\":0}\n"));
		r = conn_line(c, REPLY_MS);
		code = reply_code(r);
		if (code && !*code) {
			json_decref(r);
			return;
		}
		conn_close(c);
		if (!code || strcmp(code, "too_many_clients")) {
			fail(cl, "client %u: a new connection's first reply: %s", cl->id, code ? code : "none");
			json_decref(r);
			return;
		}
		json_decref(r);
		cl->refused++;
		usleep(20000);
	}
}

static void *client_main(void *arg)
{
	static const char *const ok[] = { "", NULL };
	static const char *const ok_or_state[] = { "", "bad_state", NULL };
	struct client *cl = arg;
	struct conn *c = calloc(1, sizeof(*c));
	char *big = malloc(70 * 1024 + 2), *deep = malloc(20002);

	memset(big, 'x', 70 * 1024);
	strcpy(big + 70 * 1024, "\n");
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	strcpy(deep + 20000, "\n");
	client_connect(cl, c);
	while (!atomic_load(&stop_soak)) {
		unsigned what = rand_r(&cl->seed) % 12;
		char line[256];

		switch (what) {
		case 0: call(cl, c, LIT("{\"cmd\":\"stats\"}\n"), ok); cl->valid++; break;
		case 1: call(cl, c, LIT("{\"cmd\":\"help\"}\n"), ok); cl->valid++; break;
		case 2: call(cl, c, LIT("{\"cmd\":\"collapse\"}\n"), ok); cl->valid++; break;
		case 3:
			snprintf(line, sizeof(line), "{\"cmd\":\"collapse\",\"args\":{\"interval_ms\":%u,\"batch\":%u}}\n",
				 1 + rand_r(&cl->seed) % 20, 1 + rand_r(&cl->seed) % 8);
			call(cl, c, line, strlen(line), ok);
			cl->valid++;
			break;
		case 4: /* another client may have paused or resumed meanwhile: bad_state is the one other answer */
			call(cl, c, LIT("{\"cmd\":\"pause\"}\n"), ok_or_state);
			usleep(1000);
			call(cl, c, LIT("{\"cmd\":\"resume\"}\n"), ok_or_state);
			cl->valid += 2;
			cl->paused++;
			break;
		case 5: call(cl, c, big, strlen(big), A("line_too_long")); cl->malformed++; break;
		case 6: call(cl, c, LIT("{\"cmd\":\"st\xff\xfe\"}\n"), A("bad_json")); cl->malformed++; break;
		case 7: call(cl, c, deep, strlen(deep), A("bad_json")); cl->malformed++; break;
		case 8: /* half a line, a pause, the rest: one reply */
			conn_write(c, LIT("{\"cmd\":\"sta"));
			usleep(50000);
			call(cl, c, LIT("ts\"}\n"), ok);
			cl->valid++;
			break;
		case 9: /* half a line, then gone */
			conn_write(c, LIT("{\"cmd\":\"stats\",\"args\":{\"ext"));
			conn_close(c);
			cl->abandoned++;
			break;
		case 10: /* gone before the (long) reply is read */
			conn_write(c, LIT("{\"cmd\":\"stats\",\"args\":{\"extents\":true}}\n"));
			conn_close(c);
			cl->abandoned++;
			break;
		default:
			call(cl, c, LIT("{\"cmd\":\"stats\",\"args\":{\"extents\":\"yes\"}}\n"), A("arg_type"));
			cl->malformed++;
			break;
		}
		if (c->fd < 0)
			client_connect(cl, c);
	}
	conn_close(c);
	free(c);
	free(big);
	free(deep);
	return NULL;
}

/* ---- the main thread's probes ---- */

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	unsigned n = 0;

	cr_assert_not_null(d, "%s", path);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

/* The descriptors open now, as "fd -> target" lines. */
static void fd_list(const char *fdpath, char *buf, size_t len)
{
	DIR *d = opendir(fdpath);
	struct dirent *de;
	size_t off = 0;

	buf[0] = '\0';
	while (d && (de = readdir(d)) && off < len) {
		char link[512], target[256];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", fdpath, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		off += (size_t)snprintf(buf + off, len - off, " %s->%s", de->d_name, target);
	}
	if (d)
		closedir(d);
}

/* More connections than the server allows, at once: the extra ones get one too_many_clients line and the end. */
static unsigned too_many_clients(unsigned nr)
{
	struct conn *c = calloc(nr, sizeof(*c));
	unsigned refused = 0;

	for (unsigned i = 0; i < nr; i++)
		cr_assert(conn_connect(&c[i], sock), "connection %u: %s", i, strerror(errno));
	for (unsigned i = 0; i < nr; i++) {
		json_t *r;
		const char *code;

		conn_write(&c[i], LIT("{\"cmd\":\"help\",\"id\":1}\n"));
		r = conn_line(&c[i], REPLY_MS);
		code = reply_code(r);
		cr_assert_not_null(code, "connection %u got no reply", i);
		cr_assert(!strcmp(code, "") || !strcmp(code, "too_many_clients"), "connection %u: %s", i, code);
		if (*code) {
			refused++;
			cr_assert_null(conn_line(&c[i], REPLY_MS), "a refused connection is closed after its line");
		}
		json_decref(r);
	}
	for (unsigned i = 0; i < nr; i++)
		conn_close(&c[i]);
	free(c);
	return refused;
}

/* Another uid may not even connect: the socket is 0600. (The lab's L1 has no passwd entry for nobody: its number.) */
static void other_uid_refused(void)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t uid = pw ? pw->pw_uid : 65534;
	gid_t gid = pw ? pw->pw_gid : 65534;
	pid_t pid;
	int st;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		struct conn c;

		if (setgid(gid) || setuid(uid))
			_exit(3);
		_exit(conn_connect(&c, sock) ? 1 : errno == EACCES ? 0 : 2);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid nobody: status 0x%x (1: connected, 2: not EACCES)", st);
}

/* A short-lived child: forked, answers on its own socket, quits, gone. */
static void fork_one_child(unsigned i)
{
	char line[256], child[160];
	struct conn c = { .fd = -1 }, k = { .fd = -1 };
	json_t *r;

	snprintf(child, sizeof(child), "%s/child%u.sock", dir, i);
	snprintf(line, sizeof(line), "{\"cmd\":\"fork\",\"args\":{\"count\":1,\"sockets\":[\"%s\"]}}\n", child);
	/* the clients may hold every slot a moment (a closed connection frees its slot when the server sees it) */
	for (unsigned t = 0;; t++) {
		cr_assert(conn_connect(&c, sock));
		conn_write(&c, line, strlen(line));
		r = conn_line(&c, REPLY_MS);
		if (t == 100 || strcmp(reply_code(r) ?: "", "too_many_clients"))
			break;
		json_decref(r);
		conn_close(&c);
		usleep(50000);
	}
	cr_assert_str_eq(reply_code(r) ?: "(none)", "", "fork %u: %s", i, json_dumps(r, 0));
	json_decref(r);
	for (unsigned t = 0; t < 3000 && !conn_connect(&k, child); t++)
		usleep(10000);
	cr_assert_geq(k.fd, 0, "child %u never opened %s", i, child);
	conn_write(&k, LIT("{\"cmd\":\"stats\"}\n"));
	r = conn_line(&k, REPLY_MS);
	cr_assert_str_eq(reply_code(r) ?: "(none)", "", "child %u stats", i);
	json_decref(r);
	conn_write(&k, LIT("{\"cmd\":\"quit\"}\n"));
	r = conn_line(&k, REPLY_MS);
	cr_assert_str_eq(reply_code(r) ?: "(none)", "", "child %u quit", i);
	json_decref(r);
	conn_close(&k);
	for (unsigned t = 0; t < 3000 && !access(child, F_OK); t++)
		usleep(10000);
	cr_assert(access(child, F_OK), "child %u's socket is still there after quit", i);
	conn_close(&c);
}

Test(ctl_soak, a_running_vm_serves_concurrent_valid_and_malformed_clients_and_loses_nothing)
{
	struct thpvm_memmap *mem;
	struct guest g;
	struct collapse_vm *cv;
	struct thpvm_collapse_config cfg;
	struct vm_ctl_config vcfg = { 0 };
	struct vm_ctl *vc;
	struct client cl[NR_CLIENTS];
	unsigned fds0, threads0, fds1, threads1, refused, forks = 0;
	uint64_t valid = 0, malformed = 0, abandoned = 0, reconnects = 0, first_bad, t_end;
	struct stat sst;
	char fdpath[64], taskpath[64];
	static char fds_before[4096], fds_after[4096];

	REQUIRE_KVM();
	snprintf(dir, sizeof(dir), "/tmp/thpvm-soak-XXXXXX");
	cr_assert(mkdtemp(dir));
	chmod(dir, 0755); /* so that only the socket's own mode keeps another uid out */
	snprintf(sock, sizeof(sock), "%s/vm.sock", dir);
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd", getpid());
	snprintf(taskpath, sizeof(taskpath), "/proc/%d/task", getpid());

	mem = guest_mem(GUEST_MEM, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", NR_CPUS, 2 * MIB, A("mode=seq", "size=32M"));
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_BALANCED, THPVM_COLLAPSE_ENGINE_AUTO);
	cr_assert_eq(vm_start(g.vm), 0);
	cr_assert_eq(collapse_vm_setup(g.vm, &cfg, &cv), 0, "%s", vmm_last_error());
	vcfg.path = sock;
	cr_assert_eq(vm_ctl_create(&vcfg, &vc), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_ctl_attach(vc, g.vm), 0, "%s", vmm_last_error());
	cr_assert_eq(stat(sock, &sst), 0);
	cr_assert_eq(sst.st_mode & 0777, 0600, "socket mode %o", sst.st_mode & 0777);
	/* the first fork starts what stays for the VM's life (the reaper thread and its eventfd): before the count */
	fork_one_child(0);
	usleep(200000);
	/*
	 * The descriptors the VM holds at rest: two listings alike, 20 ms apart.
	 * Its threads open files for a moment (the collapse thread or a stats
	 * reply reads /sys and /proc): one caught open is not one it keeps.
	 */
	for (unsigned t = 0; t < 100; t++) {
		char again[sizeof(fds_before)];

		fd_list(fdpath, fds_before, sizeof(fds_before));
		usleep(20000);
		fd_list(fdpath, again, sizeof(again));
		if (!strcmp(again, fds_before))
			break;
	}
	fds0 = 0; /* as listed: each entry "N->target", its own directory's descriptor among them as in count_dir() */
	for (const char *p = fds_before; (p = strstr(p, "->")); p += 2)
		fds0++;
	threads0 = count_dir(taskpath);

	atomic_store(&stop_soak, false);
	soak_start_ms = util_mono_ms();
	for (unsigned i = 0; i < NR_CLIENTS; i++) {
		cl[i] = (struct client){ .id = i, .seed = 0x50a4 + i };
		cr_assert_eq(pthread_create(&cl[i].thread, NULL, client_main, &cl[i]), 0);
	}
	/* meanwhile: children forked and quit, the client limit, another uid */
	t_end = (uint64_t)time(NULL) + SOAK_SECONDS;
	refused = too_many_clients(CTL_DEFAULT_MAX_CLIENTS + 4);
	printf("ctl soak: %u of %d connections refused over the limit\n", refused, CTL_DEFAULT_MAX_CLIENTS + 4);
	other_uid_refused();
	while ((uint64_t)time(NULL) < t_end && !atomic_load(&stop_soak)) {
		if (forks < 2) { /* children 1 and 2, while the clients run */
			int64_t t0 = util_mono_ms();

			fork_one_child(++forks);
			printf("ctl soak: fork %u: forked, served, quit and gone in %llu ms\n", forks,
			       (unsigned long long)(util_mono_ms() - t0));
		}
		else
			usleep(100000);
	}
	atomic_store(&stop_soak, true);
	for (unsigned i = 0; i < NR_CLIENTS; i++) {
		pthread_join(cl[i].thread, NULL);
		cr_expect(!cl[i].why[0], "%s", cl[i].why);
		valid += cl[i].valid;
		malformed += cl[i].malformed;
		abandoned += cl[i].abandoned;
		reconnects += cl[i].refused;
	}
	cr_assert_geq(refused, 4, "%u connections over the limit, %u refused", 4, refused);
	cr_assert_eq(forks, 2, "the soak ended before its forks");
	printf("ctl soak: %u clients, %d s: %llu valid, %llu malformed, %llu abandoned requests, %llu refused "
	       "reconnections; %u of %d connections over the limit refused; %u children forked and quit\n", NR_CLIENTS,
	       SOAK_SECONDS, (unsigned long long)valid, (unsigned long long)malformed, (unsigned long long)abandoned,
	       (unsigned long long)reconnects, refused, CTL_DEFAULT_MAX_CLIENTS + 4, forks);
	cr_assert_gt(valid, 0);
	cr_assert_gt(malformed, 0);

	/* the guest ran through it all */
	cr_assert_eq(vm_run_state(g.vm), VM_STATE_RUNNING, "the VM is %s: %s", vm_run_state_name(vm_run_state(g.vm)),
		     g.vm->exit.message);
	/* what the soak opened is closed again; the server's and the VM's threads are the ones there were */
	for (unsigned t = 0; t < 100 && (count_dir(fdpath) != fds0 || count_dir(taskpath) != threads0); t++)
		usleep(50000);
	fds1 = count_dir(fdpath);
	threads1 = count_dir(taskpath);
	fd_list(fdpath, fds_after, sizeof(fds_after));
	cr_assert_eq(fds1, fds0, "descriptors: %u before the soak, %u after:\nbefore:%s\nafter:%s", fds0, fds1,
		     fds_before, fds_after);
	cr_assert_eq(threads1, threads0, "threads: %u before the soak, %u after", threads0, threads1);
	cr_assert_eq(stat(sock, &sst), 0);
	cr_assert_eq(sst.st_mode & 0777, 0600);

	vm_ctl_destroy(vc);
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s\n%s", g.vm->exit.message, guest_output(&g));
	cr_assert_eq(guest_result(&g, "pages_bad"), 0);
	cr_assert_eq(memtest_seq_verify(&g, 0, SEQ_BYTES, NR_CPUS, &first_bad), 0, "bad page at 0x%llx",
		     (unsigned long long)first_bad);
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
	rmdir(dir);
}
