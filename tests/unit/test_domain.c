/* SPDX-License-Identifier: MIT */
/*
 * thpvm run --domain (vmm/domain/, docs/libvirt.md): domain XML snippets
 * through the real libvirt (its test driver, in this process) and libxml2
 * onto the run's options, or the exact one-line refusal with its XPath;
 * --domain-lenient's warnings. No KVM: nothing runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "run/run_opts.h"
#include "domain/domain.h"
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
