/* SPDX-License-Identifier: MIT */
/*
 * thpvm run --domain (vmm/domain/, docs/libvirt.md): domain XML snippets
 * through the real libvirt (its test driver, in this process) and libxml2
 * onto the run's options, or the exact one-line refusal with its XPath;
 * --domain-lenient's warnings; and back: command lines written as domain XML
 * (libvirt validating it) that read back to the same options, what XML
 * cannot say refused. No KVM: nothing runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "run/run_opts.h"
#include "domain/domain.h"
#include "dev/virtio_net.h"
#include "kvm/vm_stats.h"
#include "util/error.h"

static struct run_opts o;
static struct domain *dom;

static void fini(void)
{
	domain_free(dom);
	dom = NULL;
}

TestSuite(domain, .fini = fini);

/* body in a domain with 64 MiB and on_reboot destroy; a kernel /k when body has no <os>. Returns domain_parse()'s. */
static int parse(const char *body, bool lenient)
{
	const char *devices = strstr(body, "<devices>");
	int head = devices ? (int)(devices - body) : (int)strlen(body);
	char xml[8192];

	/* libxml2's schema validator wants the <on_*> elements after the others, before <devices> */
	snprintf(xml, sizeof(xml),
		 "<domain type='kvm'><name>t</name><memory unit='MiB'>64</memory>%s%.*s<on_reboot>destroy</on_reboot>"
		 "%s</domain>",
		 strstr(body, "<os") ? "" : "<os><type arch='x86_64'>hvm</type><kernel>/k</kernel></os>", head, body,
		 body + head);
	domain_free(dom);
	dom = NULL;
	run_opts_default(&o, "run");
	vmm_clear_error();
	return domain_parse(xml, "t.xml", lenient, &o, &dom);
}

/* A whole domain XML onto o, as thpvm run --domain reads it. */
static int parse_xml(const char *xml)
{
	domain_free(dom);
	dom = NULL;
	run_opts_default(&o, "run");
	vmm_clear_error();
	return domain_parse(xml, "t.xml", false, &o, &dom);
}

Test(domain, a_minimal_domain_is_a_kernel_on_thp)
{
	cr_assert_eq(parse("", false), 0, "%s", vmm_last_error());
	cr_assert_str_eq(o.guest.kernel, "/k");
	cr_assert_null(o.guest.initrd);
	cr_assert_null(o.guest.cmdline);
	cr_assert_eq(o.guest.memory_bytes, 64ULL << 20);
	cr_assert_eq(o.guest.nr_cpus, 1);
	cr_assert_eq(o.backing, THPVM_BACKING_THP);
	cr_assert(!o.prefault);
	cr_assert_null(o.guest.console, "no <serial>: the default console");
	cr_assert_eq(o.guest.nr_disks, 0);
	cr_assert_null(o.guest.net);
	cr_assert(!o.guest.rng);
	cr_assert_str_eq(dom->name, "t");
	cr_assert_eq(strlen(dom->uuid), 36, "libvirt made a uuid: %s", dom->uuid);
	cr_assert_eq(dom->nr_warnings, 0);
}

