/* SPDX-License-Identifier: MIT */
/*
 * thpvm host: what this host gives guest RAM, found at run time like
 * everything thpvm adapts to: the KVM (kind and paging mode, which decides
 * what a host THP buys a guest with 4 KiB pages), the THP and hugetlb
 * settings, and the kernel features the collapse engines use. Read-only.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <jansson.h>
#include <thpvm.h>
#include "cli.h"
#include "util/opts.h"
#include "kvm/kvm_host.h"

struct host_view {
	struct utsname uts;
	struct kvm_host kvm;
	struct thpvm_host_thp thp;
	struct thpvm_collapse_stats collapse; /* uffd, uffd_wp_unpopulated, kernel_note */
	bool have_collapse;
};

static void look(struct host_view *h)
{
	struct thpvm_region_config rc = { .name = "probe", .size_bytes = 2ULL << 20 };
	struct thpvm_collapse_config cfg;
	struct thpvm_memmap *map = NULL;
	struct thpvm_collapse *c = NULL;

	memset(h, 0, sizeof(*h));
	uname(&h->uts);
	kvm_host_detect(&h->kvm);
	thpvm_host_thp_read(&h->thp);
	/* the engines' view of the kernel: a collapser over 2 MiB, never started */
	thpvm_collapse_config_default(&cfg);
	if (!thpvm_memmap_create(&map) && !thpvm_memmap_add(map, &rc, NULL) && !thpvm_collapse_create(map, &cfg, &c)) {
		thpvm_collapse_stats(c, &h->collapse);
		h->have_collapse = true;
	}
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
}

static const char *paging_words(enum kvm_paging p)
{
	return p == KVM_PAGING_TDP	? "two-dimensional (EPT/NPT): a host THP is mapped 2 MiB under any guest page size"
	       : p == KVM_PAGING_SHADOW ? "shadow: a host THP is mapped 2 MiB only under 2 MiB guest pages"
					: "unknown";
}

static void print_text(const struct host_view *h)
{
	printf("kernel: %s %s\n", h->uts.sysname, h->uts.release);
	printf("KVM: %s\n", h->kvm.what);
	if (h->kvm.kind != KVM_HOST_NONE)
		printf("  paging: %s\n", paging_words(h->kvm.paging));
	else
		printf("  KVM guests cannot run here; the nested lab runs them (docs/lab.md, make check-kvm-lab)\n");
	printf("THP: enabled %s (2 MiB: %s), defrag %s, shmem %s\n", thpvm_thp_mode_str(h->thp.enabled),
	       thpvm_thp_mode_str(h->thp.enabled_2m), h->thp.defrag, h->thp.shmem_enabled);
	printf("  khugepaged: %lld pages per scan, every %lld ms, max_ptes_none %lld, max_ptes_shared %lld\n",
	       (long long)h->thp.khugepaged_pages_to_scan, (long long)h->thp.khugepaged_scan_sleep_millisecs,
	       (long long)h->thp.khugepaged_max_ptes_none, (long long)h->thp.khugepaged_max_ptes_shared);
	printf("hugetlb 2 MiB pool: %llu free of %llu\n", (unsigned long long)h->thp.hugetlb_2m_free,
	       (unsigned long long)h->thp.hugetlb_2m_total);
	printf("kernel features: PAGEMAP_SCAN %s", h->thp.pagemap_scan ? "yes" : "no");
	if (h->have_collapse)
		printf(", userfaultfd write-protect %s, UFFD_FEATURE_WP_UNPOPULATED %s\n", h->collapse.uffd ? "yes" : "no",
		       h->collapse.uffd_wp_unpopulated ? "yes" : "no");
	else
		printf("\n");
	if (h->have_collapse && h->collapse.kernel_note[0])
		printf("  collapse engines: %s\n", h->collapse.kernel_note);
}

static json_t *to_json(const struct host_view *h)
{
	return json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:{s:I, s:I}, s:{s:b, s:b, s:b, s:s}}",
			 "kernel", h->uts.release,
			 "kvm", "kind", kvm_host_kind_str(h->kvm.kind), "paging", kvm_paging_str(h->kvm.paging), "what",
			 h->kvm.what,
			 "thp", "enabled", thpvm_thp_mode_str(h->thp.enabled), "enabled_2m",
			 thpvm_thp_mode_str(h->thp.enabled_2m), "defrag", h->thp.defrag, "shmem_enabled",
			 h->thp.shmem_enabled,
			 "hugetlb_2m", "free", (json_int_t)h->thp.hugetlb_2m_free, "total",
			 (json_int_t)h->thp.hugetlb_2m_total,
			 "features", "pagemap_scan", h->thp.pagemap_scan, "uffd_wp", h->have_collapse && h->collapse.uffd,
			 "uffd_wp_unpopulated", h->have_collapse && h->collapse.uffd_wp_unpopulated, "collapse_note",
			 h->have_collapse ? h->collapse.kernel_note : "");
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
	struct host_view h;
	bool json = false;
	int c;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'j')
			return opt_bad("host", c, argv);
		json = true;
	}
	if (opt_rest("host", argc, argv))
		return 2;
	look(&h);
	if (json) {
		json_t *j = to_json(&h);

		if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) || putchar('\n') == EOF) {
			cli_error("host: cannot write JSON");
			json_decref(j);
			return 1;
		}
		json_decref(j);
	} else {
		print_text(&h);
	}
	return 0;
}

const struct cli_command cmd_host = {
	.name = "host",
	.summary = "what this host gives guest RAM: KVM and its paging mode, THP, hugetlb, kernel features",
	.usage = "thpvm host [--json]",
	.run = run,
};
