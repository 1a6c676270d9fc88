/* SPDX-License-Identifier: MIT */
/* thpvm bench: each benchmark in its own file, sharing statistics and timing helpers. */
#ifndef THPVM_BENCH_H
#define THPVM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

struct bench {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

extern const struct bench *const benches[];

struct kvm_host;
/* The host this run's numbers come from, detected before the benchmark starts (its first line). */
const struct kvm_host *bench_host_get(void);
/*
 * Touches size bytes of fresh THP memory and frees them again, for a
 * benchmark about to allocate that much: free memory idle for seconds is
 * handed back to the hypervisor here (host-facts) and costs ~2.6 s/GiB to
 * touch again, which would be timed as the benchmark's own.
 */
void bench_warm_memory(uint64_t size);

/* Writes a benchmark's --json file, with "host" (KVM kind, paging, emulated or not) added. 0 or -errno. */
int bench_json_write(json_t *j, const char *path);

/*
 * --sizes: a comma-separated list of sizes (256M, 1G, ...), each a multiple
 * of 2 MiB within [min, max], at most max_n, into sizes[]. Returns how many,
 * or -EINVAL for an empty list or a bad or extra size.
 */
int bench_parse_sizes(const char *arg, uint64_t min, uint64_t max, uint64_t *sizes, unsigned max_n);

/* Median of n samples (sorts a copy). */
double bench_median(const double *v, size_t n);
/* Percentile p in [0, 100] of n samples, nearest rank (sorts a copy). */
double bench_percentile(const double *v, size_t n, double p);
/* A progress line on stderr when it is a terminal: "\r<label> i/n". */
void bench_progress(const char *label, unsigned i, unsigned n);
void bench_progress_done(void);

/*
 * For benchmarks that drive `thpvm run` processes through their control
 * sockets and read what their guests print (bench_guest.c).
 */
void bench_sleep_ms(unsigned ms);
/* One command on a socket: the result (new reference), or NULL with vmm_last_error(). */
json_t *bench_call(const char *sock, const char *cmd, json_t *args, int timeout_ms);
/* o[a][b] (b may be NULL) as a number, NAN when missing. */
double bench_json_num(json_t *o, const char *a, const char *b);
/* Values of a console's "result NAME=VALUE" lines, in order, at most max; how many. */
unsigned bench_console_values(const char *path, const char *name, double *out, unsigned max);
/*
 * A template VM (bench_template.c): `thpvm run RUN_ARGS --ctl-sock SOCK` of
 * this program in the background, its output in out.
 */
struct bench_template {
	char label[32];             /* for messages: "1 GiB thp", "collapse" */
	char sock[128];
	char out[128];
	pid_t pid;                  /* 0: not running */
};
/*
 * Starts t (label, sock and out set) with run_args (NULL-terminated, after
 * "run") and waits, up to limit_s, until its payload waits for a fork;
 * *stats (may be NULL) gets that last "stats" reply. 0 or -errno with
 * vmm_last_error().
 */
int bench_template_start(struct bench_template *t, const char *const *run_args, unsigned limit_s, json_t **stats);
/* Quits (or kills) the template and reaps it. */
void bench_template_stop(struct bench_template *t);
/*
 * argv (argv[0] found on PATH) run in a process group of its own with stdin
 * /dev/null and stdout+stderr into the file path, killed (the group) after
 * timeout_s: its wait status, or -1 with vmm_last_error().
 */
int bench_run_logged(const char *const *argv, const char *path, unsigned timeout_s);
/* The Linux guest recipe's command line (docs/linux-boot.md): what the benches that boot it start from. */
#define BENCH_LINUX_CMDLINE "console=ttyS0 quiet nokaslr pci=off initcall_blacklist=cmos_init"
/*
 * The Linux guest recipe: dir, else $THPVM_LINUX_GUEST_DIR, else the build
 * tree's guests/linux; its vmlinux and initramfs.cpio paths into kernel and
 * initrd (len bytes each). Returns the directory used.
 */
const char *bench_linux_guest(const char *dir, char *kernel, char *initrd, size_t len);

/* thpvm bench tlb --linux (bench_tlb_linux.c): the Linux guest's matrix, run instead of the payload's. */
int bench_tlb_linux(int argc, char **argv);
/* Waits (up to 2 min) until a process has ended and been reaped by its parent. */
int bench_wait_gone(pid_t pid);

#endif
