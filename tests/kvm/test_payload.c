/* SPDX-License-Identifier: MIT */
/* Payload guests on real /dev/kvm: the ABI end to end, and every way a payload can fail. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "kvm_test.h"
#include "helpers.h"
#include "x86/layout.h"

#define MIB2 (2ULL << 20)
#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })

TestSuite(payload, .timeout = 60);

/* Runs selftest with args on cpus vCPUs (2 MiB guest pages); asserts it exits by itself with status. */
static const struct vm_exit_info *selftest_exits(struct guest *g, unsigned cpus, const char *const *args, int status)
{
	const struct vm_exit_info *e;

	REQUIRE_KVM();
	guest_setup(g, NULL, "selftest", cpus, MIB2, args);
	e = guest_run(g, 10000);
	cr_assert_eq(e->reason, VM_STOP_GUEST_EXIT, "%s", e->message);
	cr_assert_eq(e->status, status);
	return e;
}

Test(payload, hello_prints_and_reports_intact_and_exits_with_its_status)
{
	struct guest g;

	selftest_exits(&g, 1, A("status=42", "value=0x123456789abcdef"), 42);
	cr_assert_str_eq(guest_output(&g),
			 "selftest: hello from a payload guest\n"
			 " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\n"
			 "result answer=42\nresult cpu=0\nresult nr_cpus=1\nresult guest_page_size=2097152\n"
			 "result a_result_name_of_sixty_three_characters_0123456789_abcdefghijkl=18446744073709551615\n"
			 "result value=81985529216486895\n");
	cr_assert_eq(guest_result(&g, "answer"), 42);
	cr_assert_eq(guest_result(&g, "value"), 0x123456789abcdefULL);
	cr_assert_eq(guest_result(&g, "a_result_name_of_sixty_three_characters_0123456789_abcdefghijkl"), UINT64_MAX);
	cr_assert_eq(payload_nr_results(g.payload), 6);
	guest_teardown(&g);
}

Test(payload, guest_page_size_reaches_the_payload)
{
	struct guest g;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 1, 4096, NULL);
	cr_assert_eq(guest_run(&g, 10000)->status, 0);
	cr_assert_eq(guest_result(&g, "guest_page_size"), 4096);
	guest_teardown(&g);
}

Test(payload, smp_payload_runs_on_every_vcpu)
{
	struct guest g;
	bool seen[4] = { false };

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 4, MIB2, A("status=3"));
	cr_assert_eq(guest_run(&g, 20000)->status, 3, "%s", g.vm->exit.message);
	for (unsigned i = 0; i < payload_nr_results(g.payload); i++) {
		const struct payload_result *r = payload_result_at(g.payload, i);

		if (!strcmp(r->name, "cpu")) {
			cr_assert_eq(r->value, r->cpu, "vCPU %u says it is %llu", r->cpu, (unsigned long long)r->value);
			seen[r->cpu] = true;
		}
		if (!strcmp(r->name, "nr_cpus"))
			cr_assert_eq(r->value, 4);
	}
	for (unsigned i = 0; i < 4; i++)
		cr_assert(seen[i], "vCPU %u never ran", i);
	guest_teardown(&g);
}

Test(payload, exit_from_one_vcpu_ends_every_vcpu)
{
	struct guest g;

	cr_assert_eq(selftest_exits(&g, 3, A("mode=exit", "status=7"), 7)->vcpu, 0);
	guest_teardown(&g);
}

static uint64_t counter(struct guest *g, unsigned cpu)
{
	const volatile uint64_t *c = thpvm_memmap_gpa_to_hva(g->mem, payload_get_layout(g->payload)->ranges[0].gpa + 8 * cpu, 8);

	return *c;
}


