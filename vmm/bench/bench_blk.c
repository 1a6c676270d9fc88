/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench blk: 4 KiB random read/write IOPS and 1 MiB sequential
 * read/write throughput of one disk image, measured by blkbench
 * (guests/linux-user/blkbench.c, O_DIRECT) in three places:
 *   host   blkbench on the image file itself, on the host running the VMMs
 *          (in the nested lab: L1)
 *   thpvm  blkbench on /dev/vda in the Linux guest recipe under `thpvm run
 *          --disk IMAGE` (virtio-blk on io_uring)
 *   qemu   the same guest under QEMU (-M microvm,acpi=on: its DSDT describes
 *          the virtio-mmio devices, as thpvm's does; Debian's kernels find
 *          them nowhere else) with -device virtio-blk-device on the same
 *          image, cache=writeback,aio=io_uring (the host page cache, as
 *          thpvm: it opens images without O_DIRECT)
 * The image (prefilled with random data) is made once; one unrecorded run
 * of every configuration warms memory and caches; then each repetition runs
 * every configuration once, in a rotating order. Medians, and ratios to the
 * host's own medians from the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "bench.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/error.h"
#include "../kvm/kvm_host.h"

#define MIB (1ULL << 20)

enum { HOST, THPVM, QEMU, NR_CONFIGS };
static const char *const config_str[NR_CONFIGS] = { "host", "thpvm", "qemu" };
enum { RANDREAD, RANDWRITE, SEQREAD, SEQWRITE, NR_METRICS };
static const char *const metric_key[NR_METRICS] = { "randread_iops", "randwrite_iops", "seqread_mibs",
						    "seqwrite_mibs" };

struct sample {
	double v[NR_METRICS];
	int direct;
};

struct config {
	const char *skipped;    /* why this configuration cannot run here */
	struct sample *samples;
	unsigned nr;
};

struct opts {
	const char *guest_dir;
	const char *blkbench;
	const char *qemu;
	const char *dir;
	const char *json;
	uint64_t size, secs, reps, qd, cpus, memory, timeout, warmup;
};

struct ctx {
	struct opts o;
	char kernel[4096], initrd[4096], blkbench[4096], qemu[4096], exe[4096];
	char work[4096], image[4200], log[4200], cmdline[512];
	struct config cfg[NR_CONFIGS];
};

/* The blkbench-result line in a log: 0 with every metric > 0, or -EIO */
static int parse_result(const char *path, struct sample *s)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int found = -EIO;

	if (!f)
		return vmm_fail(-errno, "%s: %s", path, strerror(errno));
	while (found && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "blkbench-result "), *tok, *save;

		if (!p)
			continue;
		for (unsigned i = 0; i < NR_METRICS; i++)
			s->v[i] = NAN;
		s->direct = -1;
		for (tok = strtok_r(p + 16, " \r\n", &save); tok; tok = strtok_r(NULL, " \r\n", &save)) {
			char *eq = strchr(tok, '=');

			if (!eq)
				continue;
			*eq = '\0';
			if (!strcmp(tok, "direct"))
				s->direct = atoi(eq + 1);
			for (unsigned i = 0; i < NR_METRICS; i++)
				if (!strcmp(tok, metric_key[i]))
					s->v[i] = strtod(eq + 1, NULL);
		}
		found = 0;
		for (unsigned i = 0; i < NR_METRICS; i++)
			if (!(s->v[i] > 0))
				found = -EIO;
	}
	fclose(f);
	return found ? vmm_fail(-EIO, "no complete blkbench-result line in %s", path) : 0;
}

