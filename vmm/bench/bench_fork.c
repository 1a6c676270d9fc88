/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench fork: what snapshot-fork costs (docs/fork.md).
 *
 * Every part drives real templates the way a user does: `thpvm run` of the
 * forktest payload on prefaulted RAM, one process per template (a fork()
 * copies every mapping of its process), `fork` commands sent to its control
 * socket, children that report through their console files and are reaped
 * by their template.
 *
 *  latency  1 GiB and 8 GiB templates, thp and 4k backing, each forked into
 *           one child per repetition (configurations interleaved, grouped so
 *           the templates alive at once stay under --max-resident). The
 *           child's guest reads the TSC first thing and reports it minus the
 *           fork command's: the latency. The fork reply and the child's
 *           report give the breakdown.
 *  density  a 1 GiB template forked into N children (default 16) that each
 *           write 1% of their pages and idle: the sum of the processes' Pss
 *           against the ideal (the template alone plus the pages written).
 *  cow      a child of a 1 GiB template times, in 64 extents, its first write
 *           (a shared extent: split + 4 KiB copy), a write to the next page
 *           of the same extent and a rewrite, as the guest sees them.
 */
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
#include "../cli.h"
#include "../ctl/ctl.h"
#include "../error.h"
#include "../fork/fork.h"
#include "../guest_ram.h"
#include "../kvm/vcpu.h"
#include "../kvm/vm.h"
#include "../payload.h"
#include "../vm_api.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

struct opts {
	uint64_t sizes[4];
	unsigned nr_sizes;
	bool thp, k4;
	unsigned reps;
	unsigned children;
	double write_pct;
	unsigned cow_extents;
	unsigned cow_reps;
	uint64_t max_resident;
	bool latency, density, cow;
	const char *json;
};

/*
 * A template: `thpvm run` of forktest on prefaulted RAM, a process of its
 * own (a fork copies every mapping of the process: templates sharing one
 * would each pay for all), driven through its control socket.
 */
struct tmpl {
	char label[32];
	uint64_t size_bytes;
	enum thpvm_backing backing;
	pid_t pid;
	char sock[128];
	char out[128];
};

static char dir[64];
static uint64_t tsc_khz;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One command on a socket; the result (new reference) or NULL with vmm_last_error(). */
static json_t *call(const char *sock, const char *cmd, json_t *args, int timeout_ms)
{
	struct ctl_error err;
	json_t *res = NULL;

	if (ctl_call(sock, cmd, args, timeout_ms, &res, &err)) {
		vmm_fail(-EIO, "%s on %s: %s", cmd, sock, err.message);
		return NULL;
	}
	return res;
}

static void tmpl_destroy(struct tmpl *t)
{
	if (t->pid > 0) {
		json_decref(call(t->sock, "quit", NULL, 10000));
		for (unsigned i = 0; i < 2000 && waitpid(t->pid, NULL, WNOHANG) == 0; i++)
			sleep_ms(5);
		if (!kill(t->pid, SIGKILL))
			waitpid(t->pid, NULL, 0);
	}
	memset(t, 0, sizeof(*t));
}

/* args: "k=v" payload arguments, NULL-terminated */
static int tmpl_create(struct tmpl *t, uint64_t size, enum thpvm_backing backing, const char *const *args)
{
	char exe[4096], mem[32], sz[32];
	const char *argv[32] = { exe, "run", "--payload", "forktest", "--memory", mem, "--backing",
				 thpvm_backing_str(backing), "--prefault", "--timeout", "3600", "--api-sock", t->sock };
	unsigned n = 13;
	ssize_t len;
	int fd;

	memset(t, 0, sizeof(*t));
	t->size_bytes = size;
	t->backing = backing;
	snprintf(t->label, sizeof(t->label), "%s %s", format_size(size, sz, sizeof(sz)), thpvm_backing_str(backing));
	snprintf(t->sock, sizeof(t->sock), "%s/%llu-%s.sock", dir, (unsigned long long)(size >> 20),
		 thpvm_backing_str(backing));
	snprintf(t->out, sizeof(t->out), "%s/%llu-%s.out", dir, (unsigned long long)(size >> 20),
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
		sleep_ms(10);
	}
	tmpl_destroy(t);
	return vmm_fail(-ETIMEDOUT, "the %s template never waited for a fork", t->label);
}

