/* SPDX-License-Identifier: MIT */
/* Reads, never writes, the host's THP settings. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "internal.h"
#include "kernel_compat.h"

#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage"

static const char *const mode_str[] = {
#define X(name, err, str) [name] = str,
	THPVM_THP_MODES(X)
#undef X
};

THPVM_EXPORT const char *thpvm_thp_mode_str(enum thpvm_thp_mode mode)
{
	return (unsigned)mode < ARRAY_SIZE(mode_str) ? mode_str[mode] : "unknown";
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* "always [madvise] never" -> "madvise" */
static void selected_word(const char *line, char *out, size_t len)
{
	const char *open = strchr(line, '['), *close = open ? strchr(open, ']') : NULL;

	if (!open || !close) {
		snprintf(out, len, "%s", line);
		return;
	}
	snprintf(out, len, "%.*s", (int)(close - open - 1), open + 1);
}

static enum thpvm_thp_mode read_mode(const char *path)
{
	char line[128], word[32];

	if (read_line(path, line, sizeof(line)))
		return THPVM_THP_MODE_UNSUPPORTED;
	selected_word(line, word, sizeof(word));
	for (unsigned m = 0; m < ARRAY_SIZE(mode_str); m++)
		if (!strcmp(word, mode_str[m]))
			return (enum thpvm_thp_mode)m;
	return THPVM_THP_MODE_UNKNOWN;
}

static int64_t read_int(const char *path)
{
	char line[64];

	if (read_line(path, line, sizeof(line)))
		return -1;
	return strtoll(line, NULL, 10);
}

/* HugePages_* in /proc/meminfo count the default huge page size; read the 2 MiB pool directly. */
static void read_hugetlb_pool(struct thpvm_host_thp *h)
{
	const char *dir = "/sys/kernel/mm/hugepages/hugepages-2048kB";
	char path[128];
	int64_t v;

	snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
	v = read_int(path);
	h->hugetlb_2m_total = v > 0 ? (uint64_t)v : 0;
	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	v = read_int(path);
	h->hugetlb_2m_free = v > 0 ? (uint64_t)v : 0;
	snprintf(path, sizeof(path), "%s/resv_hugepages", dir);
	v = read_int(path);
	h->hugetlb_2m_resv = v > 0 ? (uint64_t)v : 0;
}

THPVM_EXPORT int thpvm_host_thp_read(struct thpvm_host_thp *h)
{
	char line[128];
	int64_t v;
	int ret;

	memset(h, 0, sizeof(*h));
	h->enabled = read_mode(THP_SYSFS "/enabled");
	h->enabled_2m = read_mode(THP_SYSFS "/hugepages-2048kB/enabled");
	if (h->enabled_2m == THPVM_THP_MODE_UNSUPPORTED)
		h->enabled_2m = THPVM_THP_MODE_INHERIT; /* kernels before mTHP */
	if (!read_line(THP_SYSFS "/defrag", line, sizeof(line)))
		selected_word(line, h->defrag, sizeof(h->defrag));
	if (!read_line(THP_SYSFS "/shmem_enabled", line, sizeof(line)))
		selected_word(line, h->shmem_enabled, sizeof(h->shmem_enabled));
	v = read_int(THP_SYSFS "/hpage_pmd_size");
	h->hpage_pmd_size = v > 0 ? (uint64_t)v : 0;
	h->khugepaged_pages_to_scan = read_int(THP_SYSFS "/khugepaged/pages_to_scan");
	h->khugepaged_scan_sleep_millisecs = read_int(THP_SYSFS "/khugepaged/scan_sleep_millisecs");
	h->khugepaged_max_ptes_none = read_int(THP_SYSFS "/khugepaged/max_ptes_none");
	h->khugepaged_max_ptes_shared = read_int(THP_SYSFS "/khugepaged/max_ptes_shared");
	h->khugepaged_defrag = (int)read_int(THP_SYSFS "/khugepaged/defrag");
	ret = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	h->prctl_thp_disable = ret > 0 ? ret : 0;
	read_hugetlb_pool(h);
	h->pagemap_scan = pagemap_scan_supported();
	return 0;
}

THPVM_EXPORT enum thpvm_thp_mode thpvm_host_thp_effective(const struct thpvm_host_thp *h)
{
	if (h->enabled == THPVM_THP_MODE_UNSUPPORTED)
		return THPVM_THP_MODE_UNSUPPORTED;
	if (h->enabled_2m == THPVM_THP_MODE_INHERIT)
		return h->enabled;
	return h->enabled_2m;
}

THPVM_EXPORT int thpvm_vmstat_thp_read(struct thpvm_vmstat_thp *out)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define F(n) { #n, offsetof(struct thpvm_vmstat_thp, n) }
		F(thp_fault_alloc), F(thp_fault_fallback), F(thp_collapse_alloc),
		F(thp_collapse_alloc_failed), F(thp_split_pmd), F(thp_split_page),
		F(thp_zero_page_alloc),
#undef F
	};
	char name[64];
	unsigned long long val;
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen("/proc/vmstat", "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%63s %llu", name, &val) == 2)
		for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
			if (!strcmp(name, fields[i].name))
				*(uint64_t *)((char *)out + fields[i].off) = val;
	fclose(f);
	return 0;
}
