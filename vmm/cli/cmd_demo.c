/* SPDX-License-Identifier: MIT */
/* thpvm demo: the project's main job, end to end, on this machine. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench/bench.h"
#include "cli.h"
#include "util/opts.h"
#include "demo.h"
#include "util/error.h"
#include "machine/guest_ram.h"
#include "machine/payload.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "kvm/kvm_host.h"
#include "util/clock.h"

static int progress(uint64_t done, uint64_t total, void *arg)
{
	if (isatty(STDOUT_FILENO))
		printf("\r  prefault %s: %3llu%%", (const char *)arg, (unsigned long long)(done * 100 / total));
	return 0;
}

/* One backing mode: allocate, prefault, report. A backing the host cannot give is reported, not fatal. */
static int demo_backing(enum thpvm_backing backing, uint64_t size_bytes)
{
	struct thpvm_region_config cfg = {
		.name = "ram",
		.size_bytes = size_bytes,
		.backing = backing,
		.populate = THPVM_POPULATE_PREFAULT,
		.progress = progress,
		.progress_arg = (void *)thpvm_backing_str(backing),
	};
	struct thpvm_memmap *map;
	struct thpvm_coverage cov;
	struct thpvm_host_thp host;
	uint64_t t0, t1, t2;
	char sz[32];
	int ret;

	printf("\n== %s backing, %s ==\n", thpvm_backing_str(backing), format_size(size_bytes, sz, sizeof(sz)));
	fflush(stdout);
	if (thpvm_memmap_create(&map))
		return -1;
	t0 = util_mono_ns();
	ret = thpvm_memmap_add(map, &cfg, NULL);
	t1 = util_mono_ns();
	if (isatty(STDOUT_FILENO))
		printf("\r\033[K");
	if (ret) {
		printf("  not available here: %s\n", thpvm_last_error());
		thpvm_memmap_destroy(map);
		return 0;
	}
	printf("  allocated and prefaulted in %.1f ms\n", (double)(t1 - t0) / 1e6);
	thpvm_memmap_coverage_print(stdout, map, THPVM_COVERAGE_ALL);
	t1 = util_mono_ns();
	thpvm_memmap_coverage(map, THPVM_COVERAGE_REFRESH, &cov);
	t2 = util_mono_ns();
	thpvm_host_thp_read(&host);
	printf("  coverage measured in %.3f ms (%s)\n", (double)(t2 - t1) / 1e6,
	       host.pagemap_scan ? "one PAGEMAP_SCAN walk" : "/proc/self/pagemap");
	thpvm_memmap_destroy(map);
	return 0;
}

/*
 * tlbbench in a payload guest: dependent loads over ws bytes; returns the
 * median cycles per load (0 when the run failed) after showing how KVM and
 * the host map the guest's RAM.
 */
static double demo_tlb(const char *title, enum thpvm_backing backing, uint64_t guest_page, uint64_t ws)
{
	struct guest_ram_config rc = { .size_bytes = payload_ram_for_heap(ws), .backing = backing,
				       .populate = THPVM_POPULATE_PREFAULT };
	struct payload_image img;
	struct payload_args args = { 0 };
	struct payload_config pc = { .image = &img, .args = &args, .guest_page_size = guest_page, .quiet_results = true };
	struct thpvm_memmap *mem = NULL;
	struct payload *p;
	struct vm *vm = NULL;
	uint64_t med = 0, acc = 0, n = 0;
	double cpa = 0;
	char kv[64], sz[32];

	printf("\n== tlbbench: %s, working set %s ==\n", title, format_size(ws, sz, sizeof(sz)));
	fflush(stdout);
	snprintf(kv, sizeof(kv), "size=%llu", (unsigned long long)ws);
	payload_args_add(&args, kv);
	pc.out = fopen("/dev/null", "w");
	if (payload_image_load("tlbbench", &img)) {
		printf("  not available: %s\n", vmm_last_error());
		fclose(pc.out);
		return 0;
	}
	if (guest_ram_create(&rc, &mem) || payload_vm_create(mem, 1, &pc, &vm, &p) || vm_run(vm, 0, NULL)) {
		printf("  not available here: %s\n", vmm_last_error());
	} else if (vm->exit.reason != VM_STOP_GUEST_EXIT || vm->exit.status) {
		printf("  tlbbench failed: %s\n", vm->exit.message);
	} else if (!payload_result(p, "chase_chunk_median_cycles", 0, &med) &&
		   !payload_result(p, "chase_chunk_accesses", 0, &acc) && !payload_result(p, "chase_chunks", 0, &n) && acc) {
		cpa = (double)med / (double)acc;
		printf("  %.0f cycles per dependent load (median of %llu chunks of %llu random loads)\n", cpa,
		       (unsigned long long)n, (unsigned long long)acc);
		vm_stats_print_summary(stdout, vm);
	}
	vm_destroy(vm);
	thpvm_memmap_destroy(mem);
	payload_image_free(&img);
	fclose(pc.out);
	return cpa;
}

