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
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"
#include "kvm/kvm_host.h"

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

/*
 * What a guest that stopped under fire says about its memory. Its page
 * tables (top of RAM) and its system area (GDT, IDT, TSSs: [0, 2 MiB)) are
 * static once it runs (the walker's A bits aside): copies taken then, compared
 * when it stopped, tell a guest whose memory changed under it from one whose
 * view of intact memory (KVM's mappings, the CPU's page walk) went wrong.
 */
struct static_copy {
	uint64_t gpa[2], size[2];
	uint64_t *words[2];
};

static void static_copy_take(struct guest *g, struct static_copy *sc)
{
	const struct payload_layout *l = payload_get_layout(g->payload);

	sc->gpa[0] = l->pt_gpa;
	sc->size[0] = l->pt_size;
	sc->gpa[1] = 0;
	sc->size[1] = 2 * MIB;
	for (int i = 0; i < 2; i++) {
		const void *hva = thpvm_memmap_gpa_to_hva(g->mem, sc->gpa[i], sc->size[i]);

		cr_assert_not_null(hva);
		sc->words[i] = malloc(sc->size[i]);
		cr_assert_not_null(sc->words[i]);
		memcpy(sc->words[i], hva, sc->size[i]);
	}
}

static const char *static_copy_compare(struct guest *g, struct static_copy *sc, char *buf, size_t len)
{
	static const char *const what[2] = { "page tables", "system area" };
	size_t n = 0;
#define ADD(...) (n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__), n = n < len ? n : len - 1)

	for (int i = 0; i < 2; i++) {
		const uint64_t *now = thpvm_memmap_gpa_to_hva(g->mem, sc->gpa[i], sc->size[i]);
		const uint64_t mask = i == 0 ? ~0x60ULL : ~0ULL; /* A and D of page-table entries */
		uint64_t changed = 0, first = 0;
		unsigned huge, split;

		for (uint64_t w = 0; w < sc->size[i] / 8; w++)
			if ((now[w] & mask) != (sc->words[i][w] & mask) && !changed++)
				first = w;
		range_states(g->mem, sc->gpa[i] & ~(2 * MIB - 1), 2 * MIB, &huge, &split);
		ADD("%s%s at gpa 0x%llx (its extent %s): ", i ? "; " : "", what[i], (unsigned long long)sc->gpa[i],
		    huge ? "huge" : split ? "split" : "absent");
		if (!changed)
			ADD("intact");
		else
			ADD("%llu words changed, first at gpa 0x%llx: 0x%llx, was 0x%llx", (unsigned long long)changed,
			    (unsigned long long)(sc->gpa[i] + first * 8), (unsigned long long)now[first],
			    (unsigned long long)sc->words[i][first]);
	}
#undef ADD
	return buf;
}

static void static_copy_free(struct static_copy *sc)
{
	free(sc->words[0]);
	free(sc->words[1]);
}

static void fire_case(enum thpvm_collapse_engine engine)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct splitter sp = { 0 };
	struct static_copy sc;
	char mem_says[512];
	struct collapse_vm *cv;
	struct thpvm_memmap *mem;
	struct guest g;
	uint64_t bad, first_bad, passes[FIRE_CPUS];
	struct kvm_host host;
	time_t deadline;

	REQUIRE_KVM();
	REQUIRE_THP();
	kvm_host_detect(&host);
	for (unsigned attempt = 1;; attempt++) {
		mem = guest_mem(FIRE_MEM, THPVM_BACKING_THP);
		guest_setup(&g, mem, "memtest", FIRE_CPUS, 2 * MIB, A("mode=seq", "size=64M"));
		vm_test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, engine);
		cfg.interval_ms = 0; /* as fast as it can */
		cfg.batch_extents = 4;
		cfg.remap_batch_extents = 1;
		cr_assert_eq(collapse_vm_attach(g.vm, &cfg, &cv), 0, "%s", vmm_last_error());
		cr_assert_eq(vm_start(g.vm), 0);
		usleep(test_ms(200) * 1000); /* past the guest's first walks: the A bits it sets */
		static_copy_take(&g, &sc);
		cr_assert_eq(collapse_vm_start(cv), 0);
		memset(&sp, 0, sizeof(sp));
		sp.c = collapse_vm_collapser(cv);
		cr_assert_eq(pthread_create(&sp.thread, NULL, splitter_main, &sp), 0);

		deadline = time(NULL) + (time_t)test_secs(DEADLINE_S);
		do {
			usleep(50000);
			thpvm_collapse_stats(sp.c, &st);
		} while (st.nr_collapsed < TARGET_COLLAPSES && time(NULL) < deadline &&
			 g.vm->exit.reason == VM_STOP_NONE);
		sp.stop = true;
		pthread_join(sp.thread, NULL);
		if (g.vm->exit.reason == VM_STOP_NONE)
			break;
		static_copy_compare(&g, &sc, mem_says, sizeof(mem_says));
		/*
		 * Under QEMU TCG (the nested lab) an L2 guest triple-faults now and
		 * then although the memory its page walk reads is intact and was
		 * never moved (the page tables' and the system area's extents are
		 * never split, so never collapsed): the emulated nested paging lost
		 * it, with QEMU 7.2 and 10.0 alike (docs/lab.md, "Known limits").
		 * There, and only there, such a run is repeated, twice at most, and
		 * said so; on a real CPU the first triple fault fails the test.
		 */
		if (host.emulated && attempt < 3 && strstr(g.vm->exit.message, "triple fault") &&
		    !strstr(mem_says, "changed")) {
			/*
			 * stderr, not cr_log_warn(): a Criterion warning makes the
			 * binary exit 1 although every test passed
			 */
			fprintf(stderr, "collapse_vm_fire: attempt %u: the VM stopped under fire: %s (%s; after %llu "
					"forks): the emulated CPU lost the guest, not its memory; running it again\n",
				attempt, g.vm->exit.message, mem_says, (unsigned long long)sp.nr_forks);
			static_copy_free(&sc);
			guest_teardown(&g);
			thpvm_memmap_destroy(mem);
			continue;
		}
		cr_assert_fail("the VM stopped under fire: %s (%s; after %llu forks, attempt %u)\n%s", g.vm->exit.message,
			       mem_says, (unsigned long long)sp.nr_forks, attempt, guest_output(&g));
	}
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
	static_copy_compare(&g, &sc, mem_says, sizeof(mem_says));
	cr_assert(!strstr(mem_says, "changed"), "the guest's static memory changed under fire: %s", mem_says);
	static_copy_free(&sc);
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