static int run_config(struct ctx *c, unsigned config, uint64_t secs, struct sample *s)
{
	char secs_arg[32], qd_arg[32], mem[32], cpus[32], drive[4300], cmdline[640];
	int st, want;

	snprintf(secs_arg, sizeof(secs_arg), "secs=%llu", (unsigned long long)secs);
	snprintf(qd_arg, sizeof(qd_arg), "qd=%llu", (unsigned long long)c->o.qd);
	snprintf(cmdline, sizeof(cmdline), BENCH_LINUX_CMDLINE " thpvm.run=blkbench,/dev/vda,%s,%s", secs_arg, qd_arg);
	snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)c->o.cpus);
	snprintf(c->log, sizeof(c->log), "%s/%s.log", c->work, config_str[config]);
	if (config == HOST) {
		const char *argv[] = { c->blkbench, c->image, secs_arg, qd_arg, NULL };

		st = bench_run_logged(argv, c->log, (unsigned)c->o.timeout);
		want = 0;
	} else if (config == THPVM) {
		snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(c->o.memory / MIB));
		const char *argv[] = { c->exe, "run", "--kernel", c->kernel, "--initrd", c->initrd, "--cmdline", cmdline,
				       "--memory", mem, "--cpus", cpus, "--disk", c->image, NULL };

		st = bench_run_logged(argv, c->log, (unsigned)c->o.timeout);
		want = 0; /* thpvm exits with the guest's status byte */
	} else {
		snprintf(mem, sizeof(mem), "%llu", (unsigned long long)(c->o.memory / MIB));
		snprintf(drive, sizeof(drive), "id=vda,file=%s,format=raw,if=none,cache=writeback,aio=io_uring", c->image);
		const char *argv[] = { c->qemu, "-enable-kvm", "-cpu", "host", "-m", mem, "-smp", cpus, "-nographic",
				       "-no-reboot", "-M", "microvm,acpi=on", "-device",
				       "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", c->kernel, "-initrd", c->initrd,
				       "-append", cmdline, "-drive", drive, "-device", "virtio-blk-device,drive=vda", NULL };

		st = bench_run_logged(argv, c->log, (unsigned)c->o.timeout);
		want = 1; /* isa-debug-exit: (status << 1) | 1 */
	}
	if (st == -1)
		return vmm_fail(-EIO, "%s: %s (log: %s)", config_str[config], vmm_last_error(), c->log);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != want)
		return vmm_fail(-EIO, "%s: exit status %d, expected %d (log: %s)", config_str[config],
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), want, c->log);
	if (parse_result(c->log, s))
		return vmm_fail(-EIO, "%s: %s", config_str[config], vmm_last_error());
	return 0;
}

