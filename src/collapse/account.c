/* SPDX-License-Identifier: MIT */
/* Account: a counter per result, bytes copied, latency and stall histograms, and their JSON. */
#include <ctype.h>
#include <string.h>
#include "collapse_internal.h"

void hist_add(struct thpvm_collapse_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = us < 2 ? 0 : 63 - (unsigned)__builtin_clzll(us);

	if (b >= THPVM_COLLAPSE_HIST_BUCKETS)
		b = THPVM_COLLAPSE_HIST_BUCKETS - 1;
	h->buckets[b]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

THPVM_EXPORT uint64_t thpvm_collapse_hist_percentile_us(const struct thpvm_collapse_hist *h, double p)
{
	uint64_t rank, seen = 0, max_us;

	if (!h->count)
		return 0;
	if (p < 0)
		p = 0;
	rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	max_us = (h->max_ns + 999) / 1000;
	for (unsigned b = 0; b < THPVM_COLLAPSE_HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank) {
			uint64_t upper = 2ULL << b;

			return upper < max_us ? upper : max_us;
		}
	}
	return max_us;
}

void account_op(struct thpvm_collapse *c, uint64_t latency_ns)
{
	pthread_mutex_lock(&c->stats_lock);
	hist_add(&c->stats.latency, latency_ns);
	c->stats.busy_ns += latency_ns;
	pthread_mutex_unlock(&c->stats_lock);
}

void account_pass(struct thpvm_collapse *c, const struct thpvm_collapse_pass *pass)
{
	pthread_mutex_lock(&c->stats_lock);
	c->stats.nr_passes++;
	c->stats.nr_rounds += pass->wrapped;
	c->stats.nr_examined += pass->nr_examined;
	c->stats.nr_candidates += pass->nr_candidates;
	c->stats.nr_collapsed += pass->nr_collapsed;
	for (unsigned i = 0; i < THPVM_NR_COLLAPSE_ENGINES; i++)
		c->stats.nr_collapsed_by_engine[i] += pass->nr_collapsed_by_engine[i];
	c->stats.nr_ops += pass->nr_ops;
	c->stats.bytes_copied += pass->bytes_copied;
	for (unsigned i = 0; i < THPVM_NR_COLLAPSE_RESULTS; i++)
		c->stats.results[i] += pass->results[i];
	c->stats.nr_vmas = c->nr_vmas;
	c->stats.max_vmas = c->vma_limit;
	pthread_mutex_unlock(&c->stats_lock);
}

static json_t *hist_json(const struct thpvm_collapse_hist *h)
{
	json_t *buckets = json_array();
	unsigned last = 0;

	for (unsigned b = 0; b < THPVM_COLLAPSE_HIST_BUCKETS; b++)
		if (h->buckets[b])
			last = b + 1;
	for (unsigned b = 0; b < last; b++)
		json_array_append_new(buckets, json_integer((json_int_t)h->buckets[b]));
	return json_pack("{s:I, s:f, s:I, s:I, s:I, s:I, s:o}", "count", (json_int_t)h->count, "mean",
			 h->count ? (double)h->sum_ns / (double)h->count / 1000.0 : 0.0, "p50",
			 (json_int_t)thpvm_collapse_hist_percentile_us(h, 50), "p90",
			 (json_int_t)thpvm_collapse_hist_percentile_us(h, 90), "p99",
			 (json_int_t)thpvm_collapse_hist_percentile_us(h, 99), "max", (json_int_t)((h->max_ns + 999) / 1000),
			 "log2_buckets", buckets);
}

/* "THPVM_COLLAPSE_NOT_SPLIT" -> "not_split" */
static void result_key(enum thpvm_collapse_result r, char *buf, size_t len)
{
	const char *name = thpvm_collapse_result_name(r) + strlen("THPVM_COLLAPSE_");
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
}

THPVM_EXPORT json_t *thpvm_collapse_stats_json(struct thpvm_collapse *c)
{
	struct thpvm_collapse_stats s;
	json_t *results = json_object(), *config, *root;
	char key[64];

	thpvm_collapse_stats(c, &s);
	for (unsigned r = 0; r < THPVM_NR_COLLAPSE_RESULTS; r++) {
		result_key((enum thpvm_collapse_result)r, key, sizeof(key));
		json_object_set_new(results, key, json_integer((json_int_t)s.results[r]));
	}
	config = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}",
			   "private_pages", (int)s.config.private_pages, "delay_ms", (int)s.config.delay_ms,
			   "max_absent_pages", (int)s.config.max_absent_pages, "budget_extents",
			   (int)s.config.budget_extents, "batch_extents", (int)s.config.batch_extents,
			   "remap_batch_extents", (int)s.config.remap_batch_extents, "interval_ms",
			   (int)s.config.interval_ms, "rate_mib_s", (int)s.config.rate_mib_s, "nice", s.config.nice,
			   "wp_nice", s.config.wp_nice, "max_vmas", (int)s.config.max_vmas, "backoff_min_ms", (int)s.config.backoff_min_ms,
			   "backoff_max_ms", (int)s.config.backoff_max_ms, "quiesce_hook", s.config.quiesce != NULL);
	root = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:o}", "mode", thpvm_collapse_mode_str(s.config.mode),
			 "engine", thpvm_collapse_engine_str(s.config.engine), "running", s.running, "paused", s.paused,
			 "uffd", s.uffd, "uffd_wp_unpopulated", s.uffd_wp_unpopulated, "kernel_note", s.kernel_note,
			 "config", config);
	if (!root)
		return NULL;
#define SET_INT(k, v) json_object_set_new(root, k, json_integer((json_int_t)(v)))
	SET_INT("passes", s.nr_passes);
	SET_INT("rounds", s.nr_rounds);
	SET_INT("examined", s.nr_examined);
	SET_INT("candidates", s.nr_candidates);
	SET_INT("collapsed", s.nr_collapsed);
	SET_INT("collapsed_madv", s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV]);
	SET_INT("collapsed_remap", s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP]);
	SET_INT("ops", s.nr_ops);
	SET_INT("bytes_copied", s.bytes_copied);
	SET_INT("busy_us", s.busy_ns / 1000);
	SET_INT("backoffs", s.nr_backoffs);
	SET_INT("backoff_ms", s.backoff_ns / 1000000);
	SET_INT("backoff_step_ms", s.backoff_ms_now);
	SET_INT("rate_sleep_ms", s.rate_sleep_ns / 1000000);
	SET_INT("vmas", s.nr_vmas);
	SET_INT("max_vmas", s.max_vmas);
	SET_INT("stalls", s.nr_stalls);
	SET_INT("stalls_unseen", s.nr_stalls_unseen);
#undef SET_INT
	json_object_set_new(root, "remap_phase_us",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "alloc", (json_int_t)(s.remap_alloc_ns / 1000), "protect",
				      (json_int_t)(s.remap_protect_ns / 1000), "copy", (json_int_t)(s.remap_copy_ns / 1000),
				      "install", (json_int_t)(s.remap_install_ns / 1000), "wake",
				      (json_int_t)(s.remap_wake_ns / 1000)));
	json_object_set_new(root, "results", results);
	json_object_set_new(root, "latency_us", hist_json(&s.latency));
	json_object_set_new(root, "stall_us", hist_json(&s.stall));
	return root;
}
