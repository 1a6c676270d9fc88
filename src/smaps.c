/* SPDX-License-Identifier: MIT */
/* The host's own accounting of a range, from /proc/self/smaps. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/*
 * Sums the VMAs that lie inside [start, end). Regions are fenced by guard
 * pages, so their VMAs never straddle the range.
 */
int smaps_sum_range(uintptr_t start, uintptr_t end, struct smaps_sum *out)
{
	char line[512];
	bool inside = false;
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen("/proc/self/smaps", "re");
	if (!f) {
		thpvm_set_error("cannot open /proc/self/smaps: %s", strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		uintptr_t vs, ve;
		char key[64];
		uint64_t kb;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &vs, &ve) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = vs >= start && ve <= end;
			out->nr_vmas += inside;
			continue;
		}
		if (!inside || sscanf(line, "%63[^:]: %" SCNu64 " kB", key, &kb) != 2)
			continue;
		kb *= 1024;
		if (!strcmp(key, "Rss"))
			out->rss += kb;
		else if (!strcmp(key, "AnonHugePages"))
			out->anon_huge += kb;
		else if (!strcmp(key, "FilePmdMapped"))
			out->file_pmd += kb;
		else if (!strcmp(key, "Private_Dirty"))
			out->private_dirty += kb;
		else if (!strcmp(key, "Shared_Clean") || !strcmp(key, "Shared_Dirty"))
			out->shared += kb;
	}
	fclose(f);
	return 0;
}