/* Waits until a child has ended and its parent reaped it. */
static int wait_gone(pid_t pid)
{
	for (unsigned i = 0; i < 120000; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return 0;
		sleep_ms(1);
	}
	return vmm_fail(-ETIMEDOUT, "child %d did not end", (int)pid);
}

/* One fork command; returns the reply's result (new reference) or NULL with vmm_last_error(). */
static json_t *fork_cmd(struct tmpl *t, unsigned count)
{
	json_t *args = json_pack("{s:i, s:b}", "count", (int)count, "template", 1);
	json_t *res = call(t->sock, "fork", args, 120000);

	if (!res)
		vmm_error_prefix("%s template", t->label);
	json_decref(args);
	return res;
}

static pid_t child_pid(json_t *reply, unsigned i)
{
	return (pid_t)json_integer_value(json_object_get(json_array_get(json_object_get(reply, "children"), i), "pid"));
}

static double jnum(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The last "result NAME=VALUE" lines of a console; values of name into out (at most max), their count. */
static unsigned console_values(const char *path, const char *name, double *out, unsigned max)
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

static const char *child_console(json_t *reply, unsigned i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(reply, "children"), i), "console"));
}

static bool console_has(const char *path, const char *needle)
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

/* ---- latency ---- */

enum { L_TOTAL, L_REPLY, L_PAUSE, L_CAPTURE, L_FORK, L_STARTED, L_INIT, L_DESTROY, L_CREATE, L_MEMSLOTS, L_VCPUS,
       L_RESTORE, L_HOOKS_START, L_FIRST_RUN, L_RUNNING, L_NR };
static const char *const l_names[L_NR] = {
	"latency_ms", "reply_ms", "pause_ms", "capture_ms", "fork_ms", "child_started_ms", "child_init_ms",
	"child_destroy_ms", "child_create_ms", "child_memslots_ms", "child_vcpus_ms", "child_restore_ms",
	"child_hooks_start_ms", "first_run_ms", "child_running_ms",
};

struct lat_cfg {
	struct tmpl t;
	uint64_t size;
	enum thpvm_backing backing;
	double (*s)[L_NR];
	unsigned nr;
};

static int latency_once(struct lat_cfg *c)
{
	double v[L_NR], lat = NAN, resume = NAN;
	json_t *r;
	const char *console;
	uint64_t t0 = bench_now_ns();
	double khz = (double)tsc_khz;

	r = fork_cmd(&c->t, 1);
	if (!r)
		return -EIO;
	v[L_REPLY] = (double)(bench_now_ns() - t0) / 1e6;
	console = child_console(r, 0);
	if (wait_gone(child_pid(r, 0))) {
		json_decref(r);
		return -ETIMEDOUT;
	}
	if (!console || console_values(console, "fork_latency_cycles", &lat, 1) != 1 ||
	    console_values(console, "fork_resume_cycles", &resume, 1) != 1 || !khz) {
		vmm_fail(-EIO, "a child of the %s template did not report its latency (%s)", c->t.label,
			 console ? console : "no console");
		json_decref(r);
		return -EIO;
	}
	unlink(console);
	v[L_TOTAL] = lat / khz;
	v[L_FIRST_RUN] = resume / khz;
	v[L_PAUSE] = jnum(json_object_get(r, "timing"), "pause_ms", NULL);
	v[L_CAPTURE] = jnum(json_object_get(r, "timing"), "capture_ms", NULL);
	v[L_FORK] = jnum(json_object_get(r, "timing"), "fork_ms", NULL);
	{
		json_t *k = json_object_get(json_object_get(r, "timing"), "first_child");

		v[L_STARTED] = jnum(k, "started_ms", NULL);
		v[L_INIT] = jnum(k, "init_ms", NULL);
		v[L_DESTROY] = jnum(k, "destroy_ms", NULL);
		v[L_CREATE] = jnum(k, "create_ms", NULL);
		v[L_MEMSLOTS] = jnum(k, "memslots_ms", NULL);
		v[L_VCPUS] = jnum(k, "vcpus_ms", NULL);
		v[L_RESTORE] = jnum(k, "restore_ms", NULL);
		v[L_HOOKS_START] = jnum(k, "hooks_ms", NULL) + jnum(k, "start_ms", NULL);
		v[L_RUNNING] = jnum(k, "running_ms", NULL);
	}
	memcpy(c->s[c->nr++], v, sizeof(v));
	json_decref(r);
	return 0;
}

