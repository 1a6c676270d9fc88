/* SPDX-License-Identifier: MIT */
/*
 * linux_load(): validate everything (kernel, command line, RAM, initrd
 * placement, e820), then write the kernel, initrd and boot structures into
 * guest memory. The image formats live in bzimage.c and elf_pvh.c.
 */
#include <elf.h>
#include <string.h>
#include "e820.h"
#include "gdt.h"
#include "layout.h"
#include "linux_internal.h"
#include "mptable.h"
#include "multiboot.h"
#include "pagetable.h"

#define HEAD_BYTES 8192 /* a multiboot header is in the first 8 KiB */
#define BOOT_IDENTITY_MAP_BYTES (4ULL << 30) /* the boot protocol wants the kernel, zero page, cmdline mapped */
#define PAGE_BYTES 4096ULL
#define MIB (1ULL << 20)

/* Puts the initrd as high as possible below limit and not over the kernel's footprint. */
static int place_initrd(const struct linux_file *initrd, const struct linux_file *kernel,
			const struct linux_image *img, uint64_t low_end, uint64_t *gpa)
{
	uint64_t top = img->initrd_limit_gpa < low_end ? img->initrd_limit_gpa : low_end;
	uint64_t floor = ALIGN_UP(img->end_gpa, PAGE_BYTES);

	top = ALIGN_DOWN(top, PAGE_BYTES);
	if (top < floor)
		return linux_fail(LINUX_LOAD_INITRD_NO_ROOM,
				  "%s '%s': no room: kernel '%s' wants its initrd below 0x%llx, but its boot-time footprint "
				  "reaches 0x%llx",
				  initrd->what, initrd->path, kernel->path, (unsigned long long)top,
				  (unsigned long long)floor);
	if (initrd->size_bytes > top - floor)
		return linux_fail(LINUX_LOAD_INITRD_NO_ROOM,
				  "%s '%s' (%llu bytes) does not fit in guest RAM: only %llu bytes free between the end "
				  "of kernel '%s' at 0x%llx and 0x%llx (the lower of the kernel's initrd limit and the end "
				  "of low RAM)",
				  initrd->what, initrd->path, (unsigned long long)initrd->size_bytes,
				  (unsigned long long)(top - floor), kernel->path,
				  (unsigned long long)floor, (unsigned long long)top);
	*gpa = ALIGN_DOWN(top - initrd->size_bytes, PAGE_BYTES);
	return 0;
}

static int probe_kernel(const struct linux_file *kernel, struct linux_image *img)
{
	uint8_t head[HEAD_BYTES];
	uint64_t head_len = kernel->size_bytes < HEAD_BYTES ? kernel->size_bytes : HEAD_BYTES;
	int ret = linux_file_read(kernel, 0, head, head_len);

	if (ret)
		return ret;
	memset(img, 0, sizeof(*img));
	/* an ELF32 (or any image) with a multiboot header is a multiboot kernel; a vmlinux is ELF64 */
	if ((elf_is_elf(head, head_len) && head[EI_CLASS] == ELFCLASS32) ||
	    (!elf_is_elf(head, head_len) && multiboot_is_multiboot(head, head_len) &&
	     (head_len < 0x202 + 4 || memcmp(head + 0x202, "HdrS", 4))))
		return multiboot_probe(kernel, head, head_len, img);
	if (elf_is_elf(head, head_len))
		return elf_pvh_probe(kernel, head, head_len, img);
	return bzimage_probe(kernel, head, head_len, img);
}

