/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 kernels (the Multiboot Specification 0.6.96): an ELF32 image
 * with a multiboot header in its first 8 KiB. Its PT_LOAD segments go to
 * their physical addresses (elf_pvh_load() loads any PT_LOAD list), the
 * modules after the kernel on page boundaries, and the multiboot information
 * (memory sizes, the e820 map, the command line, the modules, our name) in
 * low memory where a PVH guest's start_info would be; the kernel starts in
 * 32-bit protected mode with paging off, EAX = 0x2BADB002, EBX -> the info
 * (linux_boot_regs()).
 */
#include <elf.h>
#include <stddef.h>
#include <string.h>
#include "layout.h"
#include "linux_internal.h"
#include "multiboot.h"

#define MB_SEARCH_BYTES 8192u
#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_F_PAGE_ALIGN (1u << 0)  /* modules on page boundaries: we always do */
#define MB_F_MEMORY     (1u << 1)  /* mem_* and the memory map: we always give them */
#define MB_F_VIDEO      (1u << 2)  /* a video mode: no display here */
#define MB_F_AOUT       (1u << 16) /* the address fields, for a non-ELF image */
#define MB_REQUIRED_MASK 0xffffu   /* bits a loader must understand or refuse */
#define MB_MAX_PHDRS 64

/* The multiboot information's flags and fields (section 3.3). */
#define MBI_MEMORY  (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS    (1u << 3)
#define MBI_MMAP    (1u << 6)
#define MBI_LOADER  (1u << 9)

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap {
	uint32_t size; /* of the rest: 20 */
	uint64_t base_addr, length;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct mb_info) == 68 && offsetof(struct mb_info, boot_loader_name) == 64, "multiboot info layout");
_Static_assert(X86_MB_INFO_GPA + sizeof(struct mb_info) <= X86_MB_MODS_GPA &&
		       X86_MB_MODS_GPA + MULTIBOOT_MAX_MODULES * sizeof(struct mb_module) <= X86_MB_MMAP_GPA &&
		       X86_MB_MMAP_GPA + E820_MAX_ENTRIES_ZEROPAGE * sizeof(struct mb_mmap) <= X86_ZERO_PAGE_GPA,
	       "the multiboot information, module list and memory map overlap in layout.h");

/* The header's offset in head: -1 none, else >= 0 (checksum checked by the caller). */
static long find_header(const uint8_t *head, uint64_t head_len)
{
	for (uint64_t off = 0; off + 12 <= head_len && off < MB_SEARCH_BYTES; off += 4) {
		uint32_t magic;

		memcpy(&magic, head + off, 4);
		if (magic == MB_HEADER_MAGIC)
			return (long)off;
	}
	return -1;
}

bool multiboot_is_multiboot(const uint8_t *head, uint64_t head_len)
{
	return find_header(head, head_len) >= 0;
}

