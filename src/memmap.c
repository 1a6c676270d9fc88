/* SPDX-License-Identifier: MIT */
/* The guest memory map: validated, non-overlapping regions of guest-physical space. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"

static const char *const backing_str[] = {
#define X(name, err, str) [name] = str,
	THPVM_BACKINGS(X)
#undef X
};

THPVM_EXPORT const char *thpvm_backing_str(enum thpvm_backing backing)
{
	return (unsigned)backing < THPVM_NR_BACKINGS ? backing_str[backing] : "unknown";
}

THPVM_EXPORT int thpvm_backing_parse(const char *str, enum thpvm_backing *out)
{
	for (unsigned b = 0; b < THPVM_NR_BACKINGS; b++) {
		if (str && !strcmp(str, backing_str[b])) {
			*out = (enum thpvm_backing)b;
			return 0;
		}
	}
	thpvm_set_error("unknown backing '%s' (expected thp, 4k, hugetlb or file)", str ? str : "");
	return -EINVAL;
}

THPVM_EXPORT int thpvm_memmap_create(struct thpvm_memmap **out)
{
	struct thpvm_memmap *map = calloc(1, sizeof(*map));

	if (!map)
		return -thpvm_map_result_errno(map_error(THPVM_MAP_NO_MEMORY, "memory map"));
	*out = map;
	return 0;
}

static void region_free(struct thpvm_region *r)
{
	region_unmap(r);
	extent_table_free(r);
	pthread_mutex_destroy(&r->counters_lock);
	free(r);
}

THPVM_EXPORT void thpvm_memmap_destroy(struct thpvm_memmap *map)
{
	if (!map)
		return;
	for (unsigned i = 0; i < map->nr_regions; i++)
		region_free(map->regions[i]);
	free(map);
}

/* Past EOF a private file mapping raises SIGBUS: refuse a file shorter than the region. */
static enum thpvm_map_result validate_file(const struct thpvm_region_config *cfg, const char *name)
{
	struct stat st;
	uint64_t end;

	if (cfg->fd < 0 || fstat(cfg->fd, &st) || !S_ISREG(st.st_mode))
		return map_error(THPVM_MAP_BAD_FILE, "region '%s' fd %d", name, cfg->fd);
	if (cfg->file_offset % THPVM_PAGE_SIZE)
		return map_error(THPVM_MAP_UNALIGNED_OFFSET, "region '%s' offset 0x%llx", name,
				 (unsigned long long)cfg->file_offset);
	if (__builtin_add_overflow(cfg->file_offset, cfg->size_bytes, &end) || end > (uint64_t)st.st_size)
		return map_error(THPVM_MAP_FILE_TOO_SHORT, "region '%s' needs bytes [0x%llx, 0x%llx) of a %lld-byte file",
				 name, (unsigned long long)cfg->file_offset,
				 (unsigned long long)(cfg->file_offset + cfg->size_bytes), (long long)st.st_size);
	return THPVM_MAP_OK;
}

static enum thpvm_map_result validate(const struct thpvm_memmap *map, const struct thpvm_region_config *cfg,
				      const char *name)
{
	uint64_t end;

	if ((unsigned)cfg->backing >= THPVM_NR_BACKINGS)
		return map_error(THPVM_MAP_BAD_BACKING, "region '%s' backing %d", name, (int)cfg->backing);
	if (cfg->populate != THPVM_POPULATE_ON_DEMAND && cfg->populate != THPVM_POPULATE_PREFAULT)
		return map_error(THPVM_MAP_BAD_POPULATE, "region '%s' populate %d", name, (int)cfg->populate);
	if (cfg->flags & ~THPVM_REGION_F_NOHUGE)
		return map_error(THPVM_MAP_BAD_FLAGS, "region '%s' flags 0x%x", name, cfg->flags);
	if (cfg->size_bytes == 0)
		return map_error(THPVM_MAP_ZERO_SIZE, "region '%s' at 0x%llx", name, (unsigned long long)cfg->gpa);

	uint64_t align = cfg->backing == THPVM_BACKING_HUGETLB ? THPVM_EXTENT_SIZE : THPVM_PAGE_SIZE;
	if (cfg->gpa % align)
		return map_error(THPVM_MAP_UNALIGNED_GPA, "region '%s' at 0x%llx needs %s alignment", name,
				(unsigned long long)cfg->gpa, align == THPVM_PAGE_SIZE ? "4 KiB" : "2 MiB");
	if (cfg->size_bytes % align)
		return map_error(THPVM_MAP_UNALIGNED_SIZE, "region '%s' size 0x%llx is not a multiple of %s", name,
				(unsigned long long)cfg->size_bytes, align == THPVM_PAGE_SIZE ? "4 KiB" : "2 MiB");
	if (__builtin_add_overflow(cfg->gpa, cfg->size_bytes, &end) || end > THPVM_GPA_LIMIT)
		return map_error(THPVM_MAP_OVERFLOW, "region '%s' at 0x%llx size 0x%llx (limit 0x%llx)", name,
				(unsigned long long)cfg->gpa, (unsigned long long)cfg->size_bytes,
				(unsigned long long)THPVM_GPA_LIMIT);
	for (unsigned i = 0; i < map->nr_regions; i++) {
		const struct thpvm_region *o = map->regions[i];

		if (cfg->gpa < o->gpa + o->size_bytes && o->gpa < end)
			return map_error(THPVM_MAP_OVERLAP, "region '%s' [0x%llx, 0x%llx) overlaps region '%s' [0x%llx, 0x%llx)",
					name, (unsigned long long)cfg->gpa, (unsigned long long)end, o->name,
					(unsigned long long)o->gpa, (unsigned long long)(o->gpa + o->size_bytes));
	}
	if (map->nr_regions >= THPVM_MAX_REGIONS)
		return map_error(THPVM_MAP_TOO_MANY_REGIONS, "at most %d regions", THPVM_MAX_REGIONS);
	if (cfg->backing == THPVM_BACKING_FILE)
		return validate_file(cfg, name);
	return THPVM_MAP_OK;
}

