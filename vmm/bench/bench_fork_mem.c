/* SPDX-License-Identifier: MIT */
/* thpvm bench fork: density (Pss of a template and its children) and the guest's copy-on-write cost. */
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


/* ---- density ---- */

static uint64_t rollup_pss(pid_t pid)
{
	struct vm_fork_memory m;

	return vm_fork_memory(NULL, pid, &m) ? 0 : m.process_pss_bytes;
}

/* Guest RAM Pss of the VM behind sock (its stats). */
static uint64_t guest_pss(const char *sock)
{
	json_t *st = bench_call(sock, "stats", NULL, 30000);
	uint64_t v = st ? (uint64_t)json_integer_value(json_object_get(json_object_get(json_object_get(st, "fork"),
									"memory"), "pss_bytes"))
			: 0;

	json_decref(st);
	return v;
}

int bench_fork_density(const struct opts *o, json_t *out)
{
	char pct[32], sz[32];
	const char *args[] = { "mode=density", "then=wait", "idle_us=100000", pct, NULL };
	struct tmpl t;
	json_t *r, *kids;
	uint64_t written = 0, total_pss, total_guest, ideal, ideal_guest, tmpl_pss, tmpl_guest;
	unsigned n;
	int status = 0;

	snprintf(pct, sizeof(pct), "percent=%u", (unsigned)o->write_pct);
	if (fork_tmpl_create(&t, o->sizes[0], THPVM_BACKING_THP, args)) {
		cli_error("bench fork: %s", vmm_last_error());
		return 1;
	}
	bench_progress_done();
	tmpl_pss = rollup_pss(t.vm.pid);
	tmpl_guest = guest_pss(t.vm.sock);
	r = fork_tmpl_fork(&t, o->children);
	if (!r) {
		cli_error("bench fork: %s", vmm_last_error());
		fork_tmpl_destroy(&t);
		return 1;
	}
	kids = json_object_get(r, "children");
	n = (unsigned)json_array_size(kids);
	for (unsigned i = 0; i < n; i++) {
		const char *c = fork_reply_console(r, i);
		double w = 0;

		for (unsigned k = 0; k < 60000 && !fork_console_has(c, "pages_written="); k++)
			bench_sleep_ms(1);
		if (bench_console_values(c, "pages_written", &w, 1) != 1) {
			cli_error("bench fork: child %u did not report its writes", i + 1);
			status = 1;
		}
		written += (uint64_t)w;
	}
	total_pss = rollup_pss(t.vm.pid);
	total_guest = guest_pss(t.vm.sock);
	for (unsigned i = 0; i < n; i++) {
		total_pss += rollup_pss(fork_reply_pid(r, i));
		total_guest += guest_pss(json_string_value(json_object_get(json_array_get(kids, i), "socket")));
	}
	ideal = tmpl_pss + written * 4096;
	ideal_guest = tmpl_guest + written * 4096;
	if (!status) {
		printf("fork density: a %s THP template, %u children each writing %u%% of their pages\n",
		       format_size(o->sizes[0], sz, sizeof(sz)), n,
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
		json_decref(bench_call(json_string_value(json_object_get(json_array_get(kids, i), "socket")), "quit", NULL,
				 10000));
		bench_wait_gone(fork_reply_pid(r, i));
	}
	json_decref(r);
	fork_tmpl_destroy(&t);
	return status;
}

/* ---- copy-on-write cost ---- */

int bench_fork_cow(const struct opts *o, json_t *out)
{
	char ext[32], sz[32];
	const char *args[] = { "mode=cow", "then=exit", ext, NULL };
	static const char *const names[3] = { "cow_first_cycles", "cow_next_cycles", "cow_rewrite_cycles" };
	static const char *const what[3] = { "first write, shared extent", "next page, same extent",
					     "rewrite of a copied page" };
	json_t *list = json_array();
	int status = 0;

	snprintf(ext, sizeof(ext), "extents=%u", o->cow_extents);
	printf("fork copy-on-write: guest-observed write latency in a child of a %s template, us\n",
	       format_size(o->sizes[0], sz, sizeof(sz)));
	printf("  %-5s %-28s %8s %8s %8s %8s\n", "host", "write", "median", "p10", "p90", "samples");
	for (unsigned b = 0; b < 2 && !status; b++) {
		enum thpvm_backing backing = b ? THPVM_BACKING_4K : THPVM_BACKING_THP;
		unsigned cap = o->cow_extents * o->cow_reps, n[3] = { 0 };
		double *s[3];
		struct tmpl t;

		if ((b == 0 && !o->thp) || (b == 1 && !o->k4))
			continue;
		if (fork_tmpl_create(&t, o->sizes[0], backing, args)) {
			cli_error("bench fork: %s", vmm_last_error());
			return 1;
		}
		bench_progress_done();
		for (unsigned k = 0; k < 3; k++)
			s[k] = calloc(cap, sizeof(double));
		for (unsigned r = 0; r < o->cow_reps + 1 && !status; r++) {
			json_t *rep = fork_tmpl_fork(&t, 1);
			const char *c = rep ? fork_reply_console(rep, 0) : NULL;

			if (!rep || bench_wait_gone(fork_reply_pid(rep, 0))) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
				json_decref(rep);
				break;
			}
			/* the first child warms the paths and is not recorded */
			for (unsigned k = 0; r && k < 3; k++)
				n[k] += bench_console_values(c, names[k], s[k] + n[k], cap - n[k]);
			unlink(c);
			json_decref(rep);
		}
		for (unsigned k = 0; k < 3 && !status; k++) {
			double khz = (double)fork_tsc_khz / 1000.0; /* cycles per us */

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
		fork_tmpl_destroy(&t);
	}
	printf("\n");
	json_object_set_new(out, "cow", list);
	return status;
}

