/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <string.h>
#include "run/run_opts.h"
#include "util/util.h"
#include "util/error.h"
#include "util/opts.h"
#include "kvm/vm.h"
#include "dev/console.h"
#include "collapse/collapse_vm.h"
#include "run/run.h"
#include "domain/domain.h"

const struct run_opts_domain_ops *run_opts_domain;

enum { O_PAYLOAD = 256, O_MEMORY, O_GUEST_PAGE, O_BACKING, O_PREFAULT, O_CPUS, O_ARG, O_STATS, O_STATS_JSON, O_TIMEOUT,
       O_CTL_SOCK, O_COLLAPSE };
enum { O_KERNEL = 512, O_INITRD, O_CMDLINE, O_RNG, O_DISK, O_NET, O_MODULE, O_CONSOLE }; /* Linux and multiboot guests */
enum { O_RESTORE = 768, O_MEMORY_MODE, O_CLONES };
enum { O_DOMAIN = 1024, O_DOMAIN_LENIENT };

/* Which guest the options describe: a payload or a Linux kernel, never both, each with its own options. */
static int check_guest_kind(const struct run_opts *o, bool guest_page_given, const char *guest_option)
{
	struct console_config cc;
	const char *cmd = o->guest.cmd;

	/* a snapshot is a whole guest: nothing on the command line may describe it differently */
	if (o->restore) {
		if (guest_option) {
			cli_error("%s: --%s and --restore exclude each other (a restored guest is the snapshot's)", cmd,
				  guest_option);
			return 2;
		}
		if (o->guest.console && console_parse(o->guest.console, &cc)) {
			cli_error("%s: %s", cmd, vmm_last_error());
			return 2;
		}
		return 0;
	}
	if (o->guest.payload && o->guest.kernel) {
		cli_error("%s: --payload and --kernel exclude each other (a payload guest or a Linux guest)", cmd);
		return 2;
	}
	if (!o->guest.payload && !o->guest.kernel) {
		cli_error("%s: --payload NAME_OR_PATH is required (built-in payloads: tlbbench, memtest, selftest), "
			  "or --kernel PATH for a Linux guest", cmd);
		return 2;
	}
	if (o->guest.kernel) {
		if (guest_page_given || o->guest.args.nr) {
			cli_error("%s: %s is for payload guests (a Linux guest takes --cmdline)", cmd,
				  o->guest.args.nr ? "--arg" : "--guest-page");
			return 2;
		}
		if (o->guest.console && console_parse(o->guest.console, &cc)) {
			cli_error("%s: %s", cmd, vmm_last_error());
			return 2;
		}
		return 0;
	}
	if (o->guest.initrd || o->guest.cmdline || o->guest.console || o->guest.rng || o->guest.nr_disks ||
	    o->guest.net || o->guest.nr_modules) {
		cli_error("%s: %s needs --kernel (it is for Linux guests)", cmd,
			  o->guest.initrd       ? "--initrd"
			  : o->guest.cmdline    ? "--cmdline"
			  : o->guest.rng        ? "--rng"
			  : o->guest.nr_disks   ? "--disk"
			  : o->guest.net        ? "--net"
			  : o->guest.nr_modules ? "--module"
						: "--console");
		return 2;
	}
	return 0;
}

/*
 * --domain FILE.xml: the XML is the whole guest (docs/libvirt.md), so no
 * option may describe it again; read before anything runs (status 2).
 */
static int read_domain(struct run_opts *o, const char *guest_option)
{
	const char *cmd = o->guest.cmd;
	const char *other = guest_option         ? guest_option
			    : o->restore         ? "restore"
			    : o->guest.console   ? "console"
			    : o->prefault        ? "prefault"
			    : o->collapse_arg    ? "collapse"
			    : o->clones          ? "clones"
						 : NULL;

	if (!o->domain_xml) {
		if (o->domain_lenient) {
			cli_error("%s: --domain-lenient needs --domain FILE.xml", cmd);
			return 2;
		}
		return 0;
	}
	if (other) {
		cli_error("%s: --%s and --domain exclude each other (the domain XML describes the whole guest: "
			  "docs/libvirt.md)", cmd, other);
		return 2;
	}
	if (!run_opts_domain) {
		cli_error("%s: --domain: not built into this program (thpvm run and thpvm stats take it)", cmd);
		return 2;
	}
	if (run_opts_domain->load(o->domain_xml, o->domain_lenient, o, &o->domain)) {
		cli_error("%s: %s", cmd, vmm_last_error());
		return 2;
	}
	for (unsigned i = 0; i < o->domain->nr_warnings; i++)
		cli_error("warning: %s: %s; left out (--domain-lenient)", cmd, o->domain->warnings[i]);
	return 0;
}