Test(domain, every_mapped_element_lands_in_the_options)
{
	const char *body =
		"<currentMemory unit='KiB'>65536</currentMemory>"
		"<vcpu placement='static'>3</vcpu>"
		"<metadata><thpvm:thpvm xmlns:thpvm='https://thpvm.dev/xmlns/domain/1'>"
		"<thpvm:collapse mode='tlb' delay_ms='700'/></thpvm:thpvm>"
		"<other:app xmlns:other='https://example.org/x'><other:x/></other:app></metadata>"
		"<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages><source type='anonymous'/>"
		"<access mode='private'/><allocation mode='immediate' threads='1'/><discard/><nosharepages/>"
		"</memoryBacking>"
		"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/boot/vmlinux</kernel><initrd>/boot/initrd</initrd>"
		"<cmdline>console=ttyS0 root=/dev/vda</cmdline></os>"
		"<features><acpi/><apic/></features><clock offset='utc'/>"
		"<devices><emulator>/usr/bin/thpvm</emulator>"
		"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/img/b.img'/>"
		"<target dev='vdb' bus='virtio'/><readonly/></disk>"
		"<disk type='file' device='disk'><source file='/img/a.img'/><target dev='vda' bus='virtio'/></disk>"
		"<disk type='block' device='disk'><source dev='/dev/loop7'/><target dev='vdc' bus='virtio'/><transient/>"
		"</disk>"
		"<interface type='ethernet'><mac address='52:54:00:12:34:56'/><target dev='tap7'/>"
		"<model type='virtio'/></interface>"
		"<serial type='file'><source path='/tmp/c.log'/></serial>"
		"<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
		"<controller type='usb' model='none'/><memballoon model='none'/></devices>";

	cr_assert_eq(parse(body, false), 0, "%s", vmm_last_error());
	cr_assert_eq(o.guest.nr_cpus, 3);
	cr_assert_eq(o.collapse.mode, THPVM_COLLAPSE_MODE_TLB);
	cr_assert_eq(o.collapse.delay_ms, 700);
	cr_assert_str_eq(o.collapse_arg, "tlb,delay_ms=700");
	cr_assert_eq(o.backing, THPVM_BACKING_HUGETLB);
	cr_assert(o.prefault);
	cr_assert_str_eq(o.guest.kernel, "/boot/vmlinux");
	cr_assert_str_eq(o.guest.initrd, "/boot/initrd");
	cr_assert_str_eq(o.guest.cmdline, "console=ttyS0 root=/dev/vda");
	/* in target order, not the document's */
	cr_assert_eq(o.guest.nr_disks, 3);
	cr_assert_str_eq(o.guest.disks[0], "/img/a.img");
	cr_assert_str_eq(o.guest.disks[1], "/img/b.img,readonly");
	cr_assert_str_eq(o.guest.disks[2], "/dev/loop7,snapshot");
	cr_assert_str_eq(o.guest.net, "tap=tap7,mac=52:54:00:12:34:56");
	cr_assert_str_eq(o.guest.console, "file:/tmp/c.log");
	cr_assert(o.guest.rng);
	cr_assert_eq(dom->nr_warnings, 0);
}

Test(domain, stdio_serial_and_thpvm_backings)
{
	cr_assert_eq(parse("<devices><serial type='stdio'/></devices>", false), 0, "%s", vmm_last_error());
	cr_assert_str_eq(o.guest.console, "stdio");
	cr_assert_eq(parse("<metadata><thpvm:thpvm xmlns:thpvm='https://thpvm.dev/xmlns/domain/1'>"
			   "<thpvm:backing type='4k'/></thpvm:thpvm></metadata>",
			   false),
		     0, "%s", vmm_last_error());
	cr_assert_eq(o.backing, THPVM_BACKING_4K);
	cr_assert_eq(parse("<memoryBacking><allocation mode='ondemand'/></memoryBacking>", false), 0, "%s",
		     vmm_last_error());
	cr_assert(!o.prefault);
}

