/* SPDX-License-Identifier: MIT */
/*
 * KVM's own count of its stage-2 mappings (binary statistics) against what
 * the payload touched. A host THP is mapped 2 MiB under 2 MiB guest pages on
 * every host; under 4 KiB guest pages only with two-dimensional paging (EPT,
 * NPT), never with shadow paging (kvm-pvm): the paging mode is found at run
 * time (vmm/kvm/kvm_host.c) and each host is held to its own rule.
 */
#include <criterion/criterion.h>
#include "kvm_test.h"
#include "helpers.h"
#include "kvm/vcpu.h"
#include "kvm/vm_stats.h"
#include "kvm/kvm_host.h"
#include "util/error.h"
#include <unistd.h>

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define TOUCHED (64 * MIB)

TestSuite(kvm_mapping, .timeout = 60);

/* memtest fills the first 64 MiB of free memory; then both views of the guest's RAM. */
static void touch_64m(enum thpvm_backing backing, uint64_t guest_page, struct vm_stats_summary *s)
{
	struct thpvm_memmap *mem = guest_mem(96 * MIB, backing);
	struct guest g;

	guest_setup(&g, mem, "memtest", 1, guest_page, A("mode=fill", "size=64M"));
	cr_assert_eq(guest_run(&g, 30000)->status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "pages_written"), TOUCHED / 4096);
	cr_assert_eq(vm_stats_summary(g.vm, s), 0);
	cr_assert(s->kvm_valid, "this KVM has no pages_2m/pages_4k statistics");
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
}

Test(kvm_mapping, thp_with_2m_guest_pages_is_mapped_2m)
{
	struct vm_stats_summary s;

	REQUIRE_KVM();
	REQUIRE_THP();
	touch_64m(THPVM_BACKING_THP, 2 * MIB, &s);
	cr_assert(s.cov.huge_bytes >= TOUCHED, "host: only %llu bytes HUGE", (unsigned long long)s.cov.huge_bytes);
	cr_assert(s.pages_2m * 2 * MIB >= TOUCHED, "KVM maps %llu x 2 MiB, the payload touched 64 MiB",
		  (unsigned long long)s.pages_2m);
	/* what KVM maps 2 MiB the host holds as THP */
	cr_assert(s.pages_2m * 2 * MIB <= s.cov.huge_bytes);
}

Test(kvm_mapping, 4k_backing_is_never_mapped_2m)
{
	struct vm_stats_summary s;

	REQUIRE_KVM();
	touch_64m(THPVM_BACKING_4K, 2 * MIB, &s);
	cr_assert_eq(s.cov.huge_bytes, 0);
	cr_assert_eq(s.pages_2m, 0);
	cr_assert(s.pages_4k * 4096 >= TOUCHED, "KVM maps only %llu x 4 KiB", (unsigned long long)s.pages_4k);
}

Test(kvm_mapping, 4k_guest_pages_over_host_thp_are_mapped_as_the_paging_mode_allows)
{
	struct vm_stats_summary s;
	struct kvm_host h;

	REQUIRE_KVM();
	REQUIRE_THP();
	kvm_host_detect(&h);
	cr_assert_neq(h.paging, KVM_PAGING_UNKNOWN, "the paging mode of this KVM is not known: %s", h.what);
	touch_64m(THPVM_BACKING_THP, 4096, &s);
	cr_log_info("%s: guest 4 KiB pages over host THP: pages_2m %llu, pages_4k %llu", h.what,
		    (unsigned long long)s.pages_2m, (unsigned long long)s.pages_4k);
	cr_assert(s.cov.huge_bytes >= TOUCHED, "host: THP as before");
	if (kvm_paging_maps_2m(h.paging, 4096)) {
		/* EPT/NPT: the guest's page size is its own level of the walk; the host THP is one 2 MiB entry */
		cr_assert(s.pages_2m * 2 * MIB >= TOUCHED, "%s: KVM maps only %llu x 2 MiB under 4 KiB guest pages",
			  h.what, (unsigned long long)s.pages_2m);
		cr_assert(s.pages_2m * 2 * MIB <= s.cov.huge_bytes);
	} else {
		/* shadow paging: one shadow entry per guest page, 4 KiB */
		cr_assert_eq(s.pages_2m, 0, "%s: shadow paging cannot map 2 MiB under 4 KiB guest pages", h.what);
		cr_assert(s.pages_4k * 4096 >= TOUCHED);
	}
}

Test(kvm_mapping, stats_json_has_every_statistic_of_vm_and_vcpus)
{
	struct guest g;
	json_t *j, *vm, *vcpus;
	struct kvm_stats *st;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 2, 2 * MIB, NULL);
	cr_assert_eq(guest_run(&g, 10000)->status, 0);
	j = vm_stats_json(g.vm);
	cr_assert(j);
	vm = json_object_get(json_object_get(j, "kvm"), "vm");
	vcpus = json_object_get(json_object_get(j, "kvm"), "vcpus");
	cr_assert(json_is_integer(json_object_get(vm, "pages_4k")));
	cr_assert(json_is_integer(json_object_get(vm, "pages_2m")));
	cr_assert(json_is_integer(json_object_get(vm, "pages_1g")));
	st = &g.vm->stats;
	cr_assert_eq(json_object_size(vm), st->nr_stats, "every VM statistic, by name");
	cr_assert_eq(json_array_size(vcpus), 2);
	cr_assert_eq(json_object_size(json_array_get(vcpus, 1)), g.vm->vcpus[1]->stats.nr_stats);
	cr_assert(json_object_get(json_array_get(vcpus, 0), "exits") || json_object_get(json_array_get(vcpus, 0), "io_exits"),
		  "vCPU statistics include exit counters");
	cr_assert(json_is_object(json_object_get(json_object_get(j, "memory"), "total")));
	cr_assert(json_is_integer(json_object_get(json_object_get(j, "summary"), "kvm_pages_2m")));
	json_decref(j);
	guest_teardown(&g);
}

Test(kvm_mapping, the_report_is_available_while_the_guest_runs)
{
	struct guest g;
	struct vm_stats_summary s;
	json_t *j;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 2, 2 * MIB, A("mode=spin"));
	cr_assert_eq(vm_start(g.vm), 0);
	usleep(200000);
	cr_assert_eq(vm_stats_summary(g.vm, &s), 0, "%s", vmm_last_error());
	cr_assert(s.kvm_valid);
	cr_assert(s.pages_2m + s.pages_4k > 0, "the running guest's mappings are visible");
	j = vm_stats_json(g.vm);
	cr_assert(j, "%s", vmm_last_error());
	cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "kvm"), "vcpus")), 2);
	json_decref(j);
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(10), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s", g.vm->exit.message);
	guest_teardown(&g);
}