static double med(struct lat_cfg *c, unsigned k)
{
	double v[c->nr ? c->nr : 1];

	for (unsigned i = 0; i < c->nr; i++)
		v[i] = c->s[i][k];
	return bench_median(v, c->nr);
}

static double minimum(struct lat_cfg *c, unsigned k)
{
	double m = INFINITY;

	for (unsigned i = 0; i < c->nr; i++)
		m = c->s[i][k] < m ? c->s[i][k] : m;
	return m;
}

static int run_latency(const struct opts *o, json_t *out)
{
	static const char *const args[] = { "mode=latency", "then=exit", NULL };
	struct lat_cfg cfg[8];
	unsigned n = 0, status = 0;
	json_t *list = json_array();

	for (unsigned s = 0; s < o->nr_sizes; s++)
		for (unsigned b = 0; b < 2; b++) {
			if ((b == 0 && !o->thp) || (b == 1 && !o->k4))
				continue;
			cfg[n] = (struct lat_cfg){ .size = o->sizes[s], .backing = b ? THPVM_BACKING_4K : THPVM_BACKING_THP };
			cfg[n].s = calloc(o->reps + 1, sizeof(*cfg[n].s));
			n++;
		}
	/* groups of configurations whose templates fit in max_resident together, interleaved inside */
	for (unsigned g0 = 0; g0 < n && !status;) {
		uint64_t sum = 0;
		unsigned g1 = g0;

		while (g1 < n && (g1 == g0 || sum + cfg[g1].size <= o->max_resident))
			sum += cfg[g1++].size;
		for (unsigned i = g0; i < g1 && !status; i++)
			if (tmpl_create(&cfg[i].t, cfg[i].size, cfg[i].backing, args)) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
			}
		bench_progress_done();
		/* one unrecorded fork each: the first pauses the template and warms the paths */
		for (unsigned i = g0; i < g1 && !status; i++) {
			if (latency_once(&cfg[i])) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
			}
			cfg[i].nr = 0;
		}
		for (unsigned r = 0; r < o->reps && !status; r++)
			for (unsigned k = 0; k < g1 - g0 && !status; k++) {
				struct lat_cfg *c = &cfg[g0 + (k + r) % (g1 - g0)];

				bench_progress("bench fork: latency", r + 1, o->reps);
				if (latency_once(c)) {
					cli_error("bench fork: %s", vmm_last_error());
					status = 1;
				}
			}
		bench_progress_done();
		for (unsigned i = g0; i < g1; i++)
			tmpl_destroy(&cfg[i].t);
		g0 = g1;
	}
	if (!status) {
		char sz[32];

		printf("fork latency: fork command -> first guest instruction in the child (guest TSC), ms, median of %u\n",
		       o->reps);
		printf("  %-10s %8s %8s | %7s %7s %7s | %7s %7s %9s %8s %7s %8s %9s\n", "template", "latency", "min",
		       "pause", "capture", "fork()", "started", "init", "create", "(slots)", "restore", "hk+start",
		       "first run");
		for (unsigned i = 0; i < n; i++) {
			struct lat_cfg *c = &cfg[i];
			json_t *o1 = json_object();

			printf("  %-4s %-5s %8.3f %8.3f | %7.3f %7.3f %7.3f | %7.3f %7.3f %9.3f %8.3f %7.3f %8.3f %9.3f\n",
			       format_size(c->size, sz, sizeof(sz)), thpvm_backing_str(c->backing), med(c, L_TOTAL),
			       minimum(c, L_TOTAL), med(c, L_PAUSE), med(c, L_CAPTURE), med(c, L_FORK), med(c, L_STARTED),
			       med(c, L_INIT), med(c, L_CREATE), med(c, L_MEMSLOTS), med(c, L_RESTORE),
			       med(c, L_HOOKS_START), med(c, L_FIRST_RUN));
			json_object_set_new(o1, "size_bytes", json_integer((json_int_t)c->size));
			json_object_set_new(o1, "backing", json_string(thpvm_backing_str(c->backing)));
			json_object_set_new(o1, "reps", json_integer(c->nr));
			for (unsigned k = 0; k < L_NR; k++)
				json_object_set_new(o1, l_names[k], json_real(med(c, k)));
			json_object_set_new(o1, "latency_min_ms", json_real(minimum(c, L_TOTAL)));
			json_array_append_new(list, o1);
		}
		printf("  started: command -> the child's first line (pause + capture + fork); create includes the\n"
		       "  memslots; first run: vCPUs released -> the guest's first look at its mailbox (includes\n"
		       "  the fork_child hooks, thread start, the first KVM_RUN and the shadow MMU's first faults).\n"
		       "  A TSC restored as captured would run %.3f ms (median, first config) behind the parent's.\n\n",
		       n ? med(&cfg[0], L_RUNNING) - med(&cfg[0], L_PAUSE) - med(&cfg[0], L_CAPTURE) : 0.0);
	}
	json_object_set_new(out, "latency", list);
	for (unsigned i = 0; i < n; i++)
		free(cfg[i].s);
	return (int)status;
}

