/* SPDX-License-Identifier: MIT */
/* The collapse configuration: defaults, checks, and the "MODE,key=value" form of the CLI. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "collapse_internal.h"

/* Thresholds per mode: balanced collapses at 1/8 private or after 2 s; density only at half private. */
static void mode_defaults(struct thpvm_collapse_config *cfg)
{
	if (cfg->mode == THPVM_COLLAPSE_MODE_DENSITY)
		cfg->private_pages = 256; /* khugepaged's max_ptes_shared=256, seen from the other side */
	else
		cfg->private_pages = 64;
	cfg->delay_ms = 2000;
}

THPVM_EXPORT void thpvm_collapse_config_default(struct thpvm_collapse_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = THPVM_COLLAPSE_MODE_BALANCED;
	cfg->engine = THPVM_COLLAPSE_ENGINE_AUTO;
	mode_defaults(cfg);
	cfg->max_absent_pages = THPVM_EXTENT_PAGES - 1;
	cfg->budget_extents = 512;
	cfg->batch_extents = 16;
	cfg->remap_batch_extents = 1;
	cfg->interval_ms = 100;
	cfg->backoff_min_ms = 10;
	cfg->backoff_max_ms = 5000;
	cfg->wp_nice = -10;
}

int collapse_config_check(const struct thpvm_collapse_config *cfg)
{
	const char *bad = NULL;

	if ((unsigned)cfg->mode >= THPVM_NR_COLLAPSE_MODES)
		bad = "unknown mode";
	else if ((unsigned)cfg->engine >= THPVM_NR_COLLAPSE_ENGINES)
		bad = "unknown engine";
	else if (cfg->private_pages > THPVM_EXTENT_PAGES)
		bad = "private must be at most 512 pages";
	else if (cfg->max_absent_pages >= THPVM_EXTENT_PAGES)
		bad = "max_absent must be at most 511 pages";
	else if (!cfg->budget_extents)
		bad = "budget must be at least 1 extent";
	else if (!cfg->batch_extents || cfg->batch_extents > COLLAPSE_MAX_BATCH)
		bad = "batch must be 1..64 extents";
	else if (!cfg->remap_batch_extents || cfg->remap_batch_extents > COLLAPSE_MAX_BATCH)
		bad = "remap_batch must be 1..64 extents";
	else if (cfg->nice < -20 || cfg->nice > 19 || cfg->wp_nice < -20 || cfg->wp_nice > 19)
		bad = "nice and wp_nice must be -20..19";
	else if (!cfg->backoff_min_ms || cfg->backoff_max_ms < cfg->backoff_min_ms)
		bad = "backoff_min_ms must be at least 1 and at most backoff_max_ms";
	if (bad) {
		thpvm_set_error("collapse configuration: %s", bad);
		return -EINVAL;
	}
	return 0;
}

struct key {
	const char *name;
	size_t off;
	long long min, max;
	bool is_int;
};

#define U32(field, lo, hi) { #field, offsetof(struct thpvm_collapse_config, field), lo, hi, false }
static const struct key keys[] = {
	{ "private", offsetof(struct thpvm_collapse_config, private_pages), 0, THPVM_EXTENT_PAGES, false },
	U32(delay_ms, 0, UINT32_MAX),
	{ "max_absent", offsetof(struct thpvm_collapse_config, max_absent_pages), 0, THPVM_EXTENT_PAGES - 1, false },
	{ "budget", offsetof(struct thpvm_collapse_config, budget_extents), 1, UINT32_MAX, false },
	{ "batch", offsetof(struct thpvm_collapse_config, batch_extents), 1, COLLAPSE_MAX_BATCH, false },
	{ "remap_batch", offsetof(struct thpvm_collapse_config, remap_batch_extents), 1, COLLAPSE_MAX_BATCH, false },
	U32(interval_ms, 0, UINT32_MAX),
	{ "rate", offsetof(struct thpvm_collapse_config, rate_mib_s), 0, UINT32_MAX, false },
	{ "nice", offsetof(struct thpvm_collapse_config, nice), -20, 19, true },
	{ "wp_nice", offsetof(struct thpvm_collapse_config, wp_nice), -20, 19, true },
	U32(max_vmas, 0, UINT32_MAX),
	U32(backoff_min_ms, 1, UINT32_MAX),
	U32(backoff_max_ms, 1, UINT32_MAX),
};
#undef U32

static int parse_key(struct thpvm_collapse_config *cfg, const char *item)
{
	const char *eq = strchr(item, '=');
	size_t len = eq ? (size_t)(eq - item) : strlen(item);
	char *end;
	long long v;

	if (eq && len == 6 && !strncmp(item, "engine", 6)) {
		for (unsigned e = 0; e < THPVM_NR_COLLAPSE_ENGINES; e++)
			if (!strcmp(eq + 1, thpvm_collapse_engine_str((enum thpvm_collapse_engine)e))) {
				cfg->engine = (enum thpvm_collapse_engine)e;
				return 0;
			}
		thpvm_set_error("collapse option '%s': unknown engine (expected auto, madv or remap)", item);
		return -EINVAL;
	}
	for (size_t k = 0; eq && k < ARRAY_SIZE(keys); k++) {
		if (strlen(keys[k].name) != len || strncmp(item, keys[k].name, len))
			continue;
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || v < keys[k].min || v > keys[k].max) {
			thpvm_set_error("collapse option '%s': expected an integer in [%lld, %lld]", item, keys[k].min,
					keys[k].max);
			return -EINVAL;
		}
		if (keys[k].is_int)
			*(int *)((char *)cfg + keys[k].off) = (int)v;
		else
			*(uint32_t *)((char *)cfg + keys[k].off) = (uint32_t)v;
		return 0;
	}
	thpvm_set_error("collapse option '%s': unknown (modes: off, tlb, balanced, density; keys: engine, private, "
			"delay_ms, max_absent, budget, batch, remap_batch, interval_ms, rate, nice, wp_nice, max_vmas, backoff_min_ms, "
			"backoff_max_ms)", item);
	return -EINVAL;
}

THPVM_EXPORT int thpvm_collapse_config_parse(struct thpvm_collapse_config *cfg, const char *str)
{
	struct thpvm_collapse_config out = *cfg;
	char *copy, *item, *save = NULL;
	int ret = 0;

	if (!str || !*str) {
		thpvm_set_error("collapse options: empty (expected e.g. 'balanced' or 'tlb,batch=32')");
		return -EINVAL;
	}
	copy = strdup(str);
	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		bool is_mode = false;

		for (unsigned m = 0; m < THPVM_NR_COLLAPSE_MODES; m++)
			if (!strcmp(item, thpvm_collapse_mode_str((enum thpvm_collapse_mode)m))) {
				out.mode = (enum thpvm_collapse_mode)m;
				mode_defaults(&out);
				is_mode = true;
			}
		if (!is_mode)
			ret = parse_key(&out, item);
	}
	free(copy);
	if (!ret)
		ret = collapse_config_check(&out);
	if (!ret)
		*cfg = out;
	return ret;
}