int multiboot_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img)
{
	long at = find_header(head, head_len);
	uint32_t hdr[3], unknown;
	Elf32_Ehdr eh;
	Elf32_Phdr ph[MB_MAX_PHDRS];
	uint64_t lo = UINT64_MAX, hi = 0;
	bool entry_ok = false;
	int ret;

	if (at < 0)
		return linux_fail(LINUX_LOAD_MB_BAD_HEADER, "%s '%s': no multiboot header in its first %u bytes",
				  f->what, f->path, MB_SEARCH_BYTES);
	memcpy(hdr, head + at, sizeof(hdr));
	if ((uint32_t)(hdr[0] + hdr[1] + hdr[2]))
		return linux_fail(LINUX_LOAD_MB_BAD_HEADER,
				  "%s '%s': multiboot header at offset 0x%lx: magic + flags + checksum is 0x%x, not 0",
				  f->what, f->path, at, (uint32_t)(hdr[0] + hdr[1] + hdr[2]));
	if (hdr[1] & MB_F_VIDEO)
		return linux_fail(LINUX_LOAD_MB_UNSUPPORTED,
				  "%s '%s': the kernel requires a video mode (multiboot flag 2): thpvm has no display",
				  f->what, f->path);
	unknown = hdr[1] & MB_REQUIRED_MASK & ~(MB_F_PAGE_ALIGN | MB_F_MEMORY);
	if (unknown)
		return linux_fail(LINUX_LOAD_MB_UNSUPPORTED,
				  "%s '%s': the kernel requires multiboot features 0x%x thpvm does not know", f->what,
				  f->path, unknown);
	if (!elf_is_elf(head, head_len) || head[EI_CLASS] != ELFCLASS32)
		return linux_fail(LINUX_LOAD_MB_UNSUPPORTED,
				  "%s '%s': a multiboot image that is not ELF32 (the a.out kludge, flag 16%s): link the "
				  "kernel as an ELF32 executable",
				  f->what, f->path, hdr[1] & MB_F_AOUT ? "" : ", which it does not even set");
	if (head_len < sizeof(eh))
		return linux_fail(LINUX_LOAD_TRUNCATED, "%s '%s': truncated inside the ELF header", f->what, f->path);
	memcpy(&eh, head, sizeof(eh));
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_386 || eh.e_type != ET_EXEC)
		return linux_fail(LINUX_LOAD_ELF_BAD,
				  "%s '%s': not a little-endian EM_386 ELF32 executable (data %u, machine %u, type %u)",
				  f->what, f->path, eh.e_ident[EI_DATA], eh.e_machine, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf32_Phdr) || !eh.e_phnum || eh.e_phnum > MB_MAX_PHDRS)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': %u program headers of %u bytes (want 1..%u of %zu)",
				  f->what, f->path, eh.e_phnum, eh.e_phentsize, MB_MAX_PHDRS, sizeof(Elf32_Phdr));
	if ((ret = linux_file_read(f, eh.e_phoff, ph, (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr))))
		return ret;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		struct linux_load *l;

		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		if (img->nr_loads == MAX_ELF_LOADS)
			return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': more than %u PT_LOAD segments", f->what, f->path,
					  MAX_ELF_LOADS);
		if (ph[i].p_filesz > ph[i].p_memsz || (uint64_t)ph[i].p_offset + ph[i].p_filesz > f->size_bytes ||
		    (uint64_t)ph[i].p_paddr + ph[i].p_memsz > 1ULL << 32 || ph[i].p_paddr < X86_EBDA_END)
			return linux_fail(LINUX_LOAD_ELF_BAD_SEGMENT,
					  "%s '%s': segment %u (paddr 0x%x, %u bytes in the file, %u in memory) is not inside "
					  "the file, or not between 1 MiB and 4 GiB",
					  f->what, f->path, i, ph[i].p_paddr, ph[i].p_filesz, ph[i].p_memsz);
		l = &img->loads[img->nr_loads++];
		*l = (struct linux_load){ ph[i].p_offset, ph[i].p_paddr, ph[i].p_filesz, ph[i].p_memsz };
		if (l->paddr < lo)
			lo = l->paddr;
		if (l->paddr + l->memsz > hi)
			hi = l->paddr + l->memsz;
		if (eh.e_entry >= l->paddr && eh.e_entry - l->paddr < l->filesz)
			entry_ok = true;
	}
	if (!img->nr_loads)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': no PT_LOAD segment", f->what, f->path);
	if (!entry_ok)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': entry 0x%x is not in the bytes a segment loads",
				  f->what, f->path, eh.e_entry);
	img->mode = LINUX_ENTRY_MULTIBOOT;
	img->load_gpa = lo;
	img->end_gpa = hi;
	img->entry_gpa = eh.e_entry;
	img->cmdline_max = X86_CMDLINE_MAX - 1;
	return 0;
}