static int write_boot_cpu_tables(struct thpvm_memmap *map, struct linux_boot *boot)
{
	const struct kvm_segment segs[] = {
		seg_code32(LINUX_BOOT_CS32, 0),
		seg_code64(LINUX_BOOT_CS, 0),
		seg_data(LINUX_BOOT_DS, 0),
	};
	struct pt_builder pt;
	int ret;

	if (gdt_write(map, X86_BOOT_GDT_GPA, LINUX_BOOT_GDT_SLOTS, segs, ARRAY_SIZE(segs)))
		return linux_fail(LINUX_LOAD_GUEST_WRITE, "boot GDT at 0x%llx: not RAM",
				  (unsigned long long)X86_BOOT_GDT_GPA);
	/* an empty IDT: the kernel installs its own before it enables interrupts */
	if ((ret = linux_guest_zero(map, X86_BOOT_IDT_GPA, 16, "boot IDT")))
		return ret;
	if (boot->mode != LINUX_ENTRY_64BIT)
		return 0;
	if (pt_init(&pt, map, X86_BOOT_PT_GPA, X86_BOOT_PT_SIZE) ||
	    pt_map(&pt, 0, 0, BOOT_IDENTITY_MAP_BYTES, 2 * MIB, PTE_W))
		return linux_fail(LINUX_LOAD_GUEST_WRITE, "boot page tables at 0x%llx: cannot build them",
				  (unsigned long long)X86_BOOT_PT_GPA);
	boot->cr3 = pt.pml4_gpa;
	return 0;
}

static int check_config(const struct thpvm_memmap *map, const struct linux_load_config *cfg)
{
	if (!map || !cfg)
		return linux_fail(LINUX_LOAD_BAD_CONFIG, "linux_load: no memory map or configuration");
	if (!cfg->kernel_path || !*cfg->kernel_path)
		return linux_fail(LINUX_LOAD_BAD_CONFIG, "no kernel given");
	if (!cfg->nr_cpus)
		return linux_fail(LINUX_LOAD_BAD_CONFIG, "number of vCPUs is 0");
	if (cfg->nr_cpus > MPTABLE_MAX_CPUS)
		return linux_fail(LINUX_LOAD_TOO_MANY_CPUS, "%u vCPUs: Linux guests support at most %u (MP table)",
				  cfg->nr_cpus, MPTABLE_MAX_CPUS);
	return 0;
}

