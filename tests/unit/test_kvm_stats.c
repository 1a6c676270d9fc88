/* SPDX-License-Identifier: MIT */
/* KVM's binary statistics format, parsed from a file laid out like the kernel's. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include "kvm/kvm_stats.h"
#include "util/error.h"

#define NAME_SIZE 48

struct stat_spec {
	const char *name;
	uint32_t flags;
	uint16_t size;
	uint64_t values[4];
};

/* Writes header, id, descriptors and data the way KVM lays them out; returns the fd. */
static int stats_file(const struct stat_spec *specs, unsigned n, uint32_t name_size)
{
	int fd = memfd_create("kvm-stats", 0);
	struct kvm_stats_header h = {
		.name_size = name_size,
		.num_desc = n,
		.id_offset = sizeof(h),
	};
	size_t dlen = sizeof(struct kvm_stats_desc) + name_size;
	uint32_t off = 0;
	char id[256] = "kvm-1234";

	cr_assert(fd >= 0);
	h.desc_offset = h.id_offset + name_size;
	h.data_offset = h.desc_offset + (uint32_t)(dlen * n);
	cr_assert_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	cr_assert_eq(pwrite(fd, id, name_size, h.id_offset), (ssize_t)name_size);
	for (unsigned i = 0; i < n; i++) {
		char d[sizeof(struct kvm_stats_desc) + 256] = { 0 };
		struct kvm_stats_desc *desc = (void *)d;

		desc->flags = specs[i].flags;
		desc->size = specs[i].size;
		desc->offset = off;
		strncpy(desc->name, specs[i].name, name_size);
		cr_assert_eq(pwrite(fd, d, dlen, h.desc_offset + i * dlen), (ssize_t)dlen);
		cr_assert_eq(pwrite(fd, specs[i].values, specs[i].size * 8, h.data_offset + off), specs[i].size * 8);
		off += specs[i].size * 8;
	}
	return fd;
}

static const struct stat_spec vm_like[] = {
	{ "remote_tlb_flush", KVM_STATS_TYPE_CUMULATIVE, 1, { 3 } },
	{ "pages_4k", KVM_STATS_TYPE_INSTANT, 1, { 1050 } },
	{ "pages_2m", KVM_STATS_TYPE_INSTANT, 1, { 512 } },
	{ "pages_1g", KVM_STATS_TYPE_INSTANT, 1, { 0 } },
	{ "max_mmu_rmap_size", KVM_STATS_TYPE_PEAK, 1, { 9 } },
	{ "halt_wait_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, 4, { 1, 2, 3, 4 } },
};

Test(kvm_stats, every_statistic_is_read_by_name)
{
	struct kvm_stats s;
	uint64_t v;
	const struct kvm_stat *st;
	json_t *j;

	cr_assert_eq(kvm_stats_parse(stats_file(vm_like, 6, NAME_SIZE), &s), 0, "%s", vmm_last_error());
	cr_assert_str_eq(s.id, "kvm-1234");
	cr_assert_eq(s.nr_stats, 6);
	cr_assert_eq(kvm_stats_read(&s), 0);
	cr_assert_eq(kvm_stats_get(&s, "pages_2m", &v), 0);
	cr_assert_eq(v, 512);
	cr_assert_eq(kvm_stats_get(&s, "pages_4k", &v), 0);
	cr_assert_eq(v, 1050);
	cr_assert_eq(kvm_stats_get(&s, "pages_1g", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(kvm_stats_get(&s, "halt_wait_hist", &v), 0);
	cr_assert_eq(v, 10, "a histogram reads as the sum of its buckets");
	cr_assert_eq(kvm_stats_get(&s, "pages_512g", &v), -ENOENT);
	st = kvm_stats_find(&s, "halt_wait_hist");
	cr_assert(kvm_stat_is_hist(st->flags));
	cr_assert_str_eq(kvm_stat_type_str(st->flags), "log-hist");
	cr_assert_str_eq(kvm_stat_unit_str(st->flags), "seconds");
	cr_assert_str_eq(kvm_stat_type_str(kvm_stats_find(&s, "max_mmu_rmap_size")->flags), "peak");
	j = kvm_stats_to_json(&s);
	cr_assert_eq(json_object_size(j), 6);
	cr_assert_eq(json_integer_value(json_object_get(j, "pages_2m")), 512);
	cr_assert_eq(json_array_size(json_object_get(j, "halt_wait_hist")), 4);
	json_decref(j);
	kvm_stats_close(&s);
	cr_assert_eq(s.fd, -1);
}

Test(kvm_stats, values_are_read_again_on_every_read)
{
	struct kvm_stats s;
	uint64_t v = 777;
	int fd = stats_file(vm_like, 6, NAME_SIZE);
	struct kvm_stats_header h;

	cr_assert_eq(kvm_stats_parse(fd, &s), 0);
	cr_assert_eq(kvm_stats_read(&s), 0);
	cr_assert_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	cr_assert_eq(pwrite(fd, &v, 8, h.data_offset + 16), 8); /* pages_2m */
	cr_assert_eq(kvm_stats_read(&s), 0);
	cr_assert_eq(kvm_stats_get(&s, "pages_2m", &v), 0);
	cr_assert_eq(v, 777);
	kvm_stats_close(&s);
}

Test(kvm_stats, malformed_files_are_refused)
{
	struct stat_spec bad[2] = { { "ok", 0, 1, { 1 } }, { "zero_size", 0, 0, { 0 } } };
	struct stat_spec badtype[1] = { { "weird", 9, 1, { 1 } } };
	struct kvm_stats s;
	int fd;

	cr_assert_eq(kvm_stats_parse(stats_file(bad, 2, NAME_SIZE), &s), -EBADMSG);
	cr_assert(strstr(vmm_last_error(), "malformed descriptor"));
	cr_assert_eq(s.fd, -1, "the fd is closed on failure");
	cr_assert_eq(kvm_stats_parse(stats_file(badtype, 1, NAME_SIZE), &s), -EBADMSG);
	cr_assert_eq(kvm_stats_parse(stats_file(vm_like, 1, 0), &s), -EBADMSG);
	cr_assert(strstr(vmm_last_error(), "name size"));
	fd = memfd_create("short", 0);
	cr_assert_eq(write(fd, "abc", 3), 3);
	cr_assert_eq(kvm_stats_parse(fd, &s), -EBADMSG);
	/* a name that fills its field without a NUL */
	bad[1] = (struct stat_spec){ "0123456789abcdef", 0, 1, { 1 } };
	cr_assert_eq(kvm_stats_parse(stats_file(bad, 2, 16), &s), -EBADMSG);
}
