/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot --queue-depths / --register: the images' io_uring
 * settings (thpvm_image_io_config) swept, each setting measuring the
 * disk's own bandwidth and the memory-only image's save and load, so that
 * the defaults in src/image_io.h come from a measurement. Within a size
 * every repetition runs each setting once, in a shuffled order (a fixed
 * seed: the same order every run), after one unrecorded round; medians
 * and ratios from this one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "util/util.h"
#include "util/error.h"

const char *const reg_name[NR_REGS] = { "none", "files", "buffers", "both" };

/* Within this of the best, a smaller depth is as good (the spread between repetitions is ~1-2%). */
#define SWEEP_TOLERANCE 0.02

enum { W_WRITE, W_READ, W_SAVE, W_LOAD, W_NR };

struct sweep_cfg {
	unsigned depth;
	enum reg reg;
	double *s[W_NR];
	bool direct;
	bool unregistered;          /* buffers asked for, and the kernel refused them at least once */
};

static void cfg_apply(const struct sweep_cfg *c)
{
	struct thpvm_image_io_config io = { .queue_depth = c->depth,
					    .register_file = c->reg == REG_FILES || c->reg == REG_BOTH,
					    .register_buffers = c->reg == REG_BUFFERS || c->reg == REG_BOTH };

	thpvm_image_io_config_set(&io);
}

static int cfg_once(struct sweep_cfg *c, const char *tmp, struct snap_mem *m, bool warm, double *w)
{
	double v[SM_NR];
	bool direct;
	char path[256];
	int ret;

	cfg_apply(c);
	snprintf(path, sizeof(path), "%s/disk.bin", tmp);
	if ((ret = snap_disk_once(path, m->size, &direct, v)))
		return ret;
	snprintf(path, sizeof(path), "%s/memory.img", tmp);
	if ((ret = snap_mem_once(m, path, warm, v)))
		return ret;
	c->direct = direct && m->direct;
	c->unregistered |= (c->reg == REG_BUFFERS || c->reg == REG_BOTH) && !m->fixed_buffers;
	w[W_WRITE] = v[SM_DISK_WRITE];
	w[W_READ] = v[SM_DISK_READ];
	w[W_SAVE] = v[SM_MEM_SAVE];
	w[W_LOAD] = v[SM_MEM_LOAD];
	return 0;
}

static double med(const struct sweep_cfg *c, unsigned m, unsigned n)
{
	return bench_median(c->s[m], n);
}

static const char *num(unsigned v, char *buf, size_t len)
{
	snprintf(buf, len, "%u", v);
	return buf;
}

/* Per register setting: the smallest depth whose save and load medians are within SWEEP_TOLERANCE of its best. */
static void print_pick(const struct sweep_cfg *cfg, unsigned nc, unsigned n)
{
	for (unsigned g = 0; g < NR_REGS; g++) {
		double best_save = 0, best_load = 0;
		unsigned pick = 0;
		char d[16];

		for (unsigned k = 0; k < nc; k++)
			if (cfg[k].reg == g) {
				best_save = med(&cfg[k], W_SAVE, n) > best_save ? med(&cfg[k], W_SAVE, n) : best_save;
				best_load = med(&cfg[k], W_LOAD, n) > best_load ? med(&cfg[k], W_LOAD, n) : best_load;
			}
		for (unsigned k = 0; k < nc; k++)
			if (cfg[k].reg == g && med(&cfg[k], W_SAVE, n) >= (1 - SWEEP_TOLERANCE) * best_save &&
			    med(&cfg[k], W_LOAD, n) >= (1 - SWEEP_TOLERANCE) * best_load &&
			    (!pick || cfg[k].depth < pick))
				pick = cfg[k].depth;
		if (best_save > 0)
			printf("  register %-7s: best save %.3f, best load %.3f GB/s; smallest depth within %.0f%% of both: %s\n",
			       reg_name[g], best_save, best_load, SWEEP_TOLERANCE * 100, pick ? num(pick, d, sizeof(d)) : "none");
	}
}

static void print_table(const char *host, uint64_t size, const struct sweep_cfg *cfg, unsigned nc, unsigned n)
{
	char sz[32];
	double dw = 0, dr = 0;

	for (unsigned k = 0; k < nc; k++) {
		dw = med(&cfg[k], W_WRITE, n) > dw ? med(&cfg[k], W_WRITE, n) : dw;
		dr = med(&cfg[k], W_READ, n) > dr ? med(&cfg[k], W_READ, n) : dr;
	}
	printf("\nio_uring settings (%s): %s, median of %u [min max], GB/s; x disk: over the best disk median of\n"
	       "the sweep (write %.3f, read %.3f)\n", host, format_size(size, sz, sizeof(sz)), n, dw, dr);
	printf("  %5s %-8s %-22s %-22s %-22s %6s %-22s %6s\n", "depth", "register", "disk write + fsync", "disk read",
	       "save", "x disk", "load", "x disk");
	for (unsigned k = 0; k < nc; k++) {
		const struct sweep_cfg *c = &cfg[k];
		char f[W_NR][48];

		for (unsigned m = 0; m < W_NR; m++)
			snprintf(f[m], sizeof(f[m]), "%.3f [%.3f %.3f]", med(c, m, n), bench_percentile(c->s[m], n, 0),
				 bench_percentile(c->s[m], n, 100));
		printf("  %5u %-8s %-22s %-22s %-22s %5.2fx %-22s %5.2fx%s%s\n", c->depth, reg_name[c->reg], f[W_WRITE],
		       f[W_READ], f[W_SAVE], dw > 0 ? med(c, W_SAVE, n) / dw : 0, f[W_LOAD],
		       dr > 0 ? med(c, W_LOAD, n) / dr : 0, c->direct ? "" : "  (buffered)",
		       c->unregistered ? "  (buffers refused)" : "");
	}
	print_pick(cfg, nc, n);
}