/* ---- density ---- */

static uint64_t rollup_pss(pid_t pid)
{
	struct vm_fork_memory m;

	return vm_fork_memory(NULL, pid, &m) ? 0 : m.process_pss_bytes;
}

/* Guest RAM Pss of the VM behind sock (its stats). */
static uint64_t guest_pss(const char *sock)
{
	json_t *st = call(sock, "stats", NULL, 30000);
	uint64_t v = st ? (uint64_t)json_integer_value(json_object_get(json_object_get(json_object_get(st, "fork"),
									"memory"), "pss_bytes"))
			: 0;

	json_decref(st);
	return v;
}

static int run_density(const struct opts *o, json_t *out)
{
	char pct[32];
	const char *args[] = { "mode=density", "then=wait", "idle_us=100000", pct, NULL };
	struct tmpl t;
	json_t *r, *kids;
	uint64_t written = 0, total_pss, total_guest, ideal, ideal_guest, tmpl_pss, tmpl_guest;
	unsigned n;
	int status = 0;

	snprintf(pct, sizeof(pct), "percent=%u", (unsigned)o->write_pct);
	if (tmpl_create(&t, GIB, THPVM_BACKING_THP, args)) {
		cli_error("bench fork: %s", vmm_last_error());
		return 1;
	}
	bench_progress_done();
	tmpl_pss = rollup_pss(t.pid);
	tmpl_guest = guest_pss(t.sock);
	r = fork_cmd(&t, o->children);
	if (!r) {
		cli_error("bench fork: %s", vmm_last_error());
		tmpl_destroy(&t);
		return 1;
	}
	kids = json_object_get(r, "children");
	n = (unsigned)json_array_size(kids);
	for (unsigned i = 0; i < n; i++) {
		const char *c = child_console(r, i);
		double w = 0;

		for (unsigned k = 0; k < 60000 && !console_has(c, "pages_written="); k++)
			sleep_ms(1);
		if (console_values(c, "pages_written", &w, 1) != 1) {
			cli_error("bench fork: child %u did not report its writes", i + 1);
			status = 1;
		}
		written += (uint64_t)w;
	}
	total_pss = rollup_pss(t.pid);
	total_guest = guest_pss(t.sock);
	for (unsigned i = 0; i < n; i++) {
		total_pss += rollup_pss(child_pid(r, i));
		total_guest += guest_pss(json_string_value(json_object_get(json_array_get(kids, i), "socket")));
	}
	ideal = tmpl_pss + written * 4096;
	ideal_guest = tmpl_guest + written * 4096;
	if (!status) {
		printf("fork density: a 1 GiB THP template, %u children each writing %u%% of their pages\n", n,
		       (unsigned)o->write_pct);
		printf("  pages written by all children       %10llu (%.1f MiB)\n", (unsigned long long)written,
		       (double)written * 4096 / MIB);
		printf("  Pss, template + children, processes %10.1f MiB   ideal %10.1f MiB   amplification %.3f\n",
		       (double)total_pss / MIB, (double)ideal / MIB, (double)total_pss / (double)ideal);
		printf("  Pss, guest RAM only                 %10.1f MiB   ideal %10.1f MiB   amplification %.3f\n",
		       (double)total_guest / MIB, (double)ideal_guest / MIB, (double)total_guest / (double)ideal_guest);
		printf("  (ideal: the template's own Pss before the fork plus 4 KiB per page written)\n\n");
		json_object_set_new(out, "density",
				    json_pack("{s:i, s:f, s:I, s:I, s:I, s:f, s:I, s:I, s:f}", "children", (int)n,
					      "write_pct", o->write_pct, "pages_written", (json_int_t)written,
					      "pss_bytes", (json_int_t)total_pss, "ideal_bytes", (json_int_t)ideal,
					      "amplification", (double)total_pss / (double)ideal, "guest_pss_bytes",
					      (json_int_t)total_guest, "guest_ideal_bytes", (json_int_t)ideal_guest,
					      "guest_amplification", (double)total_guest / (double)ideal_guest));
	}
	for (unsigned i = 0; i < n; i++) {
		json_decref(call(json_string_value(json_object_get(json_array_get(kids, i), "socket")), "quit", NULL,
				 10000));
		wait_gone(child_pid(r, i));
	}
	json_decref(r);
	tmpl_destroy(&t);
	return status;
}

