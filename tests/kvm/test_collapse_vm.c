/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread in a running VM, proved at KVM's level: a memtest
 * guest writes continuously (mode=seq) while a sharer child holds guest RAM
 * shared, so the guest's writes copy-on-write split every extent it touches
 * and KVM falls back to 4 KiB mappings; then the collapse thread restores
 * HUGE extents and KVM's pages_2m while the guest keeps writing, and every
 * page still holds the guest's last write. Also: off collapses nothing,
 * density leaves mostly-shared extents alone, an allocation failure backs
 * off while the VM runs on, a VM populated while THP was disabled is
 * promoted once THP is allowed again.
 */
#include <criterion/criterion.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define GUEST_MEM (96 * MIB)
#define SEQ_BYTES (64 * MIB)
#define SEQ_EXTENTS ((unsigned)(SEQ_BYTES / (2 * MIB)))

#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#endif

TestSuite(collapse_vm, .timeout = 120);

struct seq_vm {
	struct thpvm_memmap *mem;
	struct guest g;
	struct collapse_vm *cv;
	uint64_t gpa;           /* memtest's first page */
	unsigned cpus;
};

/* A memtest mode=seq guest over SEQ_BYTES with a collapse thread attached (not started), running. */
static void seq_vm_start(struct seq_vm *s, unsigned cpus, const struct thpvm_collapse_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cpus = cpus;
	s->mem = guest_mem(GUEST_MEM, THPVM_BACKING_THP);
	guest_setup(&s->g, s->mem, "memtest", cpus, 2 * MIB, A("mode=seq", "size=64M"));
	s->gpa = guest_free_gpa(&s->g);
	cr_assert_eq(collapse_vm_attach(s->g.vm, cfg, &s->cv), 0, "%s", vmm_last_error());
	cr_assert_eq(collapse_vm_of(s->g.vm), s->cv);
	cr_assert_eq(vm_start(s->g.vm), 0, "%s", vmm_last_error());
}

/* Stops the guest and checks every page, in the guest (memtest) and from the host. */
static void seq_vm_finish(struct seq_vm *s)
{
	uint64_t first_bad, bad;

	cr_assert_eq(s->g.vm->exit.reason, VM_STOP_NONE, "the VM stopped early: %s", s->g.vm->exit.message);
	payload_request_stop(s->g.payload);
	cr_assert_eq(vm_wait(s->g.vm, test_ns(30), NULL), 0);
	cr_assert_eq(s->g.vm->exit.reason, VM_STOP_GUEST_EXIT, "%s", s->g.vm->exit.message);
	cr_assert_eq(guest_result(&s->g, "pages_bad"), 0, "memtest saw bad pages; output:\n%s", guest_output(&s->g));
	cr_assert_eq(s->g.vm->exit.status, 0);
	bad = memtest_seq_verify(&s->g, 0, SEQ_BYTES, s->cpus, &first_bad);
	cr_assert_eq(bad, 0, "%llu pages do not hold their last write (first at gpa 0x%llx)", (unsigned long long)bad,
		     (unsigned long long)first_bad);
	guest_teardown(&s->g); /* vm_destroy() stops and frees the collapse thread */
	thpvm_memmap_destroy(s->mem);
}

static bool seq_mapped_2m(void *arg)
{
	struct seq_vm *s = arg;
	unsigned huge, split;

	range_states(s->mem, s->gpa, SEQ_BYTES, &huge, &split);
	return huge == SEQ_EXTENTS && kvm_pages_2m(s->g.vm) >= SEQ_EXTENTS;
}

/* Every extent memtest writes split, and KVM maps them with 4 KiB pages: returns pages_2m then. */
static uint64_t seq_vm_split(struct seq_vm *s)
{
	struct split_watch w;
	uint64_t before, after;
	char why[160];
	pid_t sharer;

	cr_assert(wait_until(seq_mapped_2m, s, 20000), "the guest's memory never was all HUGE and 2M-mapped (pages_2m %llu)",
		  (unsigned long long)kvm_pages_2m(s->g.vm));
	before = kvm_pages_2m(s->g.vm);
	sharer = sharer_start(collapse_vm_collapser(s->cv));
	split_watch_start(&w, s->mem, s->gpa, SEQ_BYTES);
	cr_assert(wait_until(split_watch_all, &w, 30000), "the guest's writes did not split all %u extents (%s; VM: %s)",
		  SEQ_EXTENTS, split_watch_why(&w, why, sizeof(why)), vm_stop_reason_str(s->g.vm->exit.reason));
	sharer_stop(sharer);
	after = kvm_pages_2m(s->g.vm);
	cr_log_info("pages_2m %llu before the split, %llu after", (unsigned long long)before, (unsigned long long)after);
	cr_assert(after + SEQ_EXTENTS / 2 <= before, "KVM still maps %llu x 2 MiB after the split (before: %llu)",
		  (unsigned long long)after, (unsigned long long)before);
	return after;
}