/* The image: size bytes of random data, on disk */
static int make_image(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t *buf = malloc(MIB), x = 0x9e3779b97f4a7c15ULL;
	int ret = 0;

	if (fd < 0 || !buf) {
		ret = vmm_fail(-errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (uint64_t off = 0; off < size && !ret; off += MIB) {
		for (size_t i = 0; i < MIB / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		if (write(fd, buf, MIB) != (ssize_t)MIB)
			ret = vmm_fail(-EIO, "%s: write: %s", path, strerror(errno));
	}
	if (!ret && fsync(fd))
		ret = vmm_fail(-errno, "%s: fsync: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static double median_of(const struct config *cf, unsigned m)
{
	double v[cf->nr ? cf->nr : 1];

	for (unsigned i = 0; i < cf->nr; i++)
		v[i] = cf->samples[i].v[m];
	return cf->nr ? bench_median(v, cf->nr) : NAN;
}

static const char *direct_str(const struct config *cf)
{
	int d = cf->nr ? cf->samples[0].direct : -1;

	for (unsigned i = 1; i < cf->nr; i++)
		if (cf->samples[i].direct != d)
			return "mixed";
	return d == 1 ? "yes" : d == 0 ? "no" : "?";
}

static void print_table(const struct ctx *c)
{
	const struct config *host = &c->cfg[HOST];
	char sz[32];

	printf("bench blk: %s image (random data) in %s, blkbench: 4 KiB random at queue depth %llu, 1 MiB "
	       "sequential, %llu s each, %llu repetition%s%s, configurations interleaved\n",
	       format_size(c->o.size, sz, sizeof(sz)), c->o.dir, (unsigned long long)c->o.qd,
	       (unsigned long long)c->o.secs, (unsigned long long)c->o.reps, c->o.reps == 1 ? "" : "s",
	       c->o.warmup ? " after a warm-up run each" : " (no warm-up)");
	printf("%-6s %14s %6s %14s %6s %13s %6s %13s %6s %7s\n", "config", "randread IOPS", "ratio", "randwrite IOPS",
	       "ratio", "seqread MB/s", "ratio", "seqwrite MB/s", "ratio", "direct");
	for (unsigned k = 0; k < NR_CONFIGS; k++) {
		const struct config *cf = &c->cfg[k];

		if (cf->skipped) {
			printf("%-6s skipped: %s\n", config_str[k], cf->skipped);
			continue;
		}
		printf("%-6s", config_str[k]);
		for (unsigned m = 0; m < NR_METRICS; m++) {
			double med = median_of(cf, m), base = median_of(host, m);

			double ratio = base > 0 ? med / base : 0.0;

			/* emulated hosts give ratios far below 1: three places then, not 0.00x */
			printf(m < SEQREAD ? " %14.1f" : " %13.2f", med);
			printf(ratio >= 0.1 ? " %5.2fx" : " %5.3fx", ratio);
		}
		printf(" %7s\n", direct_str(cf));
	}
	printf("medians over repetitions; ratio: to the host's own median from this run; MB/s: MiB per second;\n"
	       "host: blkbench on the image file; thpvm: --disk IMAGE, virtio-blk on io_uring; qemu: -M microvm,acpi=on,\n"
	       "virtio-blk-device, cache=writeback,aio=io_uring; in both guests blkbench on /dev/vda, %llu vCPU(s),\n"
	       "%llu MiB; direct: blkbench's requests were O_DIRECT (the VMMs read the image through the host's page "
	       "cache)\n",
	       (unsigned long long)c->o.cpus, (unsigned long long)(c->o.memory / MIB));
}

static json_t *to_json(const struct ctx *c)
{
	json_t *root = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:[]}", "bench", "blk", "image_bytes",
				 (json_int_t)c->o.size, "secs", (json_int_t)c->o.secs, "reps", (json_int_t)c->o.reps,
				 "queue_depth", (json_int_t)c->o.qd, "guest_cpus", (json_int_t)c->o.cpus,
				 "guest_memory_bytes", (json_int_t)c->o.memory, "configs");

	for (unsigned k = 0; k < NR_CONFIGS; k++) {
		const struct config *cf = &c->cfg[k];
		json_t *cj = json_pack("{s:s}", "config", config_str[k]), *samples, *med, *ratio;

		if (cf->skipped) {
			json_object_set_new(cj, "skipped", json_string(cf->skipped));
			json_array_append_new(json_object_get(root, "configs"), cj);
			continue;
		}
		samples = json_array();
		med = json_object();
		ratio = json_object();
		for (unsigned i = 0; i < cf->nr; i++) {
			json_t *s = json_pack("{s:b}", "direct", cf->samples[i].direct == 1);

			for (unsigned m = 0; m < NR_METRICS; m++)
				json_object_set_new(s, metric_key[m], json_real(cf->samples[i].v[m]));
			json_array_append_new(samples, s);
		}
		for (unsigned m = 0; m < NR_METRICS; m++) {
			double v = median_of(cf, m), base = median_of(&c->cfg[HOST], m);

			json_object_set_new(med, metric_key[m], json_real(v));
			json_object_set_new(ratio, metric_key[m], json_real(base > 0 ? v / base : 0.0));
		}
		json_object_set_new(cj, "samples", samples);
		json_object_set_new(cj, "median", med);
		json_object_set_new(cj, "ratio_to_host", ratio);
		json_array_append_new(json_object_get(root, "configs"), cj);
	}
	return root;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "guest-dir", required_argument, NULL, 'g' }, { "blkbench", required_argument, NULL, 'b' },
		{ "qemu", required_argument, NULL, 'q' },      { "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },      { "secs", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },      { "qd", required_argument, NULL, 'Q' },
		{ "cpus", required_argument, NULL, 'c' },      { "memory", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 'T' },   { "json", required_argument, NULL, 'j' },
		{ "warmup", required_argument, NULL, 'W' },
		{ 0 },
	};
	int c;

	*o = (struct opts){ .qemu = "qemu-system-x86_64", .size = 256 * MIB, .secs = 2, .reps = 3, .qd = 1, .cpus = 1,
			    .memory = 256 * MIB, .timeout = 900, .warmup = 1 };
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'g': o->guest_dir = optarg; break;
		case 'b': o->blkbench = optarg; break;
		case 'q': o->qemu = optarg; break;
		case 'd': o->dir = optarg; break;
		case 'j': o->json = optarg; break;
		case 's':
			if (parse_size(optarg, &o->size) || o->size < 16 * MIB || o->size % MIB || o->size > (64ULL << 30)) {
				cli_error("bench blk: --size '%s': expected a multiple of 1 MiB, 16M..64G", optarg);
				return 2;
			}
			break;
		case 'm':
			if (parse_size(optarg, &o->memory) || o->memory < 128 * MIB || o->memory % MIB ||
			    o->memory > (64ULL << 30)) {
				cli_error("bench blk: --memory '%s': expected a multiple of 1 MiB, 128M..64G", optarg);
				return 2;
			}
			break;
		case 't':
		case 'r':
		case 'Q':
		case 'c':
		case 'T':
		case 'W': {
			static const struct { int c; const char *name; uint64_t min, max; } lim[] = {
				{ 't', "--secs", 1, 600 }, { 'r', "--reps", 1, 1000 }, { 'Q', "--qd", 1, 64 },
				{ 'c', "--cpus", 1, 64 },  { 'T', "--timeout", 10, 86400 }, { 'W', "--warmup", 0, 1 },
			};
			uint64_t *dst[] = { &o->secs, &o->reps, &o->qd, &o->cpus, &o->timeout, &o->warmup };

			for (unsigned i = 0; i < 6; i++)
				if (lim[i].c == c && parse_uint(optarg, lim[i].min, lim[i].max, dst[i])) {
					cli_error("bench blk: %s '%s': expected %llu..%llu", lim[i].name, optarg,
						  (unsigned long long)lim[i].min, (unsigned long long)lim[i].max);
					return 2;
				}
			break;
		}
		default:
			return opt_bad("bench blk", c, argv);
		}
	}
	return opt_rest("bench blk", argc, argv);
}