/* ---- copy-on-write cost ---- */

static int run_cow(const struct opts *o, json_t *out)
{
	char ext[32];
	const char *args[] = { "mode=cow", "then=exit", ext, NULL };
	static const char *const names[3] = { "cow_first_cycles", "cow_next_cycles", "cow_rewrite_cycles" };
	static const char *const what[3] = { "first write, shared extent", "next page, same extent",
					     "rewrite of a copied page" };
	json_t *list = json_array();
	int status = 0;

	snprintf(ext, sizeof(ext), "extents=%u", o->cow_extents);
	printf("fork copy-on-write: guest-observed write latency in a child of a 1 GiB template, us\n");
	printf("  %-5s %-28s %8s %8s %8s %8s\n", "host", "write", "median", "p10", "p90", "samples");
	for (unsigned b = 0; b < 2 && !status; b++) {
		enum thpvm_backing backing = b ? THPVM_BACKING_4K : THPVM_BACKING_THP;
		unsigned cap = o->cow_extents * o->cow_reps, n[3] = { 0 };
		double *s[3];
		struct tmpl t;

		if ((b == 0 && !o->thp) || (b == 1 && !o->k4))
			continue;
		if (tmpl_create(&t, GIB, backing, args)) {
			cli_error("bench fork: %s", vmm_last_error());
			return 1;
		}
		bench_progress_done();
		for (unsigned k = 0; k < 3; k++)
			s[k] = calloc(cap, sizeof(double));
		for (unsigned r = 0; r < o->cow_reps + 1 && !status; r++) {
			json_t *rep = fork_cmd(&t, 1);
			const char *c = rep ? child_console(rep, 0) : NULL;

			if (!rep || wait_gone(child_pid(rep, 0))) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
				json_decref(rep);
				break;
			}
			/* the first child warms the paths and is not recorded */
			for (unsigned k = 0; r && k < 3; k++)
				n[k] += console_values(c, names[k], s[k] + n[k], cap - n[k]);
			unlink(c);
			json_decref(rep);
		}
		for (unsigned k = 0; k < 3 && !status; k++) {
			double khz = (double)tsc_khz / 1000.0; /* cycles per us */

			printf("  %-5s %-28s %8.1f %8.1f %8.1f %8u\n", thpvm_backing_str(backing), what[k],
			       bench_median(s[k], n[k]) / khz, bench_percentile(s[k], n[k], 10) / khz,
			       bench_percentile(s[k], n[k], 90) / khz, n[k]);
			json_array_append_new(list, json_pack("{s:s, s:s, s:f, s:f, s:f, s:i}", "backing",
							      thpvm_backing_str(backing), "write", names[k], "median_us",
							      bench_median(s[k], n[k]) / khz, "p10_us",
							      bench_percentile(s[k], n[k], 10) / khz, "p90_us",
							      bench_percentile(s[k], n[k], 90) / khz, "samples", (int)n[k]));
		}
		for (unsigned k = 0; k < 3; k++)
			free(s[k]);
		tmpl_destroy(&t);
	}
	printf("\n");
	json_object_set_new(out, "cow", list);
	return status;
}

