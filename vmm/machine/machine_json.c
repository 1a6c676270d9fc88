/* SPDX-License-Identifier: MIT */
/*
 * A machine's description in a snapshot (machine.h): what a restore needs to
 * build the same machine again before the saved state goes back in.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "machine.h"
#include "util/error.h"

json_t *machine_config_to_json(const struct machine_config *mc, enum thpvm_backing backing)
{
	char path[PATH_MAX], real[PATH_MAX];
	json_t *j, *args;

	if (mc->kernel) {
		vmm_fail(-EOPNOTSUPP, "a Linux guest cannot be restored yet: snapshots are for payload guests");
		return NULL;
	}
	/* the file itself, found again wherever the restore runs from */
	if (payload_resolve(mc->payload, path, sizeof(path)))
		return NULL;
	if (!realpath(path, real)) {
		vmm_fail(-errno, "payload %s: %s", path, strerror(errno));
		return NULL;
	}
	args = json_array();
	for (unsigned i = 0; args && i < mc->args.nr; i++)
		json_array_append_new(args, json_sprintf("%s=%s", mc->args.args[i].key, mc->args.args[i].str));
	j = json_pack("{s:s, s:I, s:i, s:s, s:s, s:I, s:o*}", "kind", "payload", "memory_bytes",
		      (json_int_t)mc->memory_bytes, "nr_cpus", (int)mc->nr_cpus, "backing", thpvm_backing_str(backing),
		      "payload", real, "guest_page_size", (json_int_t)mc->guest_page_size, "args", args);
	if (!j)
		vmm_fail(-ENOMEM, "out of memory for the machine's description");
	return j;
}

int machine_config_from_json(const json_t *j, struct machine_config *mc, enum thpvm_backing *backing)
{
	const char *kind = NULL, *payload = NULL, *back = NULL;
	json_int_t memory = 0, page = 0;
	json_t *args = NULL, *a;
	json_error_t jerr;
	int nr_cpus = 0;
	size_t i;

	if (json_unpack_ex((json_t *)j, &jerr, 0, "{s:s, s:I, s:i, s:s, s?s, s?I, s?o}", "kind", &kind, "memory_bytes",
			   &memory, "nr_cpus", &nr_cpus, "backing", &back, "payload", &payload, "guest_page_size", &page,
			   "args", &args))
		return vmm_fail(-EINVAL, "the machine's description: %s", jerr.text);
	if (strcmp(kind, "payload") || !payload)
		return vmm_fail(-EINVAL, "the machine's description: kind '%s' cannot be restored (payload guests only)",
				kind);
	if (memory <= 0 || memory % (2LL << 20) || nr_cpus < 1 || nr_cpus > PAYLOAD_MAX_CPUS ||
	    (page != 4096 && page != 2LL << 20))
		return vmm_fail(-EINVAL, "the machine's description: memory %lld, %d vCPUs, guest page %lld: out of range",
				(long long)memory, nr_cpus, (long long)page);
	if (thpvm_backing_parse(back, backing))
		return vmm_fail(-EINVAL, "the machine's description: backing '%s' unknown", back);
	mc->payload = payload;
	mc->kernel = mc->initrd = mc->cmdline = mc->console = NULL;
	mc->memory_bytes = (uint64_t)memory;
	mc->nr_cpus = (unsigned)nr_cpus;
	mc->guest_page_size = (uint64_t)page;
	memset(&mc->args, 0, sizeof(mc->args));
	json_array_foreach(args, i, a) {
		if (!json_is_string(a))
			return vmm_fail(-EINVAL, "the machine's description: argument %zu is not a string", i);
		if (payload_args_add(&mc->args, json_string_value(a)))
			return vmm_fail(-EINVAL, "the machine's description: %s", vmm_last_error());
	}
	return 0;
}
