/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include "guest_ram.h"
#include "util/error.h"
#include "x86/layout.h"

unsigned guest_ram_layout(uint64_t size_bytes, struct guest_ram_region out[GUEST_RAM_MAX_REGIONS])
{
	uint64_t low = size_bytes < X86_MMIO_HOLE_GPA ? size_bytes : X86_MMIO_HOLE_GPA;

	out[0] = (struct guest_ram_region){ .name = "ram-low", .gpa = 0, .size_bytes = low };
	if (size_bytes <= low)
		return 1;
	out[1] = (struct guest_ram_region){ .name = "ram-high", .gpa = X86_RAM_HIGH_GPA, .size_bytes = size_bytes - low };
	return 2;
}

int guest_ram_create(const struct guest_ram_config *cfg, struct thpvm_memmap **out)
{
	struct guest_ram_region layout[GUEST_RAM_MAX_REGIONS];
	unsigned n = guest_ram_layout(cfg->size_bytes, layout);
	struct thpvm_region_config rc = {
		.backing = cfg->backing,
		.populate = cfg->populate,
		.progress = cfg->progress,
		.progress_arg = cfg->progress_arg,
	};
	struct thpvm_memmap *map;
	int ret;

	*out = NULL;
	if (!cfg->size_bytes || cfg->size_bytes % THPVM_EXTENT_SIZE)
		return vmm_fail(-EINVAL, "guest memory must be a non-zero multiple of 2 MiB");
	if ((ret = thpvm_memmap_create(&map)))
		return vmm_fail(ret, "%s", thpvm_last_error());
	if (cfg->file_fds)
		rc.backing = THPVM_BACKING_FILE;
	ret = 0;
	for (unsigned i = 0; i < n && !ret; i++) {
		rc.name = layout[i].name;
		rc.gpa = layout[i].gpa;
		rc.size_bytes = layout[i].size_bytes;
		if (cfg->file_fds)
			rc.fd = cfg->file_fds[i];
		ret = thpvm_memmap_add(map, &rc, NULL);
	}
	if (ret) {
		vmm_fail(ret, "%s", thpvm_last_error());
		thpvm_memmap_destroy(map);
		return ret;
	}
	*out = map;
	return 0;
}

uint64_t guest_ram_end(const struct thpvm_memmap *map)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < thpvm_memmap_nr_regions(map); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(map, i), &info);
		if (info.gpa + info.size_bytes > end)
			end = info.gpa + info.size_bytes;
	}
	return end;
}
