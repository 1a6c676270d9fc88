/* SPDX-License-Identifier: MIT */
/* The collapse configuration and result lists: defaults, the CLI form, strings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <thpvm.h>

Test(collapse_config, defaults_are_balanced_auto_and_bounded)
{
	struct thpvm_collapse_config cfg;

	thpvm_collapse_config_default(&cfg);
	cr_assert_eq(cfg.mode, THPVM_COLLAPSE_MODE_BALANCED);
	cr_assert_eq(cfg.engine, THPVM_COLLAPSE_ENGINE_AUTO);
	cr_assert_eq(cfg.private_pages, 64);
	cr_assert_eq(cfg.delay_ms, 2000);
	cr_assert_eq(cfg.max_absent_pages, 511);
	cr_assert_gt(cfg.budget_extents, 0);
	cr_assert_gt(cfg.batch_extents, 0);
	cr_assert_eq(cfg.remap_batch_extents, 1);
	cr_assert_eq(cfg.rate_mib_s, 0);
	cr_assert_eq(cfg.wp_nice, -10);
	cr_assert_lt(cfg.backoff_min_ms, cfg.backoff_max_ms);
	cr_assert_null(cfg.quiesce);
}

Test(collapse_config, mode_words_set_their_thresholds)
{
	struct thpvm_collapse_config cfg;

	thpvm_collapse_config_default(&cfg);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "tlb"), 0);
	cr_assert_eq(cfg.mode, THPVM_COLLAPSE_MODE_TLB);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "density"), 0);
	cr_assert_eq(cfg.mode, THPVM_COLLAPSE_MODE_DENSITY);
	cr_assert_eq(cfg.private_pages, 256);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "off"), 0);
	cr_assert_eq(cfg.mode, THPVM_COLLAPSE_MODE_OFF);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "balanced,private=64,delay_ms=500"), 0);
	cr_assert_eq(cfg.mode, THPVM_COLLAPSE_MODE_BALANCED);
	cr_assert_eq(cfg.private_pages, 64);
	cr_assert_eq(cfg.delay_ms, 500);
}

/* Asserts every field of got equals want's, naming the first that does not. */
static void expect_config(const struct thpvm_collapse_config *got, const struct thpvm_collapse_config *want)
{
#define FIELD(f) { #f, (long long)got->f, (long long)want->f }
	const struct {
		const char *name;
		long long got, want;
	} fields[] = {
		FIELD(mode), FIELD(engine), FIELD(private_pages), FIELD(delay_ms), FIELD(max_absent_pages),
		FIELD(budget_extents), FIELD(batch_extents), FIELD(remap_batch_extents), FIELD(interval_ms),
		FIELD(rate_mib_s), FIELD(nice), FIELD(wp_nice), FIELD(max_vmas), FIELD(backoff_min_ms),
		FIELD(backoff_max_ms),
	};
#undef FIELD

	for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		cr_assert_eq(fields[i].got, fields[i].want, "%s: %lld, want %lld", fields[i].name, fields[i].got,
			     fields[i].want);
	cr_assert_eq(got->quiesce, want->quiesce);
	cr_assert_eq(got->quiesce_arg, want->quiesce_arg);
}

Test(collapse_config, every_key_parses)
{
	struct thpvm_collapse_config cfg;
	const struct thpvm_collapse_config want = {
		.mode = THPVM_COLLAPSE_MODE_DENSITY, .engine = THPVM_COLLAPSE_ENGINE_REMAP, .private_pages = 384,
		.delay_ms = 2000 /* the default: no key */, .max_absent_pages = 100, .budget_extents = 64,
		.batch_extents = 8, .remap_batch_extents = 2, .interval_ms = 50, .rate_mib_s = 200, .nice = -5,
		.wp_nice = -15, .max_vmas = 1000, .backoff_min_ms = 20, .backoff_max_ms = 800,
	};

	thpvm_collapse_config_default(&cfg);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "density,private=384,engine=remap,max_absent=100,budget=64,"
						       "batch=8,remap_batch=2,interval_ms=50,rate=200,nice=-5,wp_nice=-15,max_vmas=1000,"
						       "backoff_min_ms=20,backoff_max_ms=800"),
		     0, "%s", thpvm_last_error());
	expect_config(&cfg, &want);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "tlb,engine=madv"), 0);
	cr_assert_eq(cfg.engine, THPVM_COLLAPSE_ENGINE_MADV);
}