static const struct {
	const char *body, *msg;
} refused[] = {
	{ "<currentMemory unit='MiB'>32</currentMemory>",
	  "t.xml: /domain/currentMemory: 32768 KiB is not <memory>'s 65536 KiB: thpvm has no balloon, the guest gets all "
	  "of <memory>" },
	{ "<os><type>hvm</type><loader>/usr/share/OVMF/OVMF_CODE.fd</loader><kernel>/k</kernel></os>",
	  "t.xml: /domain/os/loader: thpvm boots a kernel directly (<kernel>), without firmware" },
	{ "<os><type>hvm</type></os>",
	  "t.xml: /domain/os: no <kernel>: thpvm boots a kernel directly (bzImage or PVH vmlinux), without firmware" },
	{ "<os><type>hvm</type><kernel>/k</kernel><boot dev='cdrom'/></os>",
	  "t.xml: /domain/os/boot: thpvm boots the kernel <os><kernel> names directly, from no boot device" },
	{ "<vcpu placement='auto'>2</vcpu>",
	  "t.xml: /domain/vcpu/@placement: 'auto': thpvm places vCPU threads statically (no numad)" },
	{ "<memoryBacking><allocation mode='immediate' threads='4'/></memoryBacking>",
	  "t.xml: /domain/memoryBacking/allocation/@threads: 4: thpvm prefaults on one thread" },
	{ "<memoryBacking><locked/></memoryBacking>",
	  "t.xml: /domain/memoryBacking/locked: thpvm does not lock guest RAM (no mlock): the host may swap 4 KiB parts "
	  "of it" },
	{ "<memoryBacking><source type='memfd'/></memoryBacking>",
	  "t.xml: /domain/memoryBacking/source/@type: 'memfd': thpvm's guest RAM is anonymous memory (on THP, or hugetlb "
	  "with <hugepages/>)" },
	{ "<on_poweroff>destroy</on_poweroff><on_crash>restart</on_crash>",
	  "t.xml: /domain/on_crash: 'restart': only destroy: thpvm ends when the guest crashes" },
	{ "<devices><serial type='pty'/></devices>",
	  "t.xml: /domain/devices/serial: type 'pty': thpvm's console is stdio or a file (type='stdio' or type='file')" },
	{ "<devices><disk type='file' device='cdrom'><source file='/x.iso'/><target dev='hdc' bus='ide'/></disk>"
	  "</devices>",
	  "t.xml: /domain/devices/disk: device 'cdrom': thpvm's disks are virtio-blk disks (device='disk')" },
	{ "<devices><disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk>"
	  "<disk type='file' device='disk'><source file='/c'/><target dev='vdc'/></disk></devices>",
	  "t.xml: /domain/devices/disk[2]/target/@dev: vdc without vdb: thpvm's disks are vda, vdb, ... with no gap" },
	{ "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/a'/>"
	  "<target dev='vda'/></disk></devices>",
	  "t.xml: /domain/devices/disk/driver/@type: 'qcow2': thpvm's disks are raw images" },
	{ "<devices><disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/><source file='/a'/>"
	  "<target dev='vda'/></disk></devices>",
	  "t.xml: /domain/devices/disk/driver/@cache: thpvm does not implement it (docs/libvirt.md: what thpvm maps, "
	  "what it leaves harmlessly)" },
	{ "<devices><interface type='network'><source network='default'/></interface></devices>",
	  "t.xml: /domain/devices/interface: type 'network': thpvm attaches its network device to a tap it names "
	  "(type='ethernet' with <target dev='TAP'/>)" },
	{ "<devices><graphics type='vnc'/></devices>",
	  "t.xml: /domain/devices/graphics: thpvm has no display: its console is COM1 (<serial>)" },
	{ "<devices><memballoon model='virtio'/></devices>",
	  "t.xml: /domain/devices/memballoon: thpvm has no balloon (model='none' says so)" },
	{ "<metadata><thpvm:thpvm xmlns:thpvm='https://thpvm.dev/xmlns/domain/1'><thpvm:frob/></thpvm:thpvm>"
	  "</metadata>",
	  "t.xml: /domain/metadata/thpvm:thpvm/thpvm:frob: thpvm does not implement it (docs/libvirt.md: what thpvm "
	  "maps, what it leaves harmlessly)" },
	{ "<metadata><thpvm:thpvm xmlns:thpvm='https://thpvm.dev/xmlns/domain/1'><thpvm:collapse mode='tlb' "
	  "frob='1'/></thpvm:thpvm></metadata>",
	  NULL /* collapse_vm_parse()'s own words: checked for the XPath only */ },
	{ "<features><acpi/><hyperv mode='custom'><relaxed state='on'/></hyperv></features>",
	  "t.xml: /domain/features/hyperv: thpvm does not implement it (docs/libvirt.md: what thpvm maps, what it "
	  "leaves harmlessly)" },
};

