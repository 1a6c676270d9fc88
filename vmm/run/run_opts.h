/* SPDX-License-Identifier: MIT */
/* Options of `thpvm run` (and `thpvm stats`, which runs a guest and reports on it). */
#ifndef THPVM_RUN_OPTS_H
#define THPVM_RUN_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <thpvm.h>
#include "machine/machine.h"

struct run_opts {
	/* the guest (machine/machine.h): --payload, --kernel and what goes with each, --memory, --cpus */
	struct machine_config guest;
	enum thpvm_backing backing;     /* --backing, default thp */
	bool prefault;                  /* --prefault */
	bool stats;                     /* --stats: print the report when the guest ends */
	const char *stats_json;         /* --stats-json FILE (stats: --json FILE) */
	uint64_t timeout_ns;            /* --timeout SECONDS, 0 = none */
	struct thpvm_collapse_config collapse; /* --collapse MODE[,key=value...], default balanced */
	const char *collapse_arg;       /* the last --collapse as given (each replaces the whole), passed on to clones */
	const char *ctl_sock;           /* --ctl-sock PATH (or --ctl-sock): the control socket (docs/ctl.md), NULL = none */
	const char *restore;            /* --restore DIR: the guest is the snapshot's (docs/snapshot-format.md) */
	bool restore_shared;            /* --memory-mode shared: guest RAM is the memory files, MAP_PRIVATE */
	unsigned clones;                /* --clones N: N VMs from the snapshot, each its own process (run.h) */
	const char *domain_xml;         /* --domain FILE.xml: the guest, backing, prefault, collapse from libvirt XML */
	bool domain_lenient;            /* --domain-lenient: what thpvm does not do in it is a warning, not a refusal */
	struct domain *domain;          /* what --domain's options point to (vmm/domain/domain.h) */
};

#define RUN_OPTS_USAGE                                                                                  \
	"--payload NAME_OR_PATH [--memory SIZE] [--guest-page 4k|2m] [--backing thp|4k|hugetlb] "       \
	"[--prefault] [--cpus N] [--arg KEY=VALUE ...] [--timeout SECONDS] [--ctl-sock PATH] "            \
	"[--collapse MODE[,KEY=VALUE...]]"

#define RUN_OPTS_RESTORE_USAGE                                                                          \
	"--restore DIR [--memory-mode eager|shared] [--clones N] [--console stdio|file:PATH] [--prefault] "        \
	"[--timeout SECONDS] "                                                                             \
	"[--ctl-sock PATH] "                                                                              \
	"[--collapse MODE[,KEY=VALUE...]]"

#define RUN_OPTS_DOMAIN_USAGE                                                                           \
	"--domain FILE.xml [--domain-lenient] [--timeout SECONDS] [--ctl-sock PATH]"

#define RUN_OPTS_LINUX_USAGE                                                                            \
	"--kernel PATH [--initrd PATH | --module PATH[,STRING] ...] [--cmdline STR] [--rng] "                 \
	"[--disk PATH[,readonly|,snapshot] ...] [--net tap=NAME[,mac=MAC]] "                                \
	"[--console stdio|file:PATH] [--memory SIZE] "                                                    \
	"[--backing thp|4k|hugetlb] [--prefault] [--cpus N] [--timeout SECONDS] [--ctl-sock PATH] "     \
	"[--collapse MODE[,KEY=VALUE...]]"

/* Parses argv; returns 0, or 2 (the exit status for bad input) after printing a one-line error. */
/* What a run gets without options: 256 MiB of THP, 2 MiB guest pages, 1 vCPU, collapse balanced. */
void run_opts_default(struct run_opts *o, const char *cmd);
int run_opts_parse(int argc, char **argv, struct run_opts *o);
/*
 * --domain's reader (vmm/domain/domain.h), set by the commands that take
 * it: run_opts.c is also linked where libvirt is not (the fuzz targets),
 * and there --domain is refused as not built in.
 */
struct domain;
struct run_opts_domain_ops {
	int (*load)(const char *path, bool lenient, struct run_opts *o, struct domain **out);
	void (*free)(struct domain *d);
};
extern const struct run_opts_domain_ops *run_opts_domain;
/* What parsing left for o's strings to point to (--domain); o is not used after. */
void run_opts_release(struct run_opts *o);

#endif