THPVM_EXPORT int thpvm_memmap_add(struct thpvm_memmap *map, const struct thpvm_region_config *cfg,
				  struct thpvm_region **out)
{
	struct thpvm_host_thp host;
	struct thpvm_region *r;
	enum thpvm_map_result res;
	char name[32];

	if (cfg->name)
		snprintf(name, sizeof(name), "%s", cfg->name);
	else
		snprintf(name, sizeof(name), "ram%u", map->nr_regions);
	map->last_result = validate(map, cfg, name);
	if (map->last_result != THPVM_MAP_OK)
		return -thpvm_map_result_errno(map->last_result);

	r = calloc(1, sizeof(*r));
	if (!r) {
		map->last_result = map_error(THPVM_MAP_NO_MEMORY, "region '%s'", name);
		return -ENOMEM;
	}
	memcpy(r->name, name, sizeof(r->name));
	r->gpa = cfg->gpa;
	r->size_bytes = cfg->size_bytes;
	r->backing = cfg->backing;
	r->populate = cfg->populate;
	r->flags = cfg->flags;
	r->file_fd = cfg->backing == THPVM_BACKING_FILE ? cfg->fd : -1;
	r->file_offset = cfg->backing == THPVM_BACKING_FILE ? cfg->file_offset : 0;
	pthread_mutex_init(&r->counters_lock, NULL);
	thpvm_host_thp_read(&host);
	r->thp_reason = thp_eligibility(&host, cfg->backing, cfg->flags, cfg->gpa, cfg->size_bytes);

	res = extent_table_init(r);
	if (res == THPVM_MAP_OK)
		res = region_map(r);
	if (res == THPVM_MAP_OK && cfg->populate == THPVM_POPULATE_PREFAULT)
		res = region_prefault(r, cfg->progress, cfg->progress_arg);
	map->last_result = res;
	if (res != THPVM_MAP_OK) {
		region_free(r);
		return -thpvm_map_result_errno(res);
	}
	map->regions[map->nr_regions++] = r;
	if (out)
		*out = r;
	return 0;
}

THPVM_EXPORT enum thpvm_map_result thpvm_memmap_last_result(const struct thpvm_memmap *map)
{
	return map->last_result;
}

THPVM_EXPORT unsigned thpvm_memmap_nr_regions(const struct thpvm_memmap *map)
{
	return map->nr_regions;
}

THPVM_EXPORT struct thpvm_region *thpvm_memmap_region(const struct thpvm_memmap *map, unsigned idx)
{
	return idx < map->nr_regions ? map->regions[idx] : NULL;
}

THPVM_EXPORT struct thpvm_region *thpvm_memmap_find(const struct thpvm_memmap *map, uint64_t gpa)
{
	for (unsigned i = 0; i < map->nr_regions; i++) {
		struct thpvm_region *r = map->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size_bytes)
			return r;
	}
	return NULL;
}

THPVM_EXPORT void *thpvm_memmap_gpa_to_hva(const struct thpvm_memmap *map, uint64_t gpa, uint64_t size_bytes)
{
	struct thpvm_region *r = thpvm_memmap_find(map, gpa);

	if (!r || size_bytes > r->size_bytes - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

THPVM_EXPORT uint64_t thpvm_memmap_size_bytes(const struct thpvm_memmap *map)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < map->nr_regions; i++)
		total += map->regions[i]->size_bytes;
	return total;
}

THPVM_EXPORT void thpvm_region_get_info(const struct thpvm_region *r, struct thpvm_region_info *out)
{
	out->name = r->name;
	out->gpa = r->gpa;
	out->size_bytes = r->size_bytes;
	out->hva = r->hva;
	out->backing = r->backing;
	out->flags = r->flags;
	out->thp_reason = r->thp_reason;
	out->nr_extents = r->nr_extents;
}
