/* SPDX-License-Identifier: MIT */
/*
 * VMAs: every scattered copy-and-remap splits a guest RAM mapping around the
 * moved-in page (about two more VMAs each; host-facts.md), and mmap, mremap
 * and fork fail with ENOMEM past vm.max_map_count. The collapser counts and
 * stops before a limit below it, read but never written.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "collapse_internal.h"

#define DEFAULT_MAX_MAP_COUNT 65530

uint64_t vma_count_now(void)
{
	char buf[16384];
	uint64_t lines = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

uint64_t vma_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	unsigned long long v = 0;

	if (!f)
		return DEFAULT_MAX_MAP_COUNT;
	if (fscanf(f, "%llu", &v) != 1 || !v)
		v = DEFAULT_MAX_MAP_COUNT;
	fclose(f);
	return v;
}

uint64_t vma_limit_for(const struct thpvm_collapse_config *cfg, uint64_t sys)
{
	/* leave an eighth for everything else the VMM maps (threads, libraries, a fork's needs) */
	uint64_t limit = sys - sys / 8;

	if (cfg->max_vmas && cfg->max_vmas < limit)
		limit = cfg->max_vmas;
	return limit;
}
