/* SPDX-License-Identifier: MIT */
/*
 * bzImage through the Linux x86 boot protocol (Documentation/arch/x86/boot.rst)
 * with the 64-bit entry: no real-mode setup code runs, the VMM fills the zero
 * page and jumps to startup_64 in long mode.
 */
#include <stddef.h>
#include <string.h>
#include "layout.h"
#include "linux_internal.h"

#define BZ_HDR_OFFSET      0x1f1
#define BZ_BOOT_FLAG       0xaa55
#define BZ_HDRS_MAGIC      0x53726448 /* "HdrS" */
/* xloadflags (XLF_KERNEL_64) appeared in 2.12, Linux 3.8: the only way to know startup_64 is there */
#define BZ_MIN_PROTOCOL    0x020c
#define BZ_STARTUP_64      0x200      /* from the start of the protected-mode code */
#define BZ_DEFAULT_SETUP_SECTS 4
#define BZ_LOADER_UNDEFINED 0xff      /* type_of_loader: a boot loader without an assigned id */
#define BZ_HEAP_END        0xfe00     /* only read by the real-mode setup code; set as QEMU and kvmtool do */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int bzimage_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img)
{
	const struct setup_header *h = &img->hdr;
	uint64_t hdr_end, setup_sects, need, out_gpa;

	if (head_len < 0x200)
		return linux_fail(LINUX_LOAD_NOT_A_KERNEL,
				  "%s '%s': not a Linux kernel: %llu bytes, too short for a bzImage or an ELF vmlinux",
				  f->what, f->path, (unsigned long long)head_len);
	if (le16(head + 0x1fe) != BZ_BOOT_FLAG)
		return linux_fail(LINUX_LOAD_NOT_A_KERNEL,
				  "%s '%s': not a Linux kernel: neither an ELF vmlinux (no \\177ELF magic) nor a "
				  "bzImage (no boot sector signature 0xAA55 at 0x1fe)",
				  f->what, f->path);
	if (head_len < 0x206)
		return linux_fail(LINUX_LOAD_TRUNCATED, "%s '%s': truncated: %llu bytes end inside the setup header",
				  f->what, f->path, (unsigned long long)head_len);
	if (le32(head + 0x202) != BZ_HDRS_MAGIC)
		return linux_fail(LINUX_LOAD_BZ_NO_HDRS,
				  "%s '%s': not a bzImage: no HdrS magic at 0x202 (found %02x %02x %02x %02x): a boot "
				  "sector, but no Linux setup header",
				  f->what, f->path, head[0x202], head[0x203], head[0x204], head[0x205]);
	/* the header ends where the jump at 0x200 lands */
	hdr_end = 0x202 + (uint64_t)head[0x201];
	if (hdr_end > head_len)
		return linux_fail(LINUX_LOAD_TRUNCATED,
				  "%s '%s': truncated: the setup header ends at 0x%llx, the file has %llu bytes",
				  f->what, f->path, (unsigned long long)hdr_end, (unsigned long long)f->size_bytes);
	memset(&img->hdr, 0, sizeof(img->hdr));
	img->hdr_len = (unsigned)(hdr_end - BZ_HDR_OFFSET);
	if (img->hdr_len > sizeof(img->hdr))
		img->hdr_len = sizeof(img->hdr);
	memcpy(&img->hdr, head + BZ_HDR_OFFSET, img->hdr_len);

	if (h->version < BZ_MIN_PROTOCOL)
		return linux_fail(LINUX_LOAD_BZ_OLD_PROTOCOL,
				  "%s '%s': boot protocol %u.%02u is too old: the 64-bit entry needs 2.12 (Linux 3.8)",
				  f->what, f->path, h->version >> 8, h->version & 0xff);
	if (hdr_end < BZ_HDR_OFFSET + offsetof(struct setup_header, init_size) + sizeof(h->init_size))
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': setup header ends at 0x%llx, too short for protocol %u.%02u", f->what,
				  f->path, (unsigned long long)hdr_end, h->version >> 8, h->version & 0xff);
	if (!(h->xloadflags & XLF_KERNEL_64))
		return linux_fail(LINUX_LOAD_BZ_NOT_64BIT,
				  "%s '%s': kernel has no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags 0x%x): "
				  "a 32-bit kernel?",
				  f->what, f->path, h->xloadflags);
	if (!(h->loadflags & LOADED_HIGH))
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': a zImage (LOADED_HIGH clear in loadflags 0x%x), not a bzImage", f->what,
				  f->path, h->loadflags);
	if (!h->syssize || !h->init_size)
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER, "%s '%s': setup header has syssize %u, init_size %u",
				  f->what, f->path, h->syssize, h->init_size);
	if (h->relocatable_kernel && (!is_pow2(h->kernel_alignment) || h->kernel_alignment < 4096))
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': kernel_alignment 0x%x is not a power of two of at least 4 KiB", f->what,
				  f->path, h->kernel_alignment);
	if (h->pref_address > X86_MMIO_HOLE_GPA || (h->relocatable_kernel && h->pref_address % h->kernel_alignment))
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': pref_address 0x%llx is not an aligned address below the MMIO hole",
				  f->what, f->path, (unsigned long long)h->pref_address);
	/* a fixed kernel decompresses itself at pref_address whatever its load address: below 1 MiB it would
	 * overwrite the zero page, the page tables and the command line */
	if (!h->relocatable_kernel && h->pref_address < X86_HIMEM_GPA)
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': a non-relocatable kernel that decompresses at pref_address 0x%llx, below 1 "
				  "MiB where the boot structures live",
				  f->what, f->path, (unsigned long long)h->pref_address);

	setup_sects = h->setup_sects ? h->setup_sects : BZ_DEFAULT_SETUP_SECTS;
	img->pm_offset = (setup_sects + 1) * 512;
	img->pm_size_bytes = (uint64_t)h->syssize * 16;
	if (img->pm_size_bytes <= BZ_STARTUP_64)
		return linux_fail(LINUX_LOAD_BZ_BAD_HEADER,
				  "%s '%s': syssize %u means %llu bytes of protected-mode code, which end before the 64-bit "
				  "entry (startup_64) at +0x%x",
				  f->what, f->path, h->syssize, (unsigned long long)img->pm_size_bytes, BZ_STARTUP_64);
	need = img->pm_offset + img->pm_size_bytes;
	if (f->size_bytes < need)
		return linux_fail(LINUX_LOAD_TRUNCATED,
				  "%s '%s': truncated: the setup header promises %llu bytes of kernel at offset 0x%llx "
				  "(%llu in all), the file has %llu",
				  f->what, f->path, (unsigned long long)img->pm_size_bytes,
				  (unsigned long long)img->pm_offset, (unsigned long long)need,
				  (unsigned long long)f->size_bytes);

	/*
	 * A relocatable kernel goes to pref_address: aligned as kernel_alignment
	 * requires, and where startup_64 decompresses it in place. A fixed one
	 * goes to 1 MiB (code32_start). Either way startup_64 decompresses to
	 * max(ALIGN_UP(load, kernel_alignment), LOAD_PHYSICAL_ADDR = pref_address)
	 * and uses init_size bytes from there (arch/x86/boot/compressed/head_64.S).
	 */
	img->mode = LINUX_ENTRY_64BIT;
	img->load_gpa = h->relocatable_kernel && h->pref_address >= X86_HIMEM_GPA ? h->pref_address : X86_HIMEM_GPA;
	out_gpa = h->relocatable_kernel ? ALIGN_UP(img->load_gpa, h->kernel_alignment) : img->load_gpa;
	if (out_gpa < h->pref_address)
		out_gpa = h->pref_address;
	img->end_gpa = out_gpa + h->init_size;
	if (img->end_gpa < img->load_gpa + img->pm_size_bytes)
		img->end_gpa = img->load_gpa + img->pm_size_bytes;
	img->entry_gpa = img->load_gpa + BZ_STARTUP_64;
	img->initrd_limit_gpa = (uint64_t)h->initrd_addr_max + 1;
	img->cmdline_max = h->cmdline_size;
	return 0;
}

