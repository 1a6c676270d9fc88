/* SPDX-License-Identifier: MIT */
/*
 * One report of a VM's guest RAM from both sides: libthpvm's extents and
 * coverage (host view) next to KVM's own statistics (pages_4k / pages_2m /
 * pages_1g and every other VM and vCPU statistic). Works on a running VM
 * (statistics are read without pausing it) or after it stopped, so a
 * control socket can serve the same report on request.
 */
#ifndef THPVM_VM_STATS_H
#define THPVM_VM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <thpvm.h>

struct vm;

struct vm_stats_summary {
	bool kvm_valid;                 /* the kernel has binary statistics */
	uint64_t pages_4k, pages_2m, pages_1g;  /* KVM's stage-2 mappings, in pages */
	struct thpvm_coverage cov;      /* libthpvm's view, refreshed */
};

/* Reads the statistics of the VM and of every vCPU. Returns 0 or -errno. */
int vm_stats_read(struct vm *vm);
/* Refreshes both views and fills the summary. */
int vm_stats_summary(struct vm *vm, struct vm_stats_summary *out);
/*
 * {"summary": {...}, "kvm": {"vm": {name: value}, "vcpus": [{...}]},
 *  "memory": <thpvm_memmap_coverage_json>} (new reference), or NULL with
 * vmm_last_error() set.
 */
json_t *vm_stats_json(struct vm *vm);
/* Only the side-by-side summary table (a few lines). */
int vm_stats_print_summary(FILE *out, struct vm *vm);
/* The same as tables: the side-by-side summary, the host report, every KVM statistic. */
int vm_stats_print(FILE *out, struct vm *vm);

#endif
