/* SPDX-License-Identifier: MIT */
/* The host's own accounting of a process's memory, from /proc/PID/smaps: the one reader (thpvm/host.h). */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

static void add_field(struct thpvm_smaps *s, const char *key, uint64_t bytes)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{ "Rss", offsetof(struct thpvm_smaps, rss) },
		{ "Pss", offsetof(struct thpvm_smaps, pss) },
		{ "Shared_Clean", offsetof(struct thpvm_smaps, shared_clean) },
		{ "Shared_Dirty", offsetof(struct thpvm_smaps, shared_dirty) },
		{ "Private_Clean", offsetof(struct thpvm_smaps, private_clean) },
		{ "Private_Dirty", offsetof(struct thpvm_smaps, private_dirty) },
		{ "AnonHugePages", offsetof(struct thpvm_smaps, anon_huge) },
		{ "FilePmdMapped", offsetof(struct thpvm_smaps, file_pmd) },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(key, fields[i].key)) {
			*(uint64_t *)((char *)s + fields[i].off) += bytes;
			return;
		}
}

THPVM_EXPORT int thpvm_smaps_read(int pid, thpvm_smaps_match_fn match, void *arg, struct thpvm_smaps *out)
{
	char path[64], line[512];
	bool inside = !match;
	FILE *f;
	int err;

	memset(out, 0, sizeof(*out));
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, match ? "smaps" : "smaps_rollup");
	else
		snprintf(path, sizeof(path), "/proc/self/%s", match ? "smaps" : "smaps_rollup");
	f = fopen(path, "re");
	if (!f) {
		err = errno;
		thpvm_set_error("cannot open %s: %s", path, strerror(err));
		return -err;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t vs, ve, kb;
		char key[64];

		/* a VMA's first line: "start-end perms ..." (the rollup's is "start-ffffffffff600000 ---p ... [rollup]") */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &vs, &ve) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (match) {
				inside = match(vs, ve, arg);
				out->nr_vmas += inside;
			}
			continue;
		}
		if (inside && sscanf(line, "%63[^:]: %" SCNu64 " kB", key, &kb) == 2)
			add_field(out, key, kb << 10);
	}
	fclose(f);
	return 0;
}