/*
 * The mission's other half: a running VM forked, its child splits every
 * extent with one write each, and the child's collapse thread moves them
 * back onto 2 MiB pages, next to the kernel's khugepaged left alone. It is
 * thpvm bench collapse with one repetition.
 */
static int demo_fork_collapse(uint64_t size_bytes)
{
	extern const struct bench bench_collapse;
	char mem[32];
	char *argv[] = { "collapse", "--memory", mem, "--reps", "1", "--config", "tlb", "--config", "khugepaged",
			 "--window", "5", NULL };

	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(size_bytes >> 20));
	printf("\n== fork + collapse: a %s VM forked; the child writes one byte into every 2 MiB extent ==\n"
	       "The child's extents are split (copy-on-write copies 4 KiB, KVM falls back to 4 KiB mappings).\n"
	       "Row tlb: the child's collapse thread moves them back onto 2 MiB pages. Row khugepaged: our\n"
	       "thread off, the kernel's khugepaged at its own settings. (thpvm bench collapse, 1 repetition)\n\n",
	       mem);
	fflush(stdout);
	return bench_collapse.run((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv);
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { "memory", required_argument, NULL, 'm' },
					      { "linux", no_argument, NULL, 'l' },
					      { "guest-dir", required_argument, NULL, 'g' },
					      { "vm-parts", no_argument, NULL, 'v' },
					      { 0 } };
	uint64_t size_bytes = 1ULL << 30;
	const char *guest_dir = NULL;
	bool linux_guest = false, memory_given = false, vm_parts = false;
	struct kvm_host h;
	double fast, slow;
	int c, failed = 0;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == ':' || c == '?')
			return opt_bad("demo", c, argv);
		if (c == 'l' || c == 'g') {
			linux_guest = true;
			guest_dir = c == 'g' ? optarg : guest_dir;
			continue;
		}
		if (c == 'v') {
			vm_parts = true;
			continue;
		}
		if (c != 'm' || parse_size(optarg, &size_bytes) || !size_bytes || size_bytes % (2ULL << 20)) {
			cli_error("demo: --memory expects a non-zero multiple of 2 MiB, e.g. 1G");
			return 2;
		}
		memory_given = true;
	}
	if (opt_rest("demo", argc, argv))
		return 2;
	if (linux_guest)
		return demo_linux(guest_dir, memory_given ? size_bytes : 512ULL << 20);
	kvm_host_detect(&h);
	if (!vm_parts) {
		printf("thpvm demo: guest RAM on transparent huge pages, measured per 2 MiB extent\n");
		for (unsigned b = 0; b < THPVM_NR_BACKINGS; b++)
			if (b != THPVM_BACKING_FILE && demo_backing((enum thpvm_backing)b, size_bytes))
				return 1;
		if (h.kind == KVM_HOST_NONE) {
			char why[256];

			snprintf(why, sizeof(why), "KVM on this host: %s", h.what);
			/* TCG emulates every guest instruction: a smaller guest keeps the lab's part to minutes */
			return demo_in_lab(why, memory_given ? size_bytes : DEMO_LAB_MEMORY) ? 1 : 0;
		}
	}
	printf("\nKVM on this host: %s\n", h.what);
	if (h.emulated)
		printf("Timings below are %s.\n", kvm_host_timing_note(&h));
	printf("\nA payload guest (64-bit, CPL3) chases pointers through its RAM; KVM's own statistics\n"
	       "say how it maps that RAM, libthpvm's extents how the host holds it.\n");
	fast = demo_tlb("host THP, guest 2 MiB pages", THPVM_BACKING_THP, 2ULL << 20, size_bytes);
	slow = demo_tlb("host 4 KiB pages, guest 4 KiB pages", THPVM_BACKING_4K, 4096, size_bytes);
	failed += fast <= 0 || slow <= 0;
	if (fast > 0 && slow > 0)
		printf("\nTHP + 2 MiB guest pages: %.0f cycles per load; 4 KiB pages: %.0f: %.2fx faster on THP (%s%s%s)\n",
		       fast, slow, slow / fast, h.what, h.emulated ? "; " : "", h.emulated ? "emulated" : "");
	failed += demo_fork_collapse(size_bytes) != 0;
	if (failed)
		printf("\nthpvm demo: %d part(s) failed (see above)\n", failed);
	return failed ? 1 : 0;
}

const struct cli_command cmd_demo = {
	.name = "demo",
	.summary = "show the project's main job on this machine",
	.usage = "thpvm demo [--memory SIZE] [--vm-parts]\n       thpvm demo --linux [--guest-dir DIR] [--memory SIZE]\n"
		 "Without a usable /dev/kvm the VM parts run in the nested lab (QEMU TCG; --memory defaults to 256M\n"
		 "there); --vm-parts runs only them (what the lab runs inside its L1).",
	.run = run,
};
