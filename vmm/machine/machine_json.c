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

/* A file the machine was built from, as an absolute path: found again wherever the restore runs from. */
static json_t *file_json(const char *what, const char *path)
{
	char real[PATH_MAX];

	if (!realpath(path, real)) {
		vmm_fail(-errno, "%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	return json_string(real);
}

/*
 * PATH[,REST] specs (disks with their options, modules with their strings)
 * with each PATH made absolute: found again wherever the restore runs from.
 */
static json_t *specs_json(const char *what, const char *const *specs, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++) {
		const char *comma = strchr(specs[i], ',');
		char path[PATH_MAX], real[PATH_MAX];

		snprintf(path, sizeof(path), "%.*s", comma ? (int)(comma - specs[i]) : (int)strlen(specs[i]), specs[i]);
		if (!realpath(path, real)) {
			vmm_fail(-errno, "%s %s: %s", what, path, strerror(errno));
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_sprintf("%s%s", real, comma ? comma : ""));
	}
	return a;
}

json_t *machine_config_to_json(const struct machine_config *mc, enum thpvm_backing backing)
{
	char path[PATH_MAX];
	json_t *j, *guest;

	j = json_pack("{s:s, s:I, s:i, s:s}", "kind", mc->kernel ? "linux" : "payload", "memory_bytes",
		      (json_int_t)mc->memory_bytes, "nr_cpus", (int)mc->nr_cpus, "backing", thpvm_backing_str(backing));
	if (!j) {
		vmm_fail(-ENOMEM, "out of memory for the machine's description");
		return NULL;
	}
	if (mc->kernel) {
		/* the kernel and initrd are read again to build the machine; their bytes then come from the memory files */
		if (!(guest = file_json("kernel", mc->kernel)) || json_object_set_new(j, "kernel", guest) ||
		    (mc->initrd && (!(guest = file_json("initrd", mc->initrd)) || json_object_set_new(j, "initrd", guest))) ||
		    (mc->cmdline && json_object_set_new(j, "cmdline", json_string(mc->cmdline))) ||
		    (mc->rng && json_object_set_new(j, "rng", json_true())) ||
		    (mc->nr_disks && (!(guest = specs_json("disk", mc->disks, mc->nr_disks)) || json_object_set_new(j, "disks", guest))) ||
		    (mc->nr_modules && (!(guest = specs_json("module", mc->modules, mc->nr_modules)) || json_object_set_new(j, "modules", guest))) ||
		    (mc->net && json_object_set_new(j, "net", json_string(mc->net)))) {
			if (mc->cmdline && !json_string_length(json_object_get(j, "cmdline")) && *mc->cmdline)
				vmm_fail(-EINVAL, "the kernel command line is not valid UTF-8: a snapshot cannot hold it");
			goto fail;
		}
		return j;
	}
	if (payload_resolve(mc->payload, path, sizeof(path)) || !(guest = file_json("payload", path)) ||
	    json_object_set_new(j, "payload", guest) ||
	    json_object_set_new(j, "guest_page_size", json_integer((json_int_t)mc->guest_page_size)) ||
	    !(guest = json_array()) || json_object_set_new(j, "args", guest))
		goto fail;
	for (unsigned i = 0; i < mc->args.nr; i++)
		json_array_append_new(guest, json_sprintf("%s=%s", mc->args.args[i].key, mc->args.args[i].str));
	return j;
fail:
	json_decref(j);
	return NULL;
}

static int from_linux(const json_t *j, struct machine_config *mc)
{
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *net = NULL;
	json_error_t jerr;
	json_t *disks = NULL, *modules = NULL, *d;
	int rng = 0;
	size_t i;

	if (json_unpack_ex((json_t *)j, &jerr, 0, "{s:s, s?s, s?s, s?b, s?o, s?s, s?o}", "kernel", &kernel, "initrd",
			   &initrd, "cmdline", &cmdline, "rng", &rng, "disks", &disks, "net", &net, "modules", &modules))
		return vmm_fail(-EINVAL, "the machine's description: %s", jerr.text);
	if (disks && (!json_is_array(disks) || json_array_size(disks) > MACHINE_MAX_DISKS))
		return vmm_fail(-EINVAL, "the machine's description: disks is not a list of at most %d", MACHINE_MAX_DISKS);
	mc->nr_disks = 0;
	json_array_foreach(disks, i, d) {
		if (!json_is_string(d))
			return vmm_fail(-EINVAL, "the machine's description: disk %zu is not a string", i);
		mc->disks[mc->nr_disks++] = json_string_value(d);
	}
	if (modules && (!json_is_array(modules) || json_array_size(modules) > MACHINE_MAX_MODULES))
		return vmm_fail(-EINVAL, "the machine's description: modules is not a list of at most %d",
				MACHINE_MAX_MODULES);
	mc->nr_modules = 0;
	json_array_foreach(modules, i, d) {
		if (!json_is_string(d))
			return vmm_fail(-EINVAL, "the machine's description: module %zu is not a string", i);
		mc->modules[mc->nr_modules++] = json_string_value(d);
	}
	mc->payload = NULL;
	mc->kernel = kernel;
	mc->initrd = initrd;
	mc->cmdline = cmdline;
	mc->rng = rng;
	mc->net = net;
	mc->guest_page_size = 2ULL << 20;
	return 0;
}

static int from_payload(const json_t *j, struct machine_config *mc)
{
	const char *payload = NULL;
	json_int_t page = 0;
	json_t *args = NULL, *a;
	json_error_t jerr;
	size_t i;

	if (json_unpack_ex((json_t *)j, &jerr, 0, "{s:s, s:I, s?o}", "payload", &payload, "guest_page_size", &page,
			   "args", &args))
		return vmm_fail(-EINVAL, "the machine's description: %s", jerr.text);
	if (page != 4096 && page != 2LL << 20)
		return vmm_fail(-EINVAL, "the machine's description: guest page size %lld", (long long)page);
	mc->payload = payload;
	mc->kernel = mc->initrd = mc->cmdline = NULL;
	mc->rng = false;
	mc->nr_disks = 0;
	mc->nr_modules = 0;
	mc->net = NULL;
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

int machine_config_from_json(const json_t *j, struct machine_config *mc, enum thpvm_backing *backing)
{
	const char *kind = NULL, *back = NULL;
	json_int_t memory = 0;
	json_error_t jerr;
	int nr_cpus = 0;

	if (json_unpack_ex((json_t *)j, &jerr, 0, "{s:s, s:I, s:i, s:s}", "kind", &kind, "memory_bytes", &memory,
			   "nr_cpus", &nr_cpus, "backing", &back))
		return vmm_fail(-EINVAL, "the machine's description: %s", jerr.text);
	if (memory <= 0 || memory % (2LL << 20) || nr_cpus < 1 || nr_cpus > PAYLOAD_MAX_CPUS)
		return vmm_fail(-EINVAL, "the machine's description: memory %lld, %d vCPUs: out of range", (long long)memory,
				nr_cpus);
	if (thpvm_backing_parse(back, backing))
		return vmm_fail(-EINVAL, "the machine's description: backing '%s' unknown", back);
	mc->memory_bytes = (uint64_t)memory;
	mc->nr_cpus = (unsigned)nr_cpus;
	if (!strcmp(kind, "linux"))
		return from_linux(j, mc);
	if (!strcmp(kind, "payload"))
		return from_payload(j, mc);
	return vmm_fail(-EINVAL, "the machine's description: kind '%s' (payload or linux)", kind);
}