static void engine_case(enum thpvm_collapse_engine engine, unsigned cpus)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct seq_vm s;

	REQUIRE_KVM();
	REQUIRE_THP();
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, engine);
	seq_vm_start(&s, cpus, &cfg);
	seq_vm_split(&s);
	cr_assert_eq(collapse_vm_start(s.cv), 0, "%s", vmm_last_error());
	cr_assert(wait_until(seq_mapped_2m, &s, 30000), "not recovered: pages_2m %llu",
		  (unsigned long long)kvm_pages_2m(s.g.vm));
	settled_stats(collapse_vm_collapser(s.cv), &st);
	cr_log_info("%s: %llu collapsed in %llu ops, %llu writer stalls (p99 %llu us), op p99 %llu us",
		    thpvm_collapse_engine_str(engine), (unsigned long long)st.nr_collapsed, (unsigned long long)st.nr_ops,
		    (unsigned long long)st.nr_stalls, (unsigned long long)thpvm_collapse_hist_percentile_us(&st.stall, 99),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&st.latency, 99));
	/* khugepaged may take a few of them first (8 extents per 10 s by default): most are ours */
	cr_assert_geq(st.nr_collapsed_by_engine[engine], SEQ_EXTENTS / 2, "%s collapsed only %llu extents",
		      thpvm_collapse_engine_str(engine), (unsigned long long)st.nr_collapsed_by_engine[engine]);
	cr_assert_eq(st.nr_collapsed_by_engine[engine], st.nr_collapsed, "only the chosen engine works");
	if (engine == THPVM_COLLAPSE_ENGINE_REMAP)
		cr_assert(st.uffd, "copy-and-remap on anonymous memory runs under userfaultfd write-protect");
	seq_vm_finish(&s);
}

Test(collapse_vm, madv_collapse_restores_huge_extents_and_kvm_2m_mappings)
{
	engine_case(THPVM_COLLAPSE_ENGINE_MADV, 1);
}

Test(collapse_vm, copy_and_remap_restores_huge_extents_and_kvm_2m_mappings)
{
	engine_case(THPVM_COLLAPSE_ENGINE_REMAP, 2);
}

Test(collapse_vm, off_collapses_nothing)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	unsigned huge, split;
	uint64_t split_2m;
	struct seq_vm s;

	REQUIRE_KVM();
	REQUIRE_THP();
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_OFF, THPVM_COLLAPSE_ENGINE_AUTO);
	seq_vm_start(&s, 1, &cfg);
	split_2m = seq_vm_split(&s);
	cr_assert_eq(collapse_vm_start(s.cv), 0);
	usleep(1500000);
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_not(st.running, "mode off runs no thread");
	cr_assert_eq(st.nr_collapsed, 0);
	cr_assert_eq(st.nr_passes, 0);
	range_states(s.mem, s.gpa, SEQ_BYTES, &huge, &split);
	/* the guest writes on: only khugepaged (a few extents per 10 s at most) could have collapsed any */
	cr_assert_geq(split, SEQ_EXTENTS - 8, "%u of %u extents still split", split, SEQ_EXTENTS);
	cr_assert_leq(kvm_pages_2m(s.g.vm), split_2m + 8);
	seq_vm_finish(&s);
}