int bzimage_load(const struct linux_file *f, const struct linux_image *img, struct thpvm_memmap *map)
{
	return linux_file_to_guest(f, img->pm_offset, map, img->load_gpa, img->pm_size_bytes);
}

int bzimage_write_zero_page(const struct linux_image *img, const struct linux_boot *boot,
			    const struct boot_e820_entry *e820, unsigned nr_e820, struct thpvm_memmap *map)
{
	struct boot_params bp;
	struct setup_header *h = &bp.hdr;

	memset(&bp, 0, sizeof(bp));
	/* the kernel's own header, as far as it goes, then what the loader fills in */
	memcpy(h, &img->hdr, img->hdr_len);
	h->type_of_loader = BZ_LOADER_UNDEFINED;
	h->loadflags |= CAN_USE_HEAP;
	h->heap_end_ptr = BZ_HEAP_END;
	h->cmd_line_ptr = (uint32_t)boot->cmdline_gpa;
	bp.ext_cmd_line_ptr = (uint32_t)(boot->cmdline_gpa >> 32);
	h->ramdisk_image = (uint32_t)boot->initrd_gpa;
	h->ramdisk_size = (uint32_t)boot->initrd_size_bytes;
	bp.ext_ramdisk_image = (uint32_t)(boot->initrd_gpa >> 32);
	bp.ext_ramdisk_size = (uint32_t)(boot->initrd_size_bytes >> 32);
	h->setup_data = 0;
	bp.e820_entries = (uint8_t)nr_e820;
	bp.acpi_rsdp_addr = boot->rsdp_gpa; /* 0: none; kernels before 5.0 scan for it */
	memcpy(bp.e820_table, e820, nr_e820 * sizeof(*e820));
	return linux_guest_write(map, X86_ZERO_PAGE_GPA, &bp, sizeof(bp), "zero page");
}
