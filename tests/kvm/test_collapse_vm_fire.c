/* SPDX-License-Identifier: MIT */
/*
 * Integrity under fire, in a real VM: memtest writes sequence-numbered
 * passes over its memory on every vCPU (mode=seq: each page is checked for
 * the previous pass's generation before the next is written) while the
 * VM's collapse thread in tlb mode collapses as fast as it can, and a
 * splitter in the VMM keeps forking short-lived children so the guest's
 * writes keep copy-on-write splitting the extents. After thousands of
 * collapses the guest has seen no wrong page and, from the host, every page
 * holds exactly its vCPU's last generation: no write lost, none mixed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define FIRE_MEM (96 * MIB)
#define FIRE_BYTES (64 * MIB)
#define FIRE_CPUS 2
#define TARGET_COLLAPSES 2000
#define DEADLINE_S 60 /* a bound for a loaded machine (times the time scale): 2000 collapses take 10-25 s on kvm-pvm */
#define CHILD_LIFE_US 50000

TestSuite(collapse_vm_fire, .timeout = 180);

struct splitter {
	struct thpvm_collapse *c;
	volatile bool stop;
	uint64_t nr_forks;
	pthread_t thread;
};

static void *splitter_main(void *arg)
{
	struct splitter *s = arg;

	while (!s->stop) {
		pid_t child;

		/* the fork contract: no collapse in flight while the child is made */
		thpvm_collapse_pause(s->c);
		child = fork();
		if (child == 0) {
			/* share everything for a while: the guest's writes meanwhile split what they touch */
			struct timespec ts = { .tv_nsec = CHILD_LIFE_US * 1000L };

			nanosleep(&ts, NULL);
			_exit(0);
		}
		thpvm_collapse_resume(s->c);
		if (child < 0)
			break;
		waitpid(child, NULL, 0);
		s->nr_forks++;
	}
	return NULL;
}

static void fire_case(enum thpvm_collapse_engine engine)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct splitter sp = { 0 };
	struct collapse_vm *cv;
	struct thpvm_memmap *mem;
	struct guest g;
	uint64_t bad, first_bad, passes[FIRE_CPUS];
	time_t deadline;

	REQUIRE_KVM();
	REQUIRE_THP();
	mem = guest_mem(FIRE_MEM, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", FIRE_CPUS, 2 * MIB, A("mode=seq", "size=64M"));
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, engine);
	cfg.interval_ms = 0; /* as fast as it can */
	cfg.batch_extents = 4;
	cfg.remap_batch_extents = 1;
	cr_assert_eq(collapse_vm_attach(g.vm, &cfg, &cv), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_start(g.vm), 0);
	cr_assert_eq(collapse_vm_start(cv), 0);
	sp.c = collapse_vm_collapser(cv);
	cr_assert_eq(pthread_create(&sp.thread, NULL, splitter_main, &sp), 0);

	deadline = time(NULL) + (time_t)test_secs(DEADLINE_S);
	do {
		usleep(50000);
		thpvm_collapse_stats(sp.c, &st);
	} while (st.nr_collapsed < TARGET_COLLAPSES && time(NULL) < deadline && g.vm->exit.reason == VM_STOP_NONE);
	sp.stop = true;
	pthread_join(sp.thread, NULL);
	cr_assert_eq(g.vm->exit.reason, VM_STOP_NONE, "the VM stopped under fire: %s\n%s", g.vm->exit.message,
		     guest_output(&g));
	/* the guest finishes its pass with the thread still collapsing behind it */
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	thpvm_collapse_stop(sp.c);
	thpvm_collapse_stats(sp.c, &st);
	cr_assert_eq(g.vm->exit.reason, VM_STOP_GUEST_EXIT, "after %llu collapses and %llu forks: %s\n%s",
		     (unsigned long long)st.nr_collapsed, (unsigned long long)sp.nr_forks, g.vm->exit.message,
		     guest_output(&g));
	for (unsigned c = 0; c < FIRE_CPUS; c++)
		cr_assert_eq(payload_result(g.payload, "passes", (int)c, &passes[c]), 0, "vCPU %u reported no passes:\n%s", c,
			     guest_output(&g));
	cr_log_info("%s: %llu collapses (%llu madv, %llu remap) in %llu ops, %llu forks, guest passes %llu/%llu, "
		    "%llu writer stalls (p50 %llu us, p99 %llu us, max %llu us), op latency p50 %llu us p99 %llu us",
		    thpvm_collapse_engine_str(engine), (unsigned long long)st.nr_collapsed,
		    (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV],
		    (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP],
		    (unsigned long long)st.nr_ops, (unsigned long long)sp.nr_forks, (unsigned long long)passes[0],
		    (unsigned long long)passes[1], (unsigned long long)st.nr_stalls,
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&st.stall, 50),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&st.stall, 99),
		    (unsigned long long)(st.stall.max_ns / 1000),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&st.latency, 50),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&st.latency, 99));

	cr_assert_eq(guest_result(&g, "pages_bad"), 0, "the guest saw pages without its last write:\n%s",
		     guest_output(&g));
	cr_assert_eq(g.vm->exit.status, 0);
	bad = memtest_seq_verify(&g, 0, FIRE_BYTES, FIRE_CPUS, &first_bad);
	cr_assert_eq(bad, 0, "%llu pages do not hold their vCPU's last generation (first at gpa 0x%llx)",
		     (unsigned long long)bad, (unsigned long long)first_bad);
	cr_assert_geq(st.nr_collapsed, TARGET_COLLAPSES, "only %llu collapses in %.0f s", (unsigned long long)st.nr_collapsed,
		      test_secs(DEADLINE_S));
	cr_assert_eq(st.nr_collapsed_by_engine[engine], st.nr_collapsed);
	cr_assert_gt(sp.nr_forks, 0);
	for (unsigned c = 0; c < FIRE_CPUS; c++)
		cr_assert_geq(passes[c], 2, "vCPU %u made only %llu passes: its checks saw too little", c,
			      (unsigned long long)passes[c]);
	if (engine == THPVM_COLLAPSE_ENGINE_REMAP)
		cr_assert_gt(st.nr_stalls, 0, "no vCPU ever met a write-protected extent");
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

Test(collapse_vm_fire, madv_collapse_under_fire_loses_no_guest_write)
{
	fire_case(THPVM_COLLAPSE_ENGINE_MADV);
}

Test(collapse_vm_fire, copy_and_remap_under_fire_loses_no_guest_write)
{
	fire_case(THPVM_COLLAPSE_ENGINE_REMAP);
}