static void expect_refused(const char *str, const char *needle)
{
	struct thpvm_collapse_config cfg, before;

	thpvm_collapse_config_default(&cfg);
	before = cfg;
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, str), -EINVAL, "'%s' accepted", str);
	cr_assert(strstr(thpvm_last_error(), needle), "'%s': message '%s' lacks '%s'", str, thpvm_last_error(), needle);
	cr_assert(!memcmp(&cfg, &before, sizeof(cfg)), "'%s' changed the configuration", str);
}

Test(collapse_config, bad_options_name_the_problem_and_change_nothing)
{
	expect_refused("", "empty");
	expect_refused("turbo", "'turbo': unknown");
	expect_refused("tlb,private=513", "private=513");
	expect_refused("tlb,private=-1", "private=-1");
	expect_refused("tlb,batch=0", "batch=0");
	expect_refused("tlb,batch=65", "batch=65");
	expect_refused("tlb,remap_batch=0", "remap_batch=0");
	expect_refused("tlb,nice=20", "nice=20");
	expect_refused("tlb,wp_nice=-21", "wp_nice=-21");
	expect_refused("tlb,engine=fast", "unknown engine");
	expect_refused("tlb,delay_ms=", "delay_ms=");
	expect_refused("tlb,delay_ms=12x", "delay_ms=12x");
	expect_refused("tlb,budget=0", "budget=0");
	expect_refused("tlb,backoff_min_ms=100,backoff_max_ms=10", "backoff_min_ms");
	expect_refused("tlb,max_absent=512", "max_absent=512");
}

Test(collapse_config, create_refuses_a_bad_configuration)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_memmap *map;
	struct thpvm_collapse *c = NULL;

	thpvm_collapse_config_default(&cfg);
	cfg.batch_extents = 0;
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), -EINVAL);
	cr_assert_null(c);
	cr_assert(strstr(thpvm_last_error(), "batch"), "%s", thpvm_last_error());
	thpvm_memmap_destroy(map);
}

Test(collapse_config, every_result_has_a_name_a_string_and_an_errno)
{
	for (unsigned r = 0; r < THPVM_NR_COLLAPSE_RESULTS; r++) {
		cr_assert(strncmp(thpvm_collapse_result_name((enum thpvm_collapse_result)r), "THPVM_COLLAPSE_", 15) == 0);
		cr_assert_gt(strlen(thpvm_collapse_result_str((enum thpvm_collapse_result)r)), 5);
		cr_assert_geq(thpvm_collapse_result_errno((enum thpvm_collapse_result)r), 0);
	}
	cr_assert_eq(thpvm_collapse_result_errno(THPVM_COLLAPSE_SUCCEED), 0);
	cr_assert_eq(thpvm_collapse_result_errno(THPVM_COLLAPSE_ALLOC_FAILED), ENOMEM);
	cr_assert_eq(thpvm_collapse_result_errno(THPVM_COLLAPSE_VMA_LIMIT), ENOSPC);
	cr_assert_eq(thpvm_collapse_result_errno(THPVM_COLLAPSE_GENERATION_CHANGED), EAGAIN);
	cr_assert_str_eq(thpvm_collapse_result_name(THPVM_NR_COLLAPSE_RESULTS), "THPVM_COLLAPSE_UNKNOWN");
	cr_assert_str_eq(thpvm_collapse_mode_str(THPVM_COLLAPSE_MODE_DENSITY), "density");
	cr_assert_str_eq(thpvm_collapse_engine_str(THPVM_COLLAPSE_ENGINE_REMAP), "remap");
}

Test(collapse_config, histogram_percentiles_are_bucket_bounds)
{
	struct thpvm_collapse_hist h = { 0 };

	cr_assert_eq(thpvm_collapse_hist_percentile_us(&h, 50), 0);
	/* 99 samples in [128, 256) us, one at 5 ms */
	h.count = 100;
	h.buckets[7] = 99;
	h.buckets[12] = 1;
	h.max_ns = 5000000;
	cr_assert_eq(thpvm_collapse_hist_percentile_us(&h, 50), 256);
	cr_assert_eq(thpvm_collapse_hist_percentile_us(&h, 99), 256);
	cr_assert_eq(thpvm_collapse_hist_percentile_us(&h, 100), 5000);
}