Test(collapse_vm, injected_allocation_failure_backs_off_and_the_vm_runs_on)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct seq_vm s;

	REQUIRE_KVM();
	REQUIRE_THP();
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_MADV);
	cfg.batch_extents = 4;
	seq_vm_start(&s, 1, &cfg);
	seq_vm_split(&s);
	cr_assert_eq(thpvm_collapse_inject(collapse_vm_collapser(s.cv), THPVM_COLLAPSE_INJECT_ALLOC_FAIL, 3), 0);
	cr_assert_eq(collapse_vm_start(s.cv), 0);
	cr_assert(wait_until(seq_mapped_2m, &s, 30000), "not recovered after the injected failures");
	settled_stats(collapse_vm_collapser(s.cv), &st);
	cr_log_info("%llu ALLOC_FAILED, %llu back-offs, %llu ms backing off, %llu collapsed",
		    (unsigned long long)st.results[THPVM_COLLAPSE_ALLOC_FAILED], (unsigned long long)st.nr_backoffs,
		    (unsigned long long)(st.backoff_ns / 1000000), (unsigned long long)st.nr_collapsed);
	cr_assert_geq(st.results[THPVM_COLLAPSE_ALLOC_FAILED], 3, "every injected failure is counted");
	cr_assert_geq(st.nr_backoffs, 3, "each failure starts or lengthens a back-off");
	cr_assert_gt(st.backoff_ns, 0, "the thread slept through its back-off");
	cr_assert_geq(st.nr_collapsed, SEQ_EXTENTS / 2, "later collapses succeed");
	cr_assert_eq(s.g.vm->exit.reason, VM_STOP_NONE, "the VM keeps running");
	seq_vm_finish(&s);
}

/* THP disabled, nothing collapses them back: every extent is 4 KiB-mapped at once */
static bool seq_all_split(void *arg)
{
	struct seq_vm *s = arg;
	unsigned huge, split;

	range_states(s->mem, s->gpa, SEQ_BYTES, &huge, &split);
	return split == SEQ_EXTENTS;
}

/* The VMM process runs with THP disabled (prctl) while the guest populates its RAM. */
Test(collapse_vm, a_vm_populated_while_thp_was_disabled_is_promoted_once_allowed)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	unsigned huge, split;
	struct seq_vm s;

	REQUIRE_KVM();
	REQUIRE_THP();
	cr_assert_eq(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
	thpvm_collapse_config_default(&cfg); /* balanced: every page is private, far above its threshold */
	cfg.interval_ms = 5;
	seq_vm_start(&s, 1, &cfg);
	cr_assert_eq(collapse_vm_start(s.cv), 0);
	/* once the guest has written all of its memory (its first pass), the collapser has seen it for a while */
	cr_assert(wait_until(seq_all_split, &s, 10000), "the guest did not populate its memory with 4 KiB pages");
	usleep(test_ms(500) * 1000);
	range_states(s.mem, s.gpa, SEQ_BYTES, &huge, &split);
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_eq(huge, 0, "THP disabled: no extent is huge");
	cr_assert_eq(split, SEQ_EXTENTS, "the guest populated its memory with 4 KiB pages");
	cr_assert_eq(st.nr_collapsed, 0);
	cr_assert_gt(st.results[THPVM_COLLAPSE_NOT_ELIGIBLE], 0, "the collapser saw the extents and left them");
	cr_assert_lt(kvm_pages_2m(s.g.vm), SEQ_EXTENTS / 2);

	cr_assert_eq(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 0);
	cr_assert(wait_until(seq_mapped_2m, &s, 30000), "not promoted: pages_2m %llu",
		  (unsigned long long)kvm_pages_2m(s.g.vm));
	settled_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_geq(st.nr_collapsed, SEQ_EXTENTS / 2);
	seq_vm_finish(&s);
}

/* ---- density: sequential VMs over one memory, a sharer alive throughout ---- */

#define HEAVY_SKIP (64 * MIB)
#define HEAVY_BYTES (8 * MIB)
#define HEAVY_EXTENTS ((unsigned)(HEAVY_BYTES / (2 * MIB)))

static void run_to_end(struct thpvm_memmap *mem, const char *const *args)
{
	struct guest g;

	guest_setup(&g, mem, "memtest", 1, 2 * MIB, args);
	cr_assert_eq(guest_run(&g, 30000)->status, 0, "%s\n%s", g.vm->exit.message, guest_output(&g));
	guest_teardown(&g);
}

struct density {
	struct seq_vm s;
	uint64_t heavy_gpa;
};

static bool heavy_huge(void *arg)
{
	struct density *d = arg;
	unsigned huge, split;

	range_states(d->s.mem, d->heavy_gpa, HEAVY_BYTES, &huge, &split);
	return huge == HEAVY_EXTENTS;
}

static bool light_huge(void *arg)
{
	struct density *d = arg;
	unsigned huge, split;

	range_states(d->s.mem, d->s.gpa, SEQ_BYTES, &huge, &split);
	return huge == SEQ_EXTENTS;
}