Test(payload, pause_parks_every_vcpu_and_resume_continues)
{
	struct guest g;
	uint64_t c0, c1;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 2, MIB2, A("mode=spin"));
	cr_assert_eq(vm_start(g.vm), 0);
	sleep_ms(200);
	cr_assert_eq(vm_pause(g.vm), 0);
	c0 = counter(&g, 0);
	c1 = counter(&g, 1);
	cr_assert(c0 > 0 && c1 > 0, "both vCPUs ran before the pause (%llu, %llu)", (unsigned long long)c0,
		  (unsigned long long)c1);
	sleep_ms(100);
	cr_assert_eq(counter(&g, 0), c0, "vCPU 0 ran while paused");
	cr_assert_eq(counter(&g, 1), c1, "vCPU 1 ran while paused");
	cr_assert_eq(vm_resume(g.vm), 0);
	sleep_ms(200);
	cr_assert(counter(&g, 0) > c0 && counter(&g, 1) > c1, "vCPUs did not continue after resume");
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(10), NULL), 0);
	cr_assert_eq(g.vm->exit.reason, VM_STOP_GUEST_EXIT, "%s", g.vm->exit.message);
	cr_assert_eq(g.vm->exit.status, 0);
	guest_teardown(&g);
}

Test(payload, timeout_stops_a_guest_that_never_ends)
{
	struct guest g;
	const struct vm_exit_info *e;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 2, MIB2, A("mode=spin"));
	e = guest_run(&g, 300);
	cr_assert_eq(e->reason, VM_STOP_TIMEOUT);
	cr_assert_eq(e->status, VM_STATUS_TIMEOUT);
	cr_assert(strstr(e->message, "still running"), "%s", e->message);
	guest_teardown(&g);
}

/* Runs selftest mode=MODE and checks the one-line reason and the register dump. */
static void expect_guest_error(const char *payload, const char *mode, const char *message)
{
	char arg[32];
	struct guest g;
	const struct vm_exit_info *e;

	snprintf(arg, sizeof(arg), "mode=%s", mode);
	guest_setup(&g, NULL, payload, 1, MIB2, mode ? A(arg) : NULL);
	e = guest_run(&g, 10000);
	cr_assert_eq(e->reason, VM_STOP_GUEST_ERROR, "mode %s: %s", mode, e->message);
	cr_assert_eq(e->status, VM_STATUS_FAILURE);
	cr_assert(strstr(e->message, message), "mode %s: message '%s' lacks '%s'", mode, e->message, message);
	cr_assert(!strchr(e->message, '\n'), "the reason is one line");
	cr_assert(e->dump, "no register dump");
	cr_assert(strstr(e->dump, "vcpu 0 registers:") && strstr(e->dump, "rip 0x") && strstr(e->dump, "cr0 0x") &&
		  strstr(e->dump, "cr2 0x") && strstr(e->dump, "cr3 0x") && strstr(e->dump, "cr4 0x") &&
		  strstr(e->dump, "efer 0x") && strstr(e->dump, "cs   sel") && strstr(e->dump, "ss   sel") &&
		  strstr(e->dump, "tr   sel") && strstr(e->dump, "gdt base"),
		  "incomplete dump:\n%s", e->dump);
	guest_teardown(&g);
}

Test(payload, page_fault_on_unmapped_write_names_address_and_dumps)
{
	REQUIRE_KVM();
	expect_guest_error("selftest", "pf", "payload exception #PF page fault at rip 0x");
	expect_guest_error("selftest", "pf", "user write at unmapped address 0x7f0000000000");
}

Test(payload, write_to_mapped_non_ram_is_an_mmio_error)
{
	REQUIRE_KVM();
	expect_guest_error("selftest", "mmio", "unexpected MMIO write of 4 byte(s) at guest-physical 0xd0000000");
}

Test(payload, vmm_area_is_out_of_reach_of_the_payload)
{
	REQUIRE_KVM();
	expect_guest_error("selftest", "supervisor", "user read of protected page 0x1000");
}

Test(payload, exceptions_are_named)
{
	REQUIRE_KVM();
	expect_guest_error("selftest", "gp", "#GP general protection fault");
	expect_guest_error("selftest", "ud", "#UD invalid opcode");
	expect_guest_error("selftest", "de", "#DE divide error");
}