/* The TSC frequency KVM gives guests (no scaling: the guest's is the host's). */
static uint64_t host_tsc_khz(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vmfd = -1, vcpu = -1, khz = 0;

	if (kvm >= 0 && (vmfd = ioctl(kvm, KVM_CREATE_VM, 0)) >= 0 && (vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0)) >= 0)
		khz = ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	if (vcpu >= 0)
		close(vcpu);
	if (vmfd >= 0)
		close(vmfd);
	if (kvm >= 0)
		close(kvm);
	return khz > 0 ? (uint64_t)khz : 0;
}

/* ---- options ---- */

static int parse_list(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL;

	o->nr_sizes = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->nr_sizes == 4 || parse_size(t, &v) || v < 64 * MIB || v % (2 * MIB)) {
			free(copy);
			return -1;
		}
		o->sizes[o->nr_sizes++] = v;
	}
	free(copy);
	return o->nr_sizes ? 0 : -1;
}

static int parse(int argc, char **argv, struct opts *o)
{
	enum { O_SIZES = 256, O_BACKINGS, O_REPS, O_CHILDREN, O_WRITE, O_COW_EXTENTS, O_COW_REPS, O_MAX, O_PARTS, O_JSON };
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "backings", required_argument, NULL, O_BACKINGS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "children", required_argument, NULL, O_CHILDREN },
		{ "write-pct", required_argument, NULL, O_WRITE },
		{ "cow-extents", required_argument, NULL, O_COW_EXTENTS },
		{ "cow-reps", required_argument, NULL, O_COW_REPS },
		{ "max-resident", required_argument, NULL, O_MAX },
		{ "parts", required_argument, NULL, O_PARTS },
		{ "json", required_argument, NULL, O_JSON },
		{ 0 },
	};
	uint64_t v;
	int c;

	*o = (struct opts){ .sizes = { GIB, 8 * GIB }, .nr_sizes = 2, .thp = true, .k4 = true, .reps = 11,
			    .children = 16, .write_pct = 1, .cow_extents = 64, .cow_reps = 3, .max_resident = 10 * GIB,
			    .latency = true, .density = true, .cow = true };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_SIZES:
			if (parse_list(optarg, o)) {
				cli_error("bench fork: --sizes '%s': expected up to 4 sizes, 64M or more, 2 MiB multiples",
					  optarg);
				return 2;
			}
			break;
		case O_BACKINGS:
			o->thp = strstr(optarg, "thp") != NULL;
			o->k4 = strstr(optarg, "4k") != NULL;
			if (!o->thp && !o->k4) {
				cli_error("bench fork: --backings '%s': expected thp, 4k or thp,4k", optarg);
				return 2;
			}
			break;
		case O_REPS:
		case O_CHILDREN:
		case O_WRITE:
		case O_COW_EXTENTS:
		case O_COW_REPS:
			if (parse_uint(optarg, c == O_WRITE ? 0 : 1, c == O_CHILDREN ? VM_FORK_MAX_COUNT : 100000, &v) ||
			    (c == O_WRITE && v > 100)) {
				cli_error("bench fork: %s '%s': expected a positive number%s", argv[optind - 1], optarg,
					  c == O_WRITE ? " up to 100" : "");
				return 2;
			}
			if (c == O_REPS)
				o->reps = (unsigned)v;
			else if (c == O_CHILDREN)
				o->children = (unsigned)v;
			else if (c == O_WRITE)
				o->write_pct = (double)v;
			else if (c == O_COW_EXTENTS)
				o->cow_extents = (unsigned)v;
			else
				o->cow_reps = (unsigned)v;
			break;
		case O_MAX:
			if (parse_size(optarg, &o->max_resident)) {
				cli_error("bench fork: --max-resident '%s': expected a size", optarg);
				return 2;
			}
			break;
		case O_PARTS:
			o->latency = strstr(optarg, "latency") != NULL;
			o->density = strstr(optarg, "density") != NULL;
			o->cow = strstr(optarg, "cow") != NULL;
			if (!o->latency && !o->density && !o->cow) {
				cli_error("bench fork: --parts '%s': expected latency, density and/or cow", optarg);
				return 2;
			}
			break;
		case O_JSON:
			o->json = optarg;
			break;
		case ':':
			cli_error("bench fork: option '%s' needs a value", argv[optind - 1]);
			return 2;
		default:
			cli_error("bench fork: unknown option '%s'", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		cli_error("bench fork: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	struct opts o;
	json_t *out;
	int ret, status = 0;
	char cmd[96];

	if ((ret = parse(argc, argv, &o)))
		return ret;
	if (access("/dev/kvm", R_OK | W_OK)) {
		cli_error("bench fork: /dev/kvm is not usable here: %s", strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/thpvm-bench-fork-XXXXXX");
	if (!mkdtemp(dir)) {
		cli_error("bench fork: cannot make a directory in /tmp: %s", strerror(errno));
		return 1;
	}
	tsc_khz = host_tsc_khz();
	if (!tsc_khz) {
		cli_error("bench fork: KVM does not say the TSC frequency");
		return 1;
	}
	out = json_object();
	printf("thpvm bench fork: pid %d, %ld CPUs online (results vary with other load)\n\n", (int)getpid(),
	       sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	if (o.latency && !status)
		status = run_latency(&o, out);
	if (o.density && !status)
		status = run_density(&o, out);
	if (o.cow && !status)
		status = run_cow(&o, out);
	if (o.json && !status && json_dump_file(out, o.json, JSON_INDENT(1))) {
		cli_error("bench fork: cannot write %s", o.json);
		status = 1;
	}
	json_decref(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
		/* left in /tmp */
	}
	return status;
}

const struct bench bench_fork = {
	.name = "fork",
	.summary = "snapshot-fork: latency to the child's first instruction, density, copy-on-write cost",
	.usage = "thpvm bench fork [--sizes 1G,8G] [--backings thp,4k] [--reps N] [--children N] [--write-pct P]\n"
		 "                 [--cow-extents N] [--cow-reps N] [--max-resident SIZE] [--parts latency,density,cow]\n"
		 "                 [--json FILE]",
	.run = run,
};