/* A program by path, or by name in $PATH, into out: 0 when it is executable */
static int find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK);
	}
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(out, len, "%.*s/%s", (int)n, path, name);
		if (n && !access(out, X_OK))
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

static int prepare(struct ctx *c)
{
	const struct kvm_host *h = bench_host_get();
	const char *tmp = getenv("TMPDIR");
	ssize_t len;

	c->o.guest_dir = bench_linux_guest(c->o.guest_dir, c->kernel, c->initrd, sizeof(c->kernel));
	/* $TMPDIR, else /var/tmp (a disk, usually), else /tmp (the lab's L1 has no /var/tmp) */
	if (!c->o.dir)
		c->o.dir = tmp && *tmp ? tmp : !access("/var/tmp", W_OK | X_OK) ? "/var/tmp" : "/tmp";
	/* the guest recipe's programs sit beside it in the build tree (guests/linux-user) */
	if (c->o.blkbench) {
		snprintf(c->blkbench, sizeof(c->blkbench), "%s", c->o.blkbench);
	} else {
		size_t n = strlen(c->o.guest_dir);
		const char *slash;

		while (n > 1 && c->o.guest_dir[n - 1] == '/')
			n--;
		slash = memrchr(c->o.guest_dir, '/', n);
		if (slash)
			snprintf(c->blkbench, sizeof(c->blkbench), "%.*s/linux-user/blkbench",
				 (int)(slash - c->o.guest_dir), c->o.guest_dir);
		else
			snprintf(c->blkbench, sizeof(c->blkbench), "linux-user/blkbench");
	}
	if (access(c->blkbench, X_OK)) {
		cli_error("bench blk: no blkbench at %s (build guests/linux-user/blkbench or pass --blkbench PATH)",
			  c->blkbench);
		return 2;
	}
	len = readlink("/proc/self/exe", c->exe, sizeof(c->exe) - 1);
	if (len <= 0) {
		cli_error("bench blk: cannot find this program: %s", strerror(errno));
		return 1;
	}
	c->exe[len] = '\0';
	if (!kvm_host_boots_linux(h)) {
		c->cfg[THPVM].skipped = c->cfg[QEMU].skipped =
			h->kind == KVM_HOST_NONE ? "no usable /dev/kvm" :
						   "this host cannot boot Linux guests (guest ring 0 would be emulated): "
						   "run it in the nested lab (make bench-blk-lab)";
	} else if (access(c->kernel, R_OK) || access(c->initrd, R_OK)) {
		cli_error("bench blk: no Linux guest in %s (vmlinux, initramfs.cpio with blkbench): build it with "
			  "'make linux-guest' or pass --guest-dir DIR", c->o.guest_dir);
		return 2;
	}
	if (!c->cfg[QEMU].skipped && (!strcmp(c->o.qemu, "none") || find_program(c->o.qemu, c->qemu, sizeof(c->qemu))))
		c->cfg[QEMU].skipped = !strcmp(c->o.qemu, "none") ? "--qemu none" : "no QEMU (--qemu PATH)";
	snprintf(c->work, sizeof(c->work), "%s/thpvm-bench-blk-XXXXXX", c->o.dir);
	if (!mkdtemp(c->work)) {
		cli_error("bench blk: cannot make a directory in %s: %s", c->o.dir, strerror(errno));
		return 1;
	}
	snprintf(c->image, sizeof(c->image), "%s/disk.img", c->work);
	return 0;
}