void run_opts_release(struct run_opts *o)
{
	if (o->domain && run_opts_domain)
		run_opts_domain->free(o->domain);
	o->domain = NULL;
}

void run_opts_default(struct run_opts *o, const char *cmd)
{
	memset(o, 0, sizeof(*o));
	o->guest.cmd = cmd;
	o->guest.memory_bytes = 256ULL << 20;
	o->guest.guest_page_size = 2ULL << 20;
	o->backing = THPVM_BACKING_THP;
	o->guest.nr_cpus = 1;
	thpvm_collapse_config_default(&o->collapse);
}

int run_opts_parse(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "payload", required_argument, NULL, O_PAYLOAD },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "guest-page", required_argument, NULL, O_GUEST_PAGE },
		{ "backing", required_argument, NULL, O_BACKING },
		{ "prefault", no_argument, NULL, O_PREFAULT },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "arg", required_argument, NULL, O_ARG },
		{ "stats", no_argument, NULL, O_STATS },
		{ "stats-json", required_argument, NULL, O_STATS_JSON },
		{ "json", required_argument, NULL, O_STATS_JSON },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "collapse", required_argument, NULL, O_COLLAPSE },
		{ "ctl-sock", required_argument, NULL, O_CTL_SOCK },
		{ "api-sock", required_argument, NULL, O_CTL_SOCK }, /* its first name, still accepted */
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "rng", no_argument, NULL, O_RNG },
		{ "disk", required_argument, NULL, O_DISK },
		{ "net", required_argument, NULL, O_NET },
		{ "module", required_argument, NULL, O_MODULE },
		{ "console", required_argument, NULL, O_CONSOLE },
		{ "restore", required_argument, NULL, O_RESTORE },
		{ "memory-mode", required_argument, NULL, O_MEMORY_MODE },
		{ "clones", required_argument, NULL, O_CLONES },
		{ "domain", required_argument, NULL, O_DOMAIN },
		{ "domain-lenient", no_argument, NULL, O_DOMAIN_LENIENT },
		{ 0 },
	};
	const char *cmd = o->guest.cmd, *guest_option = NULL;
	bool guest_page_given = false, memory_mode_given = false;
	uint64_t v;
	int c;

	run_opts_default(o, cmd);
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		/* the options that describe the guest, which a snapshot brings itself */
		if (!guest_option && ((c >= O_PAYLOAD && c <= O_ARG && c != O_PREFAULT) || (c >= O_KERNEL && c < O_CONSOLE)))
			for (const struct option *op = opts; op->name && !guest_option; op++)
				if (op->val == c)
					guest_option = op->name;
		switch (c) {
		case O_PAYLOAD:
			o->guest.payload = optarg;
			break;
		case O_MEMORY:
			if (parse_size(optarg, &o->guest.memory_bytes) || !o->guest.memory_bytes || o->guest.memory_bytes % (2ULL << 20)) {
				cli_error("%s: --memory '%s': expected a non-zero multiple of 2 MiB, e.g. 256M or 1G", cmd,
					  optarg);
				return 2;
			}
			break;
		case O_GUEST_PAGE:
			guest_page_given = true;
			if (!strcmp(optarg, "4k") || !strcmp(optarg, "4K")) {
				o->guest.guest_page_size = 4096;
			} else if (!strcmp(optarg, "2m") || !strcmp(optarg, "2M")) {
				o->guest.guest_page_size = 2ULL << 20;
			} else {
				cli_error("%s: --guest-page '%s': expected 4k or 2m", cmd, optarg);
				return 2;
			}
			break;
		case O_BACKING:
			if (thpvm_backing_parse(optarg, &o->backing)) {
				cli_error("%s: --backing '%s': expected thp, 4k or hugetlb", cmd, optarg);
				return 2;
			}
			break;
		case O_PREFAULT:
			o->prefault = true;
			break;
		case O_CPUS:
			if (parse_uint(optarg, 1, PAYLOAD_MAX_CPUS, &v)) {
				cli_error("%s: --cpus '%s': expected 1..%d", cmd, optarg, PAYLOAD_MAX_CPUS);
				return 2;
			}
			o->guest.nr_cpus = (unsigned)v;
			break;
		case O_ARG:
			if (payload_args_add(&o->guest.args, optarg)) {
				cli_error("%s: %s", cmd, vmm_last_error());
				return 2;
			}
			break;
		case O_STATS:
			o->stats = true;
			break;
		case O_STATS_JSON:
			o->stats_json = optarg;
			break;
		case O_TIMEOUT:
			if (parse_uint(optarg, 0, 1000000, &v)) {
				cli_error("%s: --timeout '%s': expected seconds, 0-1000000", cmd, optarg);
				return 2;
			}
			o->timeout_ns = v * 1000000000ULL;
			break;
		case O_COLLAPSE:
			if (collapse_vm_parse(optarg, &o->collapse)) {
				cli_error("%s: --collapse '%s': %s", cmd, optarg, vmm_last_error());
				return 2;
			}
			o->collapse_arg = optarg;
			break;
		case O_CTL_SOCK:
			o->ctl_sock = optarg;
			break;
		case O_KERNEL:
			o->guest.kernel = optarg;
			break;
		case O_INITRD:
			o->guest.initrd = optarg;
			break;
		case O_CMDLINE:
			o->guest.cmdline = optarg;
			break;
		case O_RNG:
			o->guest.rng = true;
			break;
		case O_DISK:
			if (o->guest.nr_disks == MACHINE_MAX_DISKS) {
				cli_error("%s: --disk '%s': at most %d disks", cmd, optarg, MACHINE_MAX_DISKS);
				return 2;
			}
			o->guest.disks[o->guest.nr_disks++] = optarg;
			break;
		case O_NET:
			if (o->guest.net) {
				cli_error("%s: --net '%s': one network device at most (--net given twice)", cmd, optarg);
				return 2;
			}
			o->guest.net = optarg;
			break;
		case O_MODULE:
			if (!*optarg || *optarg == ',') {
				cli_error("%s: --module '%s': expected PATH[,STRING]", cmd, optarg);
				return 2;
			}
			if (o->guest.nr_modules == MACHINE_MAX_MODULES) {
				cli_error("%s: --module '%s': at most %d modules", cmd, optarg, MACHINE_MAX_MODULES);
				return 2;
			}
			o->guest.modules[o->guest.nr_modules++] = optarg;
			break;
		case O_CONSOLE:
			o->guest.console = optarg;
			break;
		case O_RESTORE:
			o->restore = optarg;
			break;
		case O_MEMORY_MODE:
			if (strcmp(optarg, "eager") && strcmp(optarg, "shared")) {
				cli_error("%s: --memory-mode '%s': expected eager or shared", cmd, optarg);
				return 2;
			}
			o->restore_shared = !strcmp(optarg, "shared");
			memory_mode_given = true;
			break;
		case O_CLONES:
			if (parse_uint(optarg, 1, RUN_MAX_CLONES, &v)) {
				cli_error("%s: --clones '%s': expected 1..%d", cmd, optarg, RUN_MAX_CLONES);
				return 2;
			}
			o->clones = (unsigned)v;
			break;
		case O_DOMAIN:
			o->domain_xml = optarg;
			break;
		case O_DOMAIN_LENIENT:
			o->domain_lenient = true;
			break;
		default:
			return opt_bad(cmd, c, argv);
		}
	}
	if (opt_rest(cmd, argc, argv))
		return 2;
	if (read_domain(o, guest_option))
		return 2;
	if (o->restore_shared && o->prefault) {
		cli_error("%s: --prefault would read every memory file into guest RAM: not with --memory-mode shared", cmd);
		return 2;
	}
	if (memory_mode_given && !o->restore) {
		cli_error("%s: --memory-mode needs --restore (it says how a snapshot's memory comes back)", cmd);
		return 2;
	}
	/* each clone's socket and console file are named after --ctl-sock; one report file would be every clone's */
	if (o->clones && (!o->restore || !o->ctl_sock)) {
		cli_error("%s: --clones needs --restore and --ctl-sock (clone N's socket is SOCK.N)", cmd);
		return 2;
	}
	if (o->clones && (o->stats_json || o->guest.console)) {
		cli_error("%s: --clones takes no %s", cmd,
			  o->stats_json ? "--stats-json (one file for every clone)" : "--console (clone N's is SOCK.N.console)");
		return 2;
	}
	return check_guest_kind(o, guest_page_given, guest_option);
}
