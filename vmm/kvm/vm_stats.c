/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "vm_stats.h"
#include "dev/iobus.h"
#include "vcpu.h"
#include "vm.h"
#include "util/error.h"

#define MIB (1024.0 * 1024.0)

int vm_stats_read(struct vm *vm)
{
	int ret;

	if (vm->stats.fd < 0)
		return 0;
	if ((ret = kvm_stats_read(&vm->stats)))
		return ret;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->stats.fd >= 0 && (ret = kvm_stats_read(&vm->vcpus[i]->stats)))
			return ret;
	return 0;
}

int vm_stats_summary(struct vm *vm, struct vm_stats_summary *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = vm_stats_read(vm)))
		return ret;
	if (vm->stats.fd >= 0 && vm->stats.valid) {
		out->kvm_valid = !kvm_stats_get(&vm->stats, "pages_4k", &out->pages_4k) &&
				 !kvm_stats_get(&vm->stats, "pages_2m", &out->pages_2m);
		kvm_stats_get(&vm->stats, "pages_1g", &out->pages_1g);
	}
	ret = thpvm_memmap_coverage(vm->mem, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &out->cov);
	return ret ? vmm_fail(ret, "coverage: %s", thpvm_last_error()) : 0;
}

static json_t *summary_json(const struct vm_stats_summary *s)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:f}", "size_bytes", (json_int_t)s->cov.size_bytes,
			      "huge_bytes", (json_int_t)s->cov.huge_bytes, "split_bytes", (json_int_t)s->cov.split_bytes,
			      "absent_bytes", (json_int_t)s->cov.absent_bytes, "huge_pct",
			      thpvm_coverage_pct(&s->cov, s->cov.huge_bytes));

	if (o && s->kvm_valid) {
		json_object_set_new(o, "kvm_pages_4k", json_integer((json_int_t)s->pages_4k));
		json_object_set_new(o, "kvm_pages_2m", json_integer((json_int_t)s->pages_2m));
		json_object_set_new(o, "kvm_pages_1g", json_integer((json_int_t)s->pages_1g));
		json_object_set_new(o, "kvm_2m_bytes", json_integer((json_int_t)(s->pages_2m << 21)));
	}
	/* a clone's RAM mapped from a snapshot: which huge extents are the shared page cache's */
	if (o && s->cov.file_backed)
		json_object_set_new(o, "file", thpvm_coverage_file_json(&s->cov));
	return o;
}

/* The devices on the VM's bus by name, in the order they were put there (the virtio ones: rng, disks, net). */
static json_t *devices_json(struct vm *vm)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < iobus_nr_devices(vm->bus); i++)
		json_array_append_new(a, json_string(iobus_device(vm->bus, i)->name));
	return a;
}

json_t *vm_stats_json(struct vm *vm)
{
	struct vm_stats_summary s;
	json_t *root, *kvm, *vcpus, *mem;

	if (vm_stats_summary(vm, &s))
		return NULL;
	mem = thpvm_memmap_coverage_json(vm->mem, THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS);
	if (!mem) {
		vmm_fail(-EIO, "coverage: %s", thpvm_last_error());
		return NULL;
	}
	root = json_object();
	kvm = json_object();
	vcpus = json_array();
	json_object_set_new(root, "summary", summary_json(&s));
	if (vm->stats.fd >= 0) {
		json_object_set_new(kvm, "vm", kvm_stats_to_json(&vm->stats));
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			json_array_append_new(vcpus, kvm_stats_to_json(&vm->vcpus[i]->stats));
	}
	json_object_set_new(kvm, "vcpus", vcpus);
	json_object_set_new(kvm, "available", json_boolean(vm->stats.fd >= 0));
	json_object_set_new(root, "kvm", kvm);
	json_object_set_new(root, "memory", mem);
	json_object_set_new(root, "devices", devices_json(vm));
	for (unsigned i = 0; i < vm->nr_hooks; i++) {
		json_t *o = vm->hooks[i].stats ? vm->hooks[i].stats(vm->hooks[i].arg) : NULL;

		if (o)
			json_object_set_new(root, vm->hooks[i].name, o);
	}
	return root;
}

static void print_value(FILE *out, const struct kvm_stats *s, const struct kvm_stat *st)
{
	const uint64_t *v = kvm_stats_items(s, st);

	if (!kvm_stat_is_hist(st->flags) && st->size == 1) {
		fprintf(out, " %14" PRIu64, v[0]);
	} else {
		uint64_t sum = 0;

		for (unsigned k = 0; k < st->size; k++)
			sum += v[k];
		fprintf(out, " %9" PRIu64 " (h)", sum);
	}
}