Test(domain, what_thpvm_does_not_do_is_refused_with_its_xpath)
{
	for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int ret = parse(refused[i].body, false);

		cr_assert_lt(ret, 0, "%s: accepted", refused[i].body);
		cr_assert_null(strchr(vmm_last_error(), '\n'), "one line: %s", vmm_last_error());
		if (refused[i].msg)
			cr_assert_str_eq(vmm_last_error(), refused[i].msg, "%s", refused[i].body);
		else
			cr_assert(!strncmp(vmm_last_error(), "t.xml: /domain/metadata/thpvm:thpvm/thpvm:collapse: ", 51),
				  "%s", vmm_last_error());
	}
}

Test(domain, libvirt_refuses_what_is_not_a_domain_in_one_line)
{
	cr_assert_lt(parse("<memory unit='MiB'>abc</memory>", false), 0);
	cr_assert(strstr(vmm_last_error(), "t.xml: libvirt refused it: XML document failed to validate against schema"),
		  "%s", vmm_last_error());
	cr_assert_null(strchr(vmm_last_error(), '\n'), "%s", vmm_last_error());
	cr_assert_lt(parse("<frob>", false), 0);
	cr_assert(strstr(vmm_last_error(), "t.xml: libvirt refused it: "), "%s", vmm_last_error());
	cr_assert_null(strchr(vmm_last_error(), '\n'), "%s", vmm_last_error());
	/* a name the test driver has itself ("test") is still a name */
	domain_free(dom);
	dom = NULL;
	run_opts_default(&o, "run");
	cr_assert_eq(domain_parse("<domain type='kvm'><name>test</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
				  "<memory unit='MiB'>2</memory>"
				  "<on_reboot>destroy</on_reboot><os><type>hvm</type><kernel>/k</kernel></os></domain>",
				  "t.xml", false, &o, &dom),
		     0, "%s", vmm_last_error());
	cr_assert_str_eq(dom->name, "test");
	cr_assert_str_eq(dom->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
}

Test(domain, lenient_mode_warns_once_per_refusal_and_leaves_it_out)
{
	cr_assert_eq(parse("<devices><graphics type='vnc'/><video><model type='vga'/></video>"
			   "<interface type='network'><source network='default'/></interface>"
			   "<disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk></devices>",
			   true),
		     0, "%s", vmm_last_error());
	cr_assert_eq(dom->nr_warnings, 3);
	cr_assert_str_eq(dom->warnings[0], "t.xml: /domain/devices/interface: type 'network': thpvm attaches its network "
					   "device to a tap it names (type='ethernet' with <target dev='TAP'/>)");
	cr_assert_str_eq(dom->warnings[1], "t.xml: /domain/devices/graphics: thpvm has no display: its console is COM1 "
					   "(<serial>)");
	cr_assert(strstr(dom->warnings[2], "t.xml: /domain/devices/video: "), "%s", dom->warnings[2]);
	cr_assert_null(o.guest.net, "the refused interface is left out");
	cr_assert_eq(o.guest.nr_disks, 1);
	/* what cannot run is refused in lenient mode too */
	cr_assert_lt(parse("<os><type>hvm</type></os>", true), 0);
}

Test(domain, bad_files_are_named)
{
	struct domain *d = NULL;

	run_opts_default(&o, "run");
	cr_assert_eq(domain_load("/nonexistent/d.xml", false, &o, &d), -ENOENT);
	cr_assert_str_eq(vmm_last_error(), "/nonexistent/d.xml: No such file or directory");
	domain_free(d);
}

/* ---- the other direction: thpvm domxml, the control socket's domxml (domain_write.c) ---- */

/* argv (after the command) through `thpvm run`'s own parser, as thpvm domxml reads it */
static void parse_args(const char *const *args, struct run_opts *out)
{
	char *argv[32] = { (char *)"domxml" };
	int argc = 1;

	while (args[argc - 1])
		argv[argc] = (char *)args[argc - 1], argc++;
	run_opts_default(out, "domxml");
	cr_assert_eq(run_opts_parse(argc, argv, out), 0, "%s", args[0]);
}

static char *write_opts(const struct run_opts *a, const char *name, const char *uuid)
{
	struct domain_desc d = { .guest = &a->guest, .backing = a->backing, .prefault = a->prefault,
				 .collapse_arg = a->collapse_arg, .name = name, .uuid = uuid };

	vmm_clear_error();
	return domain_write(&d, NULL);
}

static void same_str(const char *a, const char *b, const char *what)
{
	cr_assert((!a && !b) || (a && b && !strcmp(a, b)), "%s: '%s' became '%s'", what, a ? a : "(none)",
		  b ? b : "(none)");
}

/* The network device the guest gets: the tap and the MAC (the one --net derives when it names none). */
static void same_net(const char *a, const char *b)
{
	struct virtio_net_config ca, cb;
	char na[IFNAMSIZ], nb[IFNAMSIZ];

	cr_assert_eq(!a, !b, "--net '%s' became '%s'", a ? a : "(none)", b ? b : "(none)");
	if (!a)
		return;
	cr_assert_eq(virtio_net_parse(a, &ca, na), 0);
	cr_assert_eq(virtio_net_parse(b, &cb, nb), 0);
	cr_assert_str_eq(na, nb);
	cr_assert_eq(memcmp(ca.mac, cb.mac, 6), 0, "--net '%s' became '%s'", a, b);
}

/* Command lines as users write them: each becomes XML libvirt accepts, and that XML runs the same guest. */
static const char *const round_trips[][24] = {
	{ "--kernel", "/boot/vmlinuz", NULL },
	{ "--kernel", "/k", "--initrd", "/i.cpio", "--cmdline", "console=ttyS0 quiet x=\"a b\" <&>'", "--memory", "1G",
	  "--cpus", "4", NULL },
	{ "--kernel", "/k", "--backing", "hugetlb", "--prefault", NULL },
	{ "--kernel", "/k", "--backing", "4k", "--collapse", "density,private=300,interval_ms=50", NULL },
	{ "--kernel", "/k", "--collapse", "off", "--backing", "thp", NULL },
	{ "--kernel", "/k", "--disk", "/img/a disk.img", "--disk", "/img/b.img,readonly", "--disk", "/img/c.img,snapshot",
	  "--net", "tap=tap7", "--rng", "--console", "file:/tmp/c.log", NULL },
	{ "--kernel", "/k", "--net", "tap=t0,mac=52:54:00:01:02:03", "--console", "stdio", NULL },
};

Test(domain, a_command_line_round_trips_through_domain_xml)
{
	for (unsigned i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
		struct run_opts a;
		char *xml, *again;

		parse_args(round_trips[i], &a);
		xml = write_opts(&a, NULL, NULL);
		cr_assert_not_null(xml, "case %u: %s", i, vmm_last_error());
		cr_assert_eq(parse_xml(xml), 0, "case %u: %s\n%s", i, vmm_last_error(), xml);
		cr_assert_eq(dom->nr_warnings, 0, "case %u", i);
		cr_assert_str_eq(dom->name, "thpvm");
		same_str(a.guest.kernel, o.guest.kernel, "kernel");
		same_str(a.guest.initrd, o.guest.initrd, "initrd");
		same_str(a.guest.cmdline, o.guest.cmdline, "cmdline");
		same_str(a.guest.console, o.guest.console, "console");
		cr_assert_eq(a.guest.memory_bytes, o.guest.memory_bytes, "case %u", i);
		cr_assert_eq(a.guest.nr_cpus, o.guest.nr_cpus, "case %u", i);
		cr_assert_eq(a.backing, o.backing, "case %u", i);
		cr_assert_eq(a.prefault, o.prefault, "case %u", i);
		cr_assert_eq(memcmp(&a.collapse, &o.collapse, sizeof(a.collapse)), 0, "case %u: collapse '%s' -> '%s'", i,
			     a.collapse_arg ? a.collapse_arg : "(default)", o.collapse_arg ? o.collapse_arg : "(default)");
		cr_assert_eq(a.guest.rng, o.guest.rng, "case %u", i);
		cr_assert_eq(a.guest.nr_disks, o.guest.nr_disks, "case %u", i);
		for (unsigned k = 0; k < a.guest.nr_disks; k++)
			same_str(a.guest.disks[k], o.guest.disks[k], "disk");
		same_net(a.guest.net, o.guest.net);
		/* and back again: the same XML (libvirt gave the domain a uuid, kept when written back) */
		again = write_opts(&o, dom->name, NULL);
		cr_assert_not_null(again, "%s", vmm_last_error());
		cr_assert_str_eq(again, xml, "case %u: written twice differently", i);
		free(again);
		free(xml);
	}
}

/* What domain XML cannot say is refused with one line naming the option; so is what libvirt refuses. */
Test(domain, what_domain_xml_cannot_say_is_refused)
{
	static const struct {
		const char *args[8];
		const char *msg;
	} cases[] = {
		{ { "--payload", "memtest", NULL },
		  "a payload guest (--payload memtest) has no domain XML: libvirt's <os> boots a kernel (--kernel)" },
		{ { "--kernel", "/mb.elf", "--module", "/m.bin,arg", NULL },
		  "--module /m.bin,arg: libvirt's domain XML has no multiboot modules" },
		{ { "--kernel", "/k", "--collapse", "private=300,density", NULL },
		  "--collapse 'private=300,density': not one mode and its keys (write the mode first)" },
		{ { "--kernel", "/k", "--cmdline", "a\001b", NULL }, "PCDATA invalid Char value 1" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_opts a;

		parse_args(cases[i].args, &a);
		cr_assert_null(write_opts(&a, NULL, NULL), "case %u written", i);
		cr_assert(strstr(vmm_last_error(), cases[i].msg), "case %u: %s", i, vmm_last_error());
		cr_assert_null(strchr(vmm_last_error(), '\n'), "one line: %s", vmm_last_error());
	}
}

/* A running VM's XML carries what it has now; read back, that report is passed over, not refused */
Test(domain, the_measured_report_is_written_and_passed_over)
{
	const char *const args[] = { "--kernel", "/k", "--memory", "64M", NULL };
	struct vm_stats_summary m = { .kvm_valid = true, .pages_4k = 17, .pages_2m = 30,
				      .cov = { .size_bytes = 64 << 20, .huge_bytes = 60 << 20, .split_bytes = 2 << 20,
					       .absent_bytes = 2 << 20 } };
	struct domain_desc d = { .backing = THPVM_BACKING_THP, .name = "vm1",
				 .uuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809" };
	struct run_opts a;
	char *xml;

	parse_args(args, &a);
	d.guest = &a.guest;
	xml = domain_write(&d, &m);
	cr_assert_not_null(xml, "%s", vmm_last_error());
	cr_assert(strstr(xml, "<thpvm:measured size_bytes=\"67108864\" huge_bytes=\"62914560\" split_bytes=\"2097152\" "
			      "absent_bytes=\"2097152\" kvm_pages_4k=\"17\" kvm_pages_2m=\"30\"/>"), "%s", xml);
	cr_assert(strstr(xml, "<uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"), "%s", xml);
	cr_assert_eq(parse_xml(xml), 0, "%s", vmm_last_error());
	cr_assert_eq(dom->nr_warnings, 0);
	cr_assert_str_eq(dom->name, "vm1");
	cr_assert_str_eq(dom->uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	cr_assert_eq(o.guest.memory_bytes, 64 << 20);
	free(xml);
}

/* XML in a file under tests/unit/domains, whole (malloc'd) */
static char *domain_file(const char *name)
{
	char path[512], *buf = malloc(1 << 16);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/unit/domains/%s", THPVM_SRCDIR, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* s with the first from replaced by to (s is large enough: its buffer is 64 KiB) */
static void replace(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from);

	cr_assert_not_null(at, "%s", from);
	memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
	memcpy(at, to, strlen(to));
}

/*
 * What virt-install writes for a Debian guest booted from a kernel (q35,
 * qcow2 disk, libvirt's NAT network, a pty console, SPICE, a guest agent
 * channel): refused on its first line thpvm cannot run; with
 * --domain-lenient, on its qcow2 disk, which no mode can run; that made raw,
 * it runs with one warning per left-out element, each with its XPath.
 */
Test(domain, a_virt_install_domain)
{
	static const char *const left_out[] = {
		"/domain/on_reboot: 'restart': only destroy",
		"/domain/devices/interface: type 'network'",
		"/domain/devices/serial: type 'pty'",
		"/domain/features/vmport: thpvm does not implement it",
		"/domain/cpu: thpvm's vCPUs get KVM's supported CPUID",
		"/domain/devices/controller[1]: thpvm's devices are on virtio-mmio: no controllers",
		"/domain/devices/controller[3]: thpvm's devices are on virtio-mmio: no controllers",
		"/domain/devices/channel: thpvm has no virtio-serial channels",
		"/domain/devices/input: thpvm has no input devices",
		"/domain/devices/graphics: thpvm has no display",
		"/domain/devices/video: thpvm has no display",
		"/domain/devices/memballoon: thpvm has no balloon",
	};
	char *xml = domain_file("virt-install.xml");

	run_opts_default(&o, "run");
	vmm_clear_error();
	cr_assert_eq(domain_parse(xml, "vi.xml", false, &o, &dom), -ENOTSUP);
	cr_assert_str_eq(vmm_last_error(), "vi.xml: /domain/on_reboot: 'restart': only destroy: thpvm ends when the "
					   "guest reboots (libvirt's default is restart: write <on_reboot>destroy"
					   "</on_reboot>)");
	domain_free(dom);
	dom = NULL;
	run_opts_default(&o, "run");
	cr_assert_eq(domain_parse(xml, "vi.xml", true, &o, &dom), -EINVAL);
	cr_assert_str_eq(vmm_last_error(), "vi.xml: /domain/devices/disk/driver/@type: 'qcow2': thpvm's disks are "
					   "raw images");
	domain_free(dom);
	dom = NULL;
	replace(xml, "type=\"qcow2\" discard=\"unmap\"", "type=\"raw\"");
	replace(xml, "debian12.qcow2", "debian12.img");
	run_opts_default(&o, "run");
	cr_assert_eq(domain_parse(xml, "vi.xml", true, &o, &dom), 0, "%s", vmm_last_error());
	cr_assert_eq(dom->nr_warnings, sizeof(left_out) / sizeof(left_out[0]));
	for (unsigned i = 0; i < dom->nr_warnings; i++)
		cr_assert(strstr(dom->warnings[i], left_out[i]), "warning %u: %s, want %s", i, dom->warnings[i],
			  left_out[i]);
	cr_assert_eq(o.guest.memory_bytes, 2ULL << 30);
	cr_assert_eq(o.guest.nr_cpus, 2);
	cr_assert_str_eq(o.guest.kernel, "/var/lib/libvirt/boot/vmlinuz");
	cr_assert_str_eq(o.guest.initrd, "/var/lib/libvirt/boot/initrd.gz");
	cr_assert_str_eq(o.guest.cmdline, "console=ttyS0");
	cr_assert_eq(o.guest.nr_disks, 1);
	cr_assert_str_eq(o.guest.disks[0], "/var/lib/libvirt/images/debian12.img");
	cr_assert_null(o.guest.net, "the NAT network is left out");
	cr_assert_null(o.guest.console, "the pty console is left out: the default, stdio");
	cr_assert(o.guest.rng);
	free(xml);
}
