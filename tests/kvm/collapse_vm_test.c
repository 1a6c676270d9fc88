/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <thpvm/host.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"
#include "kvm/kvm_stats.h"
#include "kvm/vm_stats.h"

pid_t sharer_start(struct thpvm_collapse *c)
{
	pid_t pid, parent = getpid();

	/* the fork contract: no collapse in flight (no write-protection, no staging page) at fork() */
	if (c)
		thpvm_collapse_pause(c);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* never outlive the test, even one that fails with the sharer alive */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	if (c)
		thpvm_collapse_resume(c);
	cr_assert(pid > 0, "fork: %s", strerror(errno));
	return pid;
}

void sharer_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

uint64_t kvm_pages_2m(struct vm *vm)
{
	uint64_t v = 0;

	cr_assert_eq(vm_stats_read(vm), 0);
	cr_assert_eq(kvm_stats_get(&vm->stats, "pages_2m", &v), 0, "this KVM has no pages_2m statistic");
	return v;
}

/* Counts HUGE and SPLIT extents of the range; marks SPLIT ones in seen[] (when given), counting new marks into *nr_seen. */
static void range_scan(struct thpvm_memmap *mem, uint64_t gpa, uint64_t size_bytes, unsigned *huge, unsigned *split,
		       bool *seen, unsigned *nr_seen)
{
	struct thpvm_region *r = thpvm_memmap_find(mem, gpa);
	int64_t first;

	*huge = *split = 0;
	cr_assert_not_null(r);
	cr_assert_eq(thpvm_region_refresh(r), 0);
	first = thpvm_region_extent_index(r, gpa);
	cr_assert(first >= 0);
	for (uint64_t i = 0; i < size_bytes / THPVM_EXTENT_SIZE; i++) {
		struct thpvm_extent_info e;

		cr_assert_eq(thpvm_region_extent(r, (uint64_t)first + i, &e), 0);
		*huge += e.state == THPVM_EXTENT_HUGE;
		*split += e.state == THPVM_EXTENT_SPLIT;
		if (seen && e.state == THPVM_EXTENT_SPLIT && !seen[i]) {
			seen[i] = true;
			(*nr_seen)++;
		}
	}
}

void range_states(struct thpvm_memmap *mem, uint64_t gpa, uint64_t size_bytes, unsigned *huge, unsigned *split)
{
	range_scan(mem, gpa, size_bytes, huge, split, NULL, NULL);
}

void split_watch_start(struct split_watch *w, struct thpvm_memmap *mem, uint64_t gpa, uint64_t size_bytes)
{
	struct thpvm_vmstat_thp vs = { 0 };

	memset(w, 0, sizeof(*w));
	cr_assert_leq(size_bytes / THPVM_EXTENT_SIZE, SPLIT_WATCH_MAX_EXTENTS);
	w->mem = mem;
	w->gpa = gpa;
	w->size_bytes = size_bytes;
	thpvm_vmstat_thp_read(&vs);
	w->host_collapses_before = vs.thp_collapse_alloc;
}

bool split_watch_all(void *arg)
{
	struct split_watch *w = arg;

	range_scan(w->mem, w->gpa, w->size_bytes, &w->huge, &w->split, w->seen, &w->nr_seen);
	return w->nr_seen == w->size_bytes / THPVM_EXTENT_SIZE;
}

const char *split_watch_why(struct split_watch *w, char *buf, size_t len)
{
	struct thpvm_vmstat_thp vs = { 0 };

	thpvm_vmstat_thp_read(&vs);
	snprintf(buf, len, "%u of %llu extents seen split; now %u huge, %u split; host collapses meanwhile: %llu",
		 w->nr_seen, (unsigned long long)(w->size_bytes / THPVM_EXTENT_SIZE), w->huge, w->split,
		 (unsigned long long)(vs.thp_collapse_alloc - w->host_collapses_before));
	return buf;
}

bool wait_until(bool (*cond)(void *arg), void *arg, unsigned timeout_ms)
{
	struct timespec ts = { .tv_nsec = 20000000L };

	timeout_ms = test_ms(timeout_ms);

	for (unsigned waited = 0;; waited += 20) {
		if (cond(arg))
			return true;
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
}

struct passes {
	struct thpvm_collapse *c;
	uint64_t from;
};

static bool passes_done(void *arg)
{
	struct passes *p = arg;
	struct thpvm_collapse_stats st;

	thpvm_collapse_stats(p->c, &st);
	return !st.running || st.nr_passes >= p->from + 2;
}

void settled_stats(struct thpvm_collapse *c, struct thpvm_collapse_stats *st)
{
	struct passes p = { .c = c };

	thpvm_collapse_stats(c, st);
	p.from = st->nr_passes;
	/* pass from + 1 may have begun before this call: from + 2 began after it */
	cr_assert(wait_until(passes_done, &p, 10000), "the collapse thread finished no pass in 10 s (at pass %llu)",
		  (unsigned long long)p.from);
	thpvm_collapse_stats(c, st);
}

uint64_t guest_free_gpa(struct guest *g)
{
	return payload_get_layout(g->payload)->ranges[0].gpa;
}

uint64_t memtest_seq_verify(struct guest *g, uint64_t skip_bytes, uint64_t size_bytes, unsigned nr_cpus,
			    uint64_t *first_bad_gpa)
{
	uint64_t total = size_bytes / 4096, base = guest_free_gpa(g) + skip_bytes, bad = 0;

	*first_bad_gpa = 0;
	cr_assert(payload_get_layout(g->payload)->ranges[0].size_bytes >= skip_bytes + size_bytes);
	for (unsigned c = 0; c < nr_cpus; c++) {
		uint64_t passes = 0, lo = total * c / nr_cpus, hi = total * (c + 1) / nr_cpus;

		cr_assert_eq(payload_result(g->payload, "passes", (int)c, &passes), 0, "vCPU %u reported no passes", c);
		cr_assert(passes > 0);
		for (uint64_t k = lo; k < hi; k++) {
			uint64_t gpa = base + k * 4096;
			const void *hva = thpvm_memmap_gpa_to_hva(g->mem, gpa, 4096);

			if (!pattern_check_page(hva, gpa >> 12, (uint32_t)passes, 1)) {
				if (!bad++)
					*first_bad_gpa = gpa;
			}
		}
	}
	return bad;
}

void vm_test_config(struct thpvm_collapse_config *cfg, enum thpvm_collapse_mode mode, enum thpvm_collapse_engine engine)
{
	thpvm_collapse_config_default(cfg);
	cr_assert_eq(thpvm_collapse_config_parse(cfg, thpvm_collapse_mode_str(mode)), 0);
	cfg->engine = engine;
	cfg->interval_ms = 5;
	cfg->backoff_min_ms = 20;
	cfg->backoff_max_ms = 100;
}