int multiboot_load_modules(struct thpvm_memmap *map, const struct linux_load_config *cfg, uint64_t from_gpa,
			   uint64_t low_end, struct linux_boot *b)
{
	uint64_t gpa = ALIGN_UP(from_gpa, 4096), strings = X86_MB_STRINGS_GPA;
	struct mb_module mods[MULTIBOOT_MAX_MODULES];
	int ret = 0;

	if (cfg->nr_modules > MULTIBOOT_MAX_MODULES)
		return linux_fail(LINUX_LOAD_BAD_CONFIG, "%u modules: at most %u", cfg->nr_modules,
				  MULTIBOOT_MAX_MODULES);
	for (unsigned i = 0; i < cfg->nr_modules && !ret; i++) {
		struct linux_file m = { .fd = -1 };
		const char *s = cfg->modules[i].string ? cfg->modules[i].string : cfg->modules[i].path;
		uint64_t len = strlen(s) + 1;

		if ((ret = linux_file_open(&m, "module", cfg->modules[i].path)))
			break;
		if (m.size_bytes > low_end - gpa || gpa > low_end)
			ret = linux_fail(LINUX_LOAD_MODULE_NO_ROOM,
					 "module '%s' (%llu bytes) does not fit in guest RAM: it would start at 0x%llx, "
					 "after the kernel and the modules before it, and RAM below the MMIO hole ends at "
					 "0x%llx",
					 m.path, (unsigned long long)m.size_bytes, (unsigned long long)gpa,
					 (unsigned long long)low_end);
		else if (strings + len > X86_MB_STRINGS_GPA + X86_MB_STRINGS_SIZE - 16) /* the last 16: our name */
			ret = linux_fail(LINUX_LOAD_CMDLINE_TOO_LONG, "module '%s': the modules' strings take more than %u bytes",
					 m.path, (unsigned)X86_MB_STRINGS_SIZE);
		else if (!(ret = linux_file_to_guest(&m, 0, map, gpa, m.size_bytes)) &&
			 !(ret = linux_guest_write(map, strings, s, len, "module string"))) {
			mods[i] = (struct mb_module){ (uint32_t)gpa, (uint32_t)(gpa + m.size_bytes), (uint32_t)strings, 0 };
			strings += len;
			gpa = ALIGN_UP(gpa + m.size_bytes, 4096);
		}
		linux_file_close(&m);
	}
	if (!ret && cfg->nr_modules)
		ret = linux_guest_write(map, X86_MB_MODS_GPA, mods, cfg->nr_modules * sizeof(mods[0]), "module list");
	b->nr_modules = ret ? 0 : cfg->nr_modules;
	b->modules_end_gpa = gpa;
	return ret;
}

int multiboot_write_info(const struct linux_boot *b, const struct boot_e820_entry *e820, unsigned nr_e820,
			 struct thpvm_memmap *map)
{
	struct mb_mmap mm[E820_MAX_ENTRIES_ZEROPAGE];
	static const char loader[] = "thpvm";
	uint64_t loader_gpa = X86_MB_STRINGS_GPA + X86_MB_STRINGS_SIZE - 16;
	struct mb_info mi = {
		.flags = MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER | (b->nr_modules ? MBI_MODS : 0),
		/* KiB below the EBDA, and from 1 MiB to the end of low RAM */
		.mem_lower = (uint32_t)(X86_EBDA_GPA / 1024),
		.mem_upper = (uint32_t)((b->low_ram_end_gpa - X86_HIMEM_GPA) / 1024),
		.cmdline = (uint32_t)b->cmdline_gpa,
		.mods_count = b->nr_modules,
		.mods_addr = b->nr_modules ? (uint32_t)X86_MB_MODS_GPA : 0,
		.mmap_length = nr_e820 * (uint32_t)sizeof(struct mb_mmap),
		.mmap_addr = (uint32_t)X86_MB_MMAP_GPA,
		.boot_loader_name = (uint32_t)loader_gpa,
	};
	int ret;

	for (unsigned i = 0; i < nr_e820; i++)
		mm[i] = (struct mb_mmap){ .size = sizeof(struct mb_mmap) - 4, .base_addr = e820[i].addr,
					  .length = e820[i].size, .type = e820[i].type };
	if ((ret = linux_guest_write(map, X86_MB_MMAP_GPA, mm, nr_e820 * sizeof(mm[0]), "multiboot memory map")) ||
	    (ret = linux_guest_write(map, loader_gpa, loader, sizeof(loader), "boot loader name")))
		return ret;
	return linux_guest_write(map, X86_MB_INFO_GPA, &mi, sizeof(mi), "multiboot information");
}