/* memtest subset: page p (gpa >> 12) was picked by seed 7 at 2% (payload-abi.md) */
static bool picked(uint64_t page)
{
	return pattern_word(page, 0, 7, 512) % 100 < 2;
}

Test(collapse_vm, density_leaves_mostly_shared_extents_alone)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_region *r;
	struct density d;
	uint64_t bad = 0;
	pid_t sharer;

	REQUIRE_KVM();
	REQUIRE_THP();
	memset(&d, 0, sizeof(d));
	d.s.cpus = 1;
	d.s.mem = guest_mem(GUEST_MEM, THPVM_BACKING_THP);
	/* all of it written once, on THP; then shared with the sharer */
	run_to_end(d.s.mem, A("mode=fill", "size=72M"));
	sharer = sharer_start(NULL);
	/* 2% of the pages of the first 32 extents: split, mostly shared */
	run_to_end(d.s.mem, A("mode=subset", "seed=7", "percent=2", "size=64M"));

	/* and a VM writing the next 4 extents all over, continuously: split, all private */
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_DENSITY, THPVM_COLLAPSE_ENGINE_AUTO);
	guest_setup(&d.s.g, d.s.mem, "memtest", 1, 2 * MIB, A("mode=seq", "skip=64M", "size=8M"));
	d.s.gpa = guest_free_gpa(&d.s.g);
	d.heavy_gpa = d.s.gpa + HEAVY_SKIP;
	cr_assert_eq(collapse_vm_attach(d.s.g.vm, &cfg, &d.s.cv), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_start(d.s.g.vm), 0);
	cr_assert_eq(collapse_vm_start(d.s.cv), 0);

	cr_assert(wait_until(heavy_huge, &d, 30000), "density did not collapse the extents the guest owns");
	usleep(500000); /* several more rounds over the mostly-shared ones */
	thpvm_collapse_stats(collapse_vm_collapser(d.s.cv), &st);
	cr_assert_geq(st.results[THPVM_COLLAPSE_POLICY_SHARED], SEQ_EXTENTS, "the shared extents were looked at");
	r = thpvm_memmap_find(d.s.mem, d.s.gpa);
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (unsigned i = 0; i < SEQ_EXTENTS; i++) {
		int64_t idx = thpvm_region_extent_index(r, d.s.gpa + i * 2 * MIB);
		struct thpvm_extent_info e;

		cr_assert_eq(thpvm_region_refresh_detail(r, (uint64_t)idx), 0);
		cr_assert_eq(thpvm_region_extent(r, (uint64_t)idx, &e), 0);
		cr_assert_eq(e.state, THPVM_EXTENT_SPLIT, "mostly-shared extent %u was collapsed", i);
		cr_assert_lt(e.nr_private, cfg.private_pages, "extent %u: %u private pages", i, e.nr_private);
		cr_assert_gt(e.nr_shared, THPVM_EXTENT_PAGES / 2, "extent %u: only %u shared pages", i, e.nr_shared);
	}

	/* the policy, not the engine, kept them: tlb takes them all, and the data stays */
	collapse_vm_get_config(d.s.cv, &cfg);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "tlb"), 0);
	cr_assert_eq(collapse_vm_configure(d.s.cv, &cfg), 0, "%s", vmm_last_error());
	cr_assert(wait_until(light_huge, &d, 30000), "tlb did not collapse the shared extents");
	for (uint64_t k = 0; k < SEQ_BYTES / 4096; k++) {
		uint64_t gpa = d.s.gpa + k * 4096;
		const void *hva = thpvm_memmap_gpa_to_hva(d.s.mem, gpa, 4096);

		bad += !pattern_check_page(hva, gpa >> 12, 1, picked(gpa >> 12) ? 7 : 1);
	}
	cr_assert_eq(bad, 0, "%llu pages lost their data in the collapse", (unsigned long long)bad);
	sharer_stop(sharer);

	payload_request_stop(d.s.g.payload);
	cr_assert_eq(vm_wait(d.s.g.vm, test_ns(30), NULL), 0);
	cr_assert_eq(d.s.g.vm->exit.status, 0, "%s", guest_output(&d.s.g));
	cr_assert_eq(memtest_seq_verify(&d.s.g, HEAVY_SKIP, HEAVY_BYTES, 1, &(uint64_t){ 0 }), 0);
	guest_teardown(&d.s.g);
	thpvm_memmap_destroy(d.s.mem);
}
