/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a `thpvm run` command line through its option parser (sizes,
 * counts, --arg KEY=VALUE, --collapse MODE[,key=value...], which guest kind
 * the options describe). The input is the arguments after "run", separated
 * by NUL bytes.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "run/run_opts.h"

static char good_cmd[] = "run", good_opt[] = "--payload", good_val[] = "memtest";
static char *good[] = { good_cmd, good_opt, good_val, NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_MAX_ARGS + 2];
	struct run_opts o;
	int argc = fuzz_argv(data, size, "run", argv), ret;

	run_opts_default(&o, "run");
	ret = run_opts_parse(argc, argv, &o);
	if (!ret) {
		/* what the driver relies on once the options are accepted */
		/* one guest kind: a payload, a kernel, or (--restore) the snapshot's, with nothing describing another */
		if (o.restore)
			FUZZ_CHECK(!o.guest.payload && !o.guest.kernel && !o.guest.initrd && !o.guest.cmdline);
		else
			FUZZ_CHECK(!!o.guest.payload != !!o.guest.kernel);
		FUZZ_CHECK(!o.restore_shared || o.restore);
		FUZZ_CHECK(!o.clones || (o.restore && o.ctl_sock && !o.stats_json && !o.guest.console));
		FUZZ_CHECK(o.guest.memory_bytes && o.guest.memory_bytes % (2ULL << 20) == 0);
		FUZZ_CHECK(o.guest.nr_cpus >= 1 && o.guest.nr_cpus <= PAYLOAD_MAX_CPUS);
		FUZZ_CHECK(o.guest.guest_page_size == 4096 || o.guest.guest_page_size == 2ULL << 20);
	}
	/* a parse leaves nothing behind: a good command line after this one (its arguments still alive) is still good */
	run_opts_default(&o, "run");
	FUZZ_CHECK(run_opts_parse(3, good, &o) == 0);
	fuzz_argv_free(argc, argv);
	return 0;
}