static void cleanup(struct ctx *c, bool keep_logs)
{
	char path[4300];

	unlink(c->image);
	if (keep_logs)
		return;
	for (unsigned k = 0; k < NR_CONFIGS; k++) {
		snprintf(path, sizeof(path), "%s/%s.log", c->work, config_str[k]);
		unlink(path);
	}
	rmdir(c->work);
}

static int run(int argc, char **argv)
{
	struct ctx *c = calloc(1, sizeof(*c));
	unsigned active = 0, done = 0, total;
	int ret, status = 0;

	if (!c)
		return 1;
	if ((ret = parse(argc, argv, &c->o)) || (ret = prepare(c))) {
		free(c);
		return ret;
	}
	if (make_image(c->image, c->o.size)) {
		cli_error("bench blk: %s", vmm_last_error());
		cleanup(c, false);
		free(c);
		return 1;
	}
	bench_warm_memory(c->o.memory);
	for (unsigned k = 0; k < NR_CONFIGS; k++)
		if (!c->cfg[k].skipped) {
			c->cfg[k].samples = calloc(c->o.reps, sizeof(struct sample));
			active++;
		}
	total = active * (unsigned)(c->o.reps + c->o.warmup);
	/* warm-up: every configuration once, 1 s per test, not recorded (--warmup 0: none, for smoke tests) */
	for (unsigned k = 0; k < NR_CONFIGS && c->o.warmup && !status; k++) {
		struct sample s;

		if (c->cfg[k].skipped)
			continue;
		bench_progress("bench blk (warm-up)", ++done, total);
		if (run_config(c, k, 1, &s)) {
			bench_progress_done();
			cli_error("bench blk: %s", vmm_last_error());
			status = 1;
		}
	}
	for (unsigned r = 0; r < c->o.reps && !status; r++)
		for (unsigned i = 0; i < NR_CONFIGS && !status; i++) {
			unsigned k = (i + r) % NR_CONFIGS;
			struct config *cf = &c->cfg[k];

			if (cf->skipped)
				continue;
			bench_progress("bench blk", ++done, total);
			if (run_config(c, k, c->o.secs, &cf->samples[cf->nr])) {
				bench_progress_done();
				cli_error("bench blk: %s", vmm_last_error());
				status = 1;
			} else {
				cf->nr++;
			}
		}
	bench_progress_done();
	if (!status) {
		print_table(c);
		if (c->o.json) {
			json_t *j = to_json(c);

			if (bench_json_write(j, c->o.json)) {
				cli_error("bench blk: cannot write %s", c->o.json);
				status = 1;
			}
			json_decref(j);
		}
	}
	cleanup(c, status != 0);
	for (unsigned k = 0; k < NR_CONFIGS; k++)
		free(c->cfg[k].samples);
	free(c);
	return status;
}

const struct bench bench_blk = {
	.name = "blk",
	.summary = "disk IOPS and throughput in a Linux guest (thpvm, QEMU) next to the host's own, same image",
	.usage = "thpvm bench blk [--size SIZE] [--secs N] [--reps N] [--qd N] [--cpus N] [--memory SIZE] [--dir DIR]\n"
		 "                [--guest-dir DIR] [--blkbench PATH] [--qemu PATH|none] [--timeout SECS] [--json FILE]",
	.run = run,
};