Test(payload, triple_fault_ends_the_vm_with_a_dump)
{
	REQUIRE_KVM();
	expect_guest_error("triplefault", NULL, "guest triple fault (KVM_EXIT_SHUTDOWN)");
}

Test(payload, bad_calls_and_ports_are_refused)
{
	REQUIRE_KVM();
	expect_guest_error("selftest", "badcall", "unknown payload call 99");
	/* a port the payload may not use: #GP (I/O bitmap) on kvm-pvm, an unclaimed port on VMX/SVM */
	expect_guest_error("selftest", "badport", "");
	expect_guest_error("selftest", "excport", "");
}

/* ---- memtest ---- */

static uint64_t ranges_check(struct guest *g, uint32_t gen, uint32_t seed)
{
	const struct payload_layout *l = payload_get_layout(g->payload);
	uint64_t bad = 0;

	for (unsigned i = 0; i < l->nr_ranges; i++)
		bad += pattern_check(thpvm_memmap_gpa_to_hva(g->mem, l->ranges[i].gpa, l->ranges[i].size_bytes),
				     l->ranges[i].gpa >> 12, l->ranges[i].size_bytes >> 12, gen, seed);
	return bad;
}

Test(payload, memtest_writes_exactly_the_host_pattern)
{
	struct thpvm_memmap *mem;
	struct guest g;
	uint64_t pages;

	REQUIRE_KVM();
	mem = guest_mem(64ULL << 20, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", 2, MIB2, A("mode=fill", "seed=7", "gen=3"));
	cr_assert_eq(guest_run(&g, 20000)->status, 0, "%s", g.vm->exit.message);
	pages = guest_result(&g, "pages_written");
	cr_assert_eq(pages, payload_get_layout(g.payload)->ranges[0].size_bytes >> 12);
	cr_assert_eq(ranges_check(&g, 3, 7), 0, "the host does not see the guest's pattern");
	cr_assert_eq(ranges_check(&g, 3, 8), pages, "a different seed must not match");
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

Test(payload, memtest_verify_detects_what_the_host_corrupts)
{
	struct thpvm_memmap *mem;
	struct guest g;
	uint64_t base, p1, p2;
	uint64_t *w;

	REQUIRE_KVM();
	mem = guest_mem(64ULL << 20, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", 1, MIB2, A("mode=fill", "seed=11"));
	cr_assert_eq(guest_run(&g, 20000)->status, 0, "%s", g.vm->exit.message);
	base = payload_get_layout(g.payload)->ranges[0].gpa;
	guest_teardown(&g);

	/* a new VM over the same memory finds it intact ... */
	guest_setup(&g, mem, "memtest", 1, MIB2, A("mode=verify", "seed=11"));
	cr_assert_eq(guest_run(&g, 20000)->status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "pages_bad"), 0);
	guest_teardown(&g);

	/* ... and every page the host changed: one flipped bit, one stale page */
	p1 = base + 1234 * 4096ULL;
	p2 = base + 9000 * 4096ULL;
	w = thpvm_memmap_gpa_to_hva(mem, p1 + 8 * 77, 8);
	*w ^= 1ULL << 33;
	pattern_fill_page(thpvm_memmap_gpa_to_hva(mem, p2, 4096), p2 >> 12, 2, 11);
	guest_setup(&g, mem, "memtest", 1, MIB2, A("mode=verify", "seed=11"));
	cr_assert_eq(guest_run(&g, 20000)->status, 3, "mismatches end memtest with status 3");
	cr_assert_eq(guest_result(&g, "pages_bad"), 2);
	cr_assert_eq(guest_result(&g, "first_bad_gpa"), p1);
	cr_assert(strstr(guest_output(&g), "MISMATCH"));
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

static bool picked(uint64_t gpa, uint32_t seed, unsigned percent)
{
	return pattern_word(gpa >> 12, 0, seed, 512) % 100 < percent;
}

Test(payload, memtest_subset_writes_its_pages_and_sees_the_base_elsewhere)
{
	struct thpvm_memmap *mem;
	struct guest g;
	const struct payload_layout *l;
	uint64_t nr_picked = 0, bad = 0;

	REQUIRE_KVM();
	mem = guest_mem(64ULL << 20, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", 2, MIB2, A("mode=fill", "seed=5", "gen=1"));
	cr_assert_eq(guest_run(&g, 20000)->status, 0);
	guest_teardown(&g);
	guest_setup(&g, mem, "memtest", 2, MIB2,
		    A("mode=subset", "seed=9", "gen=2", "percent=10", "base_seed=5", "base_gen=1"));
	cr_assert_eq(guest_run(&g, 20000)->status, 0, "%s\n%s", g.vm->exit.message, guest_output(&g));
	l = payload_get_layout(g.payload);
	for (uint64_t gpa = l->ranges[0].gpa; gpa < l->ranges[0].gpa + l->ranges[0].size_bytes; gpa += 4096) {
		bool p = picked(gpa, 9, 10);
		const void *page = thpvm_memmap_gpa_to_hva(mem, gpa, 4096);

		nr_picked += p;
		bad += p ? !pattern_check_page(page, gpa >> 12, 2, 9) : !pattern_check_page(page, gpa >> 12, 1, 5);
	}
	cr_assert_eq(bad, 0, "the host sees pages the subset rule does not explain");
	cr_assert_eq(guest_result(&g, "pages_written"), nr_picked);
	cr_assert(nr_picked > 0 && nr_picked < (l->ranges[0].size_bytes >> 12) / 5, "about 10%% picked: %llu",
		  (unsigned long long)nr_picked);
	guest_teardown(&g);
	/* the base pattern's verify sees exactly the subset's pages as changed */
	guest_setup(&g, mem, "memtest", 1, MIB2, A("mode=verify", "seed=5", "gen=1"));
	cr_assert_eq(guest_run(&g, 20000)->status, 3);
	cr_assert_eq(guest_result(&g, "pages_bad"), nr_picked);
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

Test(payload, memtest_seq_checks_every_pass_on_every_vcpu)
{
	struct thpvm_memmap *mem;
	struct guest g;
	unsigned passes = 0;

	REQUIRE_KVM();
	mem = guest_mem(32ULL << 20, THPVM_BACKING_THP);
	guest_setup(&g, mem, "memtest", 2, MIB2, A("mode=seq", "iterations=4", "gen=10", "seed=3"));
	cr_assert_eq(guest_run(&g, 30000)->status, 0, "%s", g.vm->exit.message);
	for (unsigned i = 0; i < payload_nr_results(g.payload); i++) {
		const struct payload_result *r = payload_result_at(g.payload, i);

		if (!strcmp(r->name, "passes")) {
			cr_assert_eq(r->value, 4);
			passes++;
		}
	}
	cr_assert_eq(passes, 2, "each vCPU reports its passes");
	cr_assert_eq(guest_result(&g, "pages_bad"), 0);
	/* three passes checked what the previous one wrote */
	cr_assert_eq(guest_result(&g, "pages_checked"), 3 * guest_result(&g, "pages_written") / 4);
	cr_assert_eq(ranges_check(&g, 13, 3), 0, "the last pass wrote generation 13");
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

Test(payload, memtest_seq_runs_until_the_host_says_stop)
{
	struct guest g;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "memtest", 2, MIB2, A("mode=seq", "size=8M"));
	cr_assert_eq(vm_start(g.vm), 0);
	sleep_ms(300);
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(20), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s", g.vm->exit.message);
	cr_assert(guest_result(&g, "pages_written") >= 2048, "at least one pass over 8 MiB");
	guest_teardown(&g);
}

/* ---- tlbbench ---- */

Test(payload, tlbbench_chases_the_whole_working_set)
{
	struct guest g;
	uint64_t acc, cycles;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "tlbbench", 1, MIB2, A("size=16M", "laps=2"));
	cr_assert_eq(guest_run(&g, 30000)->status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "ws_bytes"), 16ULL << 20);
	cr_assert_eq(guest_result(&g, "elements"), 4096);
	cr_assert_eq(guest_result(&g, "stride"), 4096);
	acc = guest_result(&g, "chase_accesses");
	cycles = guest_result(&g, "chase_cycles");
	cr_assert_eq(acc, 8192);
	cr_assert(cycles > acc, "a dependent load costs more than a cycle (%llu for %llu)", (unsigned long long)cycles,
		  (unsigned long long)acc);
	cr_assert_eq(guest_result(&g, "chase_chunks"), acc / guest_result(&g, "chase_chunk_accesses"));
	cr_assert(guest_result(&g, "chase_chunk_min_cycles") <= guest_result(&g, "chase_chunk_median_cycles"));
	cr_assert_eq(guest_result(&g, "seq_accesses"), (16ULL << 20) / 64);
	guest_teardown(&g);
}

Test(payload, tlbbench_chain_is_one_cycle_over_all_elements)
{
	struct guest g;
	const struct payload_layout *l;
	uint64_t base, start, p, n = 0;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "tlbbench", 1, MIB2, A("size=1M", "mode=line", "laps=1"));
	cr_assert_eq(guest_run(&g, 30000)->status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "elements"), (1ULL << 20) / 64);
	/* follow the chain the guest built: it visits every line once and comes back */
	l = payload_get_layout(g.payload);
	base = l->ranges[0].gpa;
	for (unsigned i = 1; i < l->nr_ranges; i++)
		if (l->ranges[i].size_bytes > l->ranges[0].size_bytes)
			base = l->ranges[i].gpa;
	start = p = base;
	do {
		p = *(const uint64_t *)thpvm_memmap_gpa_to_hva(g.mem, p, 8);
		cr_assert(p >= base && p < base + (1ULL << 20) && p % 64 == 0, "pointer 0x%llx off the set",
			  (unsigned long long)p);
		n++;
	} while (p != start && n <= 16384);
	cr_assert_eq(n, 16384, "the cycle has %llu elements", (unsigned long long)n);
	guest_teardown(&g);
}

Test(payload, payload_guests_span_the_mmio_hole)
{
	struct thpvm_memmap *mem;
	struct guest g;
	struct payload_layout lay;
	const struct payload_layout *l = &lay;
	char skip[64];

	REQUIRE_KVM();
	/* 3.25 GiB below the hole + 64 MiB above it; only the part above is touched */
	mem = guest_mem(X86_MMIO_HOLE_GPA + (64ULL << 20), THPVM_BACKING_THP);
	guest_setup(&g, mem, "selftest", 1, MIB2, NULL);
	lay = *payload_get_layout(g.payload);
	cr_assert_eq(l->nr_ranges, 2);
	cr_assert_eq(l->ranges[0].gpa, X86_PAYLOAD_HEAP_GPA);
	cr_assert_eq(l->ranges[0].size_bytes, X86_MMIO_HOLE_GPA - X86_PAYLOAD_HEAP_GPA);
	cr_assert_eq(l->ranges[1].gpa, X86_RAM_HIGH_GPA);
	cr_assert_eq(l->pt_gpa + l->pt_size, X86_RAM_HIGH_GPA + (64ULL << 20), "page tables at the top of RAM");
	cr_assert_eq(l->ranges[1].size_bytes, l->pt_gpa - X86_RAM_HIGH_GPA);
	snprintf(skip, sizeof(skip), "skip=%llu", (unsigned long long)l->ranges[0].size_bytes);
	guest_teardown(&g);
	guest_setup(&g, mem, "memtest", 2, MIB2, A("mode=fill+verify", skip, "seed=4"));
	cr_assert_eq(guest_run(&g, 60000)->status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "pages_written"), l->ranges[1].size_bytes >> 12);
	cr_assert_eq(pattern_check(thpvm_memmap_gpa_to_hva(mem, X86_RAM_HIGH_GPA, l->ranges[1].size_bytes),
				   X86_RAM_HIGH_GPA >> 12, l->ranges[1].size_bytes >> 12, 1, 4),
		     0, "the guest filled RAM above 4 GiB");
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}
