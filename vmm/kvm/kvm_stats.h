/* SPDX-License-Identifier: MIT */
/*
 * KVM's binary statistics (KVM_GET_STATS_FD on a VM or a vCPU): a header,
 * one descriptor per statistic and a data block of u64s. Parsed once, read
 * by name, every statistic the kernel offers (pages_4k / pages_2m / pages_1g
 * among them), never a hard-coded list.
 */
#ifndef THPVM_KVM_STATS_H
#define THPVM_KVM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define KVM_STATS_MAX_DESC 4096     /* sanity bounds on what the kernel hands us */
#define KVM_STATS_MAX_NAME 256
#define KVM_STATS_MAX_ITEMS 4096

struct kvm_stat {
	char *name;
	uint32_t flags;             /* KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_* */
	int16_t exponent;
	uint16_t size;              /* u64 items: 1, or the buckets of a histogram */
	uint32_t offset;            /* bytes into the data block */
	uint32_t bucket_size;       /* linear histograms */
};

struct kvm_stats {
	int fd;                     /* -1 when closed */
	char *id;                   /* "kvm-1234", "kvm-1234/vcpu-0" */
	unsigned nr_stats;
	struct kvm_stat *stats;
	uint32_t data_offset;
	uint32_t data_size;         /* bytes */
	uint64_t *data;             /* values of the last kvm_stats_read() */
	bool valid;                 /* data has been read at least once */
};

/*
 * Parses the header and descriptors of a stats file. Takes ownership of fd
 * (closed by kvm_stats_close, and on failure). Returns 0 or -errno
 * (-EBADMSG for a malformed file) with vmm_last_error() set.
 */
int kvm_stats_parse(int fd, struct kvm_stats *out);
/* KVM_GET_STATS_FD on a VM or vCPU fd, then kvm_stats_parse(). */
int kvm_stats_open(int kvm_object_fd, struct kvm_stats *out);
/* Reads the whole data block with one pread. Returns 0 or -errno. */
int kvm_stats_read(struct kvm_stats *s);
void kvm_stats_close(struct kvm_stats *s);

const struct kvm_stat *kvm_stats_find(const struct kvm_stats *s, const char *name);
/* The statistic's first item (or the sum of a histogram's buckets). -ENOENT when unknown. */
int kvm_stats_get(const struct kvm_stats *s, const char *name, uint64_t *value);
/* Items of one statistic from the last read (size items). */
const uint64_t *kvm_stats_items(const struct kvm_stats *s, const struct kvm_stat *stat);

const char *kvm_stat_type_str(uint32_t flags);
const char *kvm_stat_unit_str(uint32_t flags);
bool kvm_stat_is_hist(uint32_t flags);

/* {"name": value, "hist": [buckets], ...} of the last read (new reference). */
json_t *kvm_stats_to_json(const struct kvm_stats *s);

#endif
