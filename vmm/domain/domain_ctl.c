/* SPDX-License-Identifier: MIT */
/*
 * The control socket's "domxml" command (docs/ctl.md, docs/libvirt.md):
 * the running VM as libvirt domain XML, what it runs with and what it has
 * now. Its schema sits beside its handler; the run adds the hook.
 */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include "domain.h"
#include "ctl/ctl.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "machine/machine.h"
#include "util/error.h"

/* One VM per process: the command's state is the process's (a forked child carries on with a copy). */
static struct domain_ctl {
	struct domain_desc desc;
	struct vm *vm;
} domain_ctl;

static const struct ctl_arg domxml_args[] = {
	{ .name = "measured", .type = CTL_ARG_BOOL,
	  .help = "add what the VM has now (<thpvm:measured>: coverage, KVM's mappings; default true)" },
	{ 0 },
};

static json_t *h_domxml(void *ctx, json_t *args, struct ctl_error *err)
{
	struct domain_ctl *dc = ctx;
	struct vm_stats_summary m;
	bool measured = ctl_arg_bool(args, "measured", true);
	json_t *res;
	char *xml;

	if (measured && vm_stats_summary(dc->vm, &m))
		return ctl_fail(err, CTL_FAILED, "domxml: %s", vmm_last_error());
	/* a guest XML cannot describe (a payload) is not this VM's fault nor a failure: unsupported */
	if (!(xml = domain_write(&dc->desc, measured ? &m : NULL)))
		return ctl_fail(err, dc->desc.guest->kernel ? CTL_FAILED : CTL_UNSUPPORTED, "domxml: %s",
				vmm_last_error());
	res = json_pack("{s:s}", "xml", xml);
	free(xml);
	return res;
}

const struct ctl_command domain_ctl_command = {
	.name = "domxml",
	.help = "this VM as libvirt domain XML (validated by libvirt; thpvm run --domain runs it again)",
	.args = domxml_args,
	.handler = h_domxml,
};

static int domain_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv)
{
	struct domain_ctl *dc = arg;

	dc->vm = vm;
	return ctl_server_register(srv, &domain_ctl_command, dc);
}

int domain_ctl_attach(struct vm *vm, const struct domain_desc *d)
{
	struct vm_hooks h = { .name = "domxml", .arg = &domain_ctl, .ctl_register = domain_ctl_register };

	domain_ctl.desc = *d;
	domain_ctl.vm = vm;
	return vm_add_hooks(vm, &h);
}