int linux_load(struct thpvm_memmap *map, const struct linux_load_config *cfg, struct linux_boot *out)
{
	struct linux_file kernel = { .fd = -1 }, initrd = { .fd = -1 };
	struct boot_e820_entry e820[E820_MAX_ENTRIES_ZEROPAGE];
	struct linux_image img;
	struct linux_boot b;
	const char *cmdline;
	uint64_t low_end;
	int ret, nr_e820;

	linux_clear_error();
	memset(&b, 0, sizeof(b));
	if ((ret = check_config(map, cfg)))
		return ret;
	cmdline = cfg->cmdline ? cfg->cmdline : "";
	if ((ret = linux_file_open(&kernel, "kernel", cfg->kernel_path)))
		return ret;
	if ((ret = probe_kernel(&kernel, &img)))
		goto out;

	b.cmdline_size_bytes = strlen(cmdline);
	if (b.cmdline_size_bytes > img.cmdline_max || b.cmdline_size_bytes >= X86_CMDLINE_MAX) {
		ret = linux_fail(LINUX_LOAD_CMDLINE_TOO_LONG, "command line is %llu bytes, kernel '%s' accepts at most %llu",
				 (unsigned long long)b.cmdline_size_bytes, kernel.path,
				 (unsigned long long)(img.cmdline_max < X86_CMDLINE_MAX - 1 ? img.cmdline_max
											     : X86_CMDLINE_MAX - 1));
		goto out;
	}

	/* the boot structures need RAM from 0 through the first MiB, the kernel from 1 MiB on */
	low_end = linux_ram_end(map, 0);
	if (low_end < X86_EBDA_END) {
		ret = linux_fail(LINUX_LOAD_RAM_TOO_SMALL,
				 "guest RAM must start at 0 and cover the first MiB (boot structures, MP table); RAM from 0 "
				 "ends at 0x%llx",
				 (unsigned long long)low_end);
		goto out;
	}
	if (img.end_gpa > low_end) {
		ret = linux_fail(LINUX_LOAD_RAM_TOO_SMALL,
				 "kernel '%s' needs guest RAM up to 0x%llx (%llu MiB: loaded at 0x%llx, boot-time "
				 "footprint to 0x%llx), but RAM below the MMIO hole ends at 0x%llx",
				 kernel.path, (unsigned long long)img.end_gpa, (unsigned long long)(img.end_gpa >> 20),
				 (unsigned long long)img.load_gpa, (unsigned long long)img.end_gpa,
				 (unsigned long long)low_end);
		goto out;
	}
	if (img.mode == LINUX_ENTRY_MULTIBOOT && cfg->initrd_path) {
		ret = linux_fail(LINUX_LOAD_BAD_CONFIG, "kernel '%s' is a multiboot kernel: it takes --module, not --initrd",
				 kernel.path);
		goto out;
	}
	if (img.mode != LINUX_ENTRY_MULTIBOOT && cfg->nr_modules) {
		ret = linux_fail(LINUX_LOAD_BAD_CONFIG,
				 "kernel '%s' is a Linux kernel: --module is for multiboot kernels (Linux takes --initrd)",
				 kernel.path);
		goto out;
	}
	if (cfg->initrd_path) {
		if ((ret = linux_file_open(&initrd, "initrd", cfg->initrd_path)) ||
		    (ret = place_initrd(&initrd, &kernel, &img, low_end, &b.initrd_gpa)))
			goto out;
		b.initrd_size_bytes = initrd.size_bytes;
	}
	nr_e820 = e820_build(map, e820, E820_MAX_ENTRIES_ZEROPAGE);
	if (nr_e820 < 0) {
		ret = linux_fail(LINUX_LOAD_E820_TOO_MANY, "guest memory map needs more than %u e820 entries",
				 E820_MAX_ENTRIES_ZEROPAGE);
		goto out;
	}

	/* everything checked: write guest memory */
	b.mode = img.mode;
	b.entry_gpa = img.entry_gpa;
	b.kernel_gpa = img.load_gpa;
	b.kernel_end_gpa = img.end_gpa;
	b.low_ram_end_gpa = low_end;
	b.cmdline_gpa = X86_CMDLINE_GPA;
	b.mptable_gpa = X86_MPTABLE_GPA;
	b.nr_cpus = cfg->nr_cpus;
	b.nr_e820 = (unsigned)nr_e820;
	b.protocol_version = img.mode == LINUX_ENTRY_64BIT ? img.hdr.version : 0;
	b.boot_params_gpa = img.mode == LINUX_ENTRY_64BIT ? X86_ZERO_PAGE_GPA
			    : img.mode == LINUX_ENTRY_MULTIBOOT ? X86_MB_INFO_GPA
								: X86_PVH_START_INFO_GPA;
	/* a multiboot image is ELF too: its PT_LOADs go where they say, like a vmlinux's */
	ret = img.mode == LINUX_ENTRY_64BIT ? bzimage_load(&kernel, &img, map) : elf_pvh_load(&kernel, &img, map);
	if (!ret && img.mode == LINUX_ENTRY_MULTIBOOT)
		ret = multiboot_load_modules(map, cfg, img.end_gpa, low_end, &b);
	if (!ret && initrd.fd >= 0)
		ret = linux_file_to_guest(&initrd, 0, map, b.initrd_gpa, b.initrd_size_bytes);
	if (!ret)
		ret = linux_guest_write(map, b.cmdline_gpa, cmdline, b.cmdline_size_bytes + 1, "command line");
	if (!ret && mptable_write(map, b.mptable_gpa, b.nr_cpus))
		ret = linux_fail(LINUX_LOAD_GUEST_WRITE, "MP table at 0x%llx: not RAM", (unsigned long long)b.mptable_gpa);
	if (!ret && cfg->nr_devices) {
		b.rsdp_gpa = X86_ACPI_GPA;
		if (acpi_write(map, b.rsdp_gpa, b.nr_cpus, cfg->devices, cfg->nr_devices))
			ret = linux_fail(LINUX_LOAD_GUEST_WRITE, "ACPI tables at 0x%llx: not RAM, or too many devices",
					 (unsigned long long)b.rsdp_gpa);
	}
	if (!ret)
		ret = write_boot_cpu_tables(map, &b);
	if (!ret && img.mode == LINUX_ENTRY_64BIT)
		ret = bzimage_write_zero_page(&img, &b, e820, b.nr_e820, map);
	else if (!ret && img.mode == LINUX_ENTRY_MULTIBOOT)
		ret = multiboot_write_info(&b, e820, b.nr_e820, map);
	else if (!ret)
		ret = pvh_write_start_info(&b, e820, b.nr_e820, map);
	if (!ret)
		*out = b;
out:
	linux_file_close(&initrd);
	linux_file_close(&kernel);
	return ret;
}