static void print_kvm_stats(FILE *out, struct vm *vm)
{
	fprintf(out, "KVM statistics of the VM (%s):\n", vm->stats.id);
	for (unsigned i = 0; i < vm->stats.nr_stats; i++) {
		const struct kvm_stat *st = &vm->stats.stats[i];

		fprintf(out, "  %-32s", st->name);
		print_value(out, &vm->stats, st);
		fprintf(out, "  %s %s\n", kvm_stat_type_str(st->flags), kvm_stat_unit_str(st->flags));
	}
	if (!vm->nr_vcpus || vm->vcpus[0]->stats.fd < 0)
		return;
	fprintf(out, "KVM statistics per vCPU ((h) = histogram, sum of buckets):\n  %-32s", "");
	for (unsigned c = 0; c < vm->nr_vcpus; c++)
		fprintf(out, " %13s%u", "vcpu", c);
	fputc('\n', out);
	for (unsigned i = 0; i < vm->vcpus[0]->stats.nr_stats; i++) {
		const struct kvm_stat *st = &vm->vcpus[0]->stats.stats[i];

		fprintf(out, "  %-32s", st->name);
		for (unsigned c = 0; c < vm->nr_vcpus; c++) {
			const struct kvm_stat *sc = kvm_stats_find(&vm->vcpus[c]->stats, st->name);

			if (sc)
				print_value(out, &vm->vcpus[c]->stats, sc);
			else
				fprintf(out, " %14s", "-");
		}
		fputc('\n', out);
	}
}

static void print_summary(FILE *out, const struct vm_stats_summary *s)
{
	fprintf(out, "guest RAM %.1f MiB: host view (libthpvm extents) | KVM view (stage-2 mappings)\n",
		(double)s->cov.size_bytes / MIB);
	fprintf(out, "  %-13s %8s %10s | %-9s %10s %10s\n", "page size", "extents", "MiB", "KVM stat", "pages", "MiB");
	fprintf(out, "  %-13s %8" PRIu64 " %10.1f | ", "2 MiB (HUGE)", s->cov.nr_huge, (double)s->cov.huge_bytes / MIB);
	if (s->kvm_valid)
		fprintf(out, "%-9s %10" PRIu64 " %10.1f\n", "pages_2m", s->pages_2m, (double)(s->pages_2m << 21) / MIB);
	else
		fprintf(out, "(KVM has no binary statistics here)\n");
	fprintf(out, "  %-13s %8" PRIu64 " %10.1f | ", "4 KiB (SPLIT)", s->cov.nr_split, (double)s->cov.split_bytes / MIB);
	if (s->kvm_valid)
		fprintf(out, "%-9s %10" PRIu64 " %10.1f\n", "pages_4k", s->pages_4k, (double)(s->pages_4k << 12) / MIB);
	else
		fputc('\n', out);
	fprintf(out, "  %-13s %8s %10s | ", "1 GiB", "-", "-");
	if (s->kvm_valid)
		fprintf(out, "%-9s %10" PRIu64 " %10.1f\n", "pages_1g", s->pages_1g, (double)(s->pages_1g << 30) / MIB);
	else
		fputc('\n', out);
	fprintf(out, "  %-13s %8" PRIu64 " %10.1f |\n", "absent", s->cov.nr_absent, (double)s->cov.absent_bytes / MIB);
	if (s->cov.file_backed) {
		fputs("  ", out);
		thpvm_coverage_file_print(out, &s->cov);
	}
	fprintf(out, "  HUGE: %.1f%% of guest RAM", thpvm_coverage_pct(&s->cov, s->cov.huge_bytes));
	if (s->kvm_valid)
		fprintf(out, "; KVM maps %.1f%% of guest RAM with 2 MiB pages",
			s->cov.size_bytes ? 100.0 * (double)(s->pages_2m << 21) / (double)s->cov.size_bytes : 0.0);
	fputc('\n', out);
}

int vm_stats_print_summary(FILE *out, struct vm *vm)
{
	struct vm_stats_summary s;
	int ret = vm_stats_summary(vm, &s);

	if (!ret)
		print_summary(out, &s);
	return ret;
}

int vm_stats_print(FILE *out, struct vm *vm)
{
	int ret;

	if ((ret = vm_stats_print_summary(out, vm)))
		return ret;
	if (iobus_nr_devices(vm->bus)) {
		fputs("devices:", out);
		for (unsigned i = 0; i < iobus_nr_devices(vm->bus); i++)
			fprintf(out, " %s", iobus_device(vm->bus, i)->name);
		fputc('\n', out);
	}
	fputc('\n', out);
	if ((ret = thpvm_memmap_coverage_print(out, vm->mem, THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS)))
		return vmm_fail(ret, "coverage: %s", thpvm_last_error());
	if (vm->stats.fd >= 0) {
		fputc('\n', out);
		print_kvm_stats(out, vm);
	}
	return 0;
}