/*
 * This repetition's order: shuffled, not rotated. A rotation keeps each
 * setting behind the same neighbour in every repetition, and a first run
 * showed the neighbour mattering (what a load leaves for the next write):
 * a shuffle spreads that over every setting. Fixed seed, same order per run.
 */
static void shuffle(unsigned *order, unsigned n, unsigned *seed)
{
	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)rand_r(seed) % i, t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
}

static const char *const w_name[W_NR] = { "write_gbps", "read_gbps", "save_gbps", "load_gbps" };

/* One size's settings as JSON: each figure's median, min, max and samples. */
static json_t *sweep_json(uint64_t size, const struct sweep_cfg *cfg, unsigned nc, unsigned n)
{
	json_t *settings = json_array();

	for (unsigned k = 0; k < nc; k++) {
		json_t *c = json_pack("{s:i, s:s, s:b, s:b}", "queue_depth", (int)cfg[k].depth, "register",
				      reg_name[cfg[k].reg], "direct", cfg[k].direct, "buffers_refused", cfg[k].unregistered);

		for (unsigned m = 0; m < W_NR; m++) {
			json_t *samples = json_array();

			for (unsigned i = 0; i < n; i++)
				json_array_append_new(samples, json_real(cfg[k].s[m][i]));
			json_object_set_new(c, w_name[m],
					    json_pack("{s:f, s:f, s:f, s:o}", "median", med(&cfg[k], m, n), "min",
						      bench_percentile(cfg[k].s[m], n, 0), "max",
						      bench_percentile(cfg[k].s[m], n, 100), "samples", samples));
		}
		json_array_append_new(settings, c);
	}
	return json_pack("{s:I, s:o}", "size_bytes", (json_int_t)size, "settings", settings);
}

static int sweep_size(const struct opts *o, const char *tmp, const char *host, uint64_t size, json_t *sizes)
{
	struct sweep_cfg cfg[MAX_DEPTHS * NR_REGS] = { 0 };
	struct thpvm_image_io_config saved;
	struct snap_mem m = { 0 };
	unsigned nc = 0, n = 0, order[MAX_DEPTHS * NR_REGS], seed = 1;
	char label[64], sz[32];
	int ret;

	for (unsigned d = 0; d < o->nr_depths; d++)
		for (unsigned g = 0; g < NR_REGS; g++)
			if (o->regs[g]) {
				cfg[nc] = (struct sweep_cfg){ .depth = o->depths[d], .reg = (enum reg)g };
				for (unsigned w = 0; w < W_NR; w++)
					cfg[nc].s[w] = calloc(o->reps, sizeof(double));
				nc++;
			}
	thpvm_image_io_config_get(&saved);
	snprintf(label, sizeof(label), "bench snapshot: %s sweep", format_size(size, sz, sizeof(sz)));
	ret = snap_mem_setup(&m, size);
	/* round 0 warms every path and is not recorded */
	for (unsigned r = 0; r <= o->reps && !ret; r++) {
		bench_progress(label, r, o->reps + 1);
		shuffle(order, nc, &seed);
		for (unsigned k = 0; k < nc && !ret; k++) {
			struct sweep_cfg *c = &cfg[order[k]];
			double w[W_NR];

			ret = cfg_once(c, tmp, &m, o->warm, w);
			for (unsigned i = 0; r && !ret && i < W_NR; i++)
				c->s[i][r - 1] = w[i];
		}
		if (r && !ret)
			n = r;
	}
	bench_progress_done();
	thpvm_image_io_config_set(&saved);
	snap_mem_free(&m);
	if (!ret) {
		print_table(host, size, cfg, nc, n);
		json_array_append_new(sizes, sweep_json(size, cfg, nc, n));
	}
	for (unsigned k = 0; k < nc; k++)
		for (unsigned w = 0; w < W_NR; w++)
			free(cfg[k].s[w]);
	return ret;
}

int snap_sweep(const struct opts *o, const char *tmp, const char *host, json_t **json)
{
	json_t *sizes = json_array();
	int ret = 0;

	for (unsigned i = 0; i < o->nr_sizes && !ret; i++)
		ret = sweep_size(o, tmp, host, o->sizes[i], sizes);
	*json = json_pack("{s:s, s:i, s:s, s:b, s:o}", "bench", "snapshot", "reps", (int)o->reps, "dir", o->dir, "warm",
			  o->warm, "sweep", sizes);
	return ret;
}
