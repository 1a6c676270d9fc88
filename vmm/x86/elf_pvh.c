/* SPDX-License-Identifier: MIT */
/*
 * An uncompressed vmlinux through its PVH ELF note: PT_LOAD segments at their
 * physical addresses, hvm_start_info for the kernel, entry in 32-bit
 * protected mode with paging off.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "layout.h"
#include "linux_internal.h"
#include "pvh.h"

#define MAX_PHDRS 64
#define MAX_NOTE_BYTES (1u << 20)

bool elf_is_elf(const uint8_t *head, uint64_t head_len)
{
	return head_len >= SELFMAG && !memcmp(head, ELFMAG, SELFMAG);
}

/* Looks for Xen's PHYS32_ENTRY note in one PT_NOTE segment. 1: found, 0: not there, <0: error. */
static int find_pvh_note(const struct linux_file *f, const Elf64_Phdr *ph, uint64_t *entry)
{
	uint8_t *buf;
	uint64_t off = 0;
	int ret;

	if (ph->p_filesz > MAX_NOTE_BYTES)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': PT_NOTE segment of %llu bytes is implausibly large",
				  f->what, f->path, (unsigned long long)ph->p_filesz);
	buf = malloc(ph->p_filesz ? ph->p_filesz : 1);
	if (!buf)
		return linux_fail(LINUX_LOAD_FILE_READ_FAILED, "%s '%s': out of memory for the ELF notes", f->what,
				  f->path);
	ret = linux_file_read(f, ph->p_offset, buf, ph->p_filesz);
	while (!ret && off + sizeof(Elf64_Nhdr) <= ph->p_filesz) {
		Elf64_Nhdr n;
		uint64_t name_off = off + sizeof(n), desc_off, next;

		memcpy(&n, buf + off, sizeof(n));
		desc_off = name_off + ALIGN_UP((uint64_t)n.n_namesz, 4);
		next = desc_off + ALIGN_UP((uint64_t)n.n_descsz, 4);
		if (desc_off + n.n_descsz > ph->p_filesz) {
			ret = linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': ELF note at file offset 0x%llx overruns its segment",
					 f->what, f->path, (unsigned long long)(ph->p_offset + off));
			break;
		}
		if (n.n_namesz == 4 && !memcmp(buf + name_off, "Xen", 4) && n.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (n.n_descsz == 4) {
				uint32_t e32;

				memcpy(&e32, buf + desc_off, 4);
				*entry = e32;
			} else if (n.n_descsz == 8) {
				memcpy(entry, buf + desc_off, 8);
			} else {
				ret = linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': PVH entry note has %u bytes, not 4 or 8",
						 f->what, f->path, n.n_descsz);
				break;
			}
			ret = 1;
			break;
		}
		off = next;
	}
	free(buf);
	return ret;
}

/* The entry must be a byte the file loads: not in a gap between segments, not in a bss the loader zeroes. */
static int check_entry(const struct linux_file *f, const struct linux_image *img, uint64_t entry, uint64_t lo,
		       uint64_t hi)
{
	for (unsigned i = 0; i < img->nr_loads; i++) {
		const struct linux_load *l = &img->loads[i];

		if (entry < l->paddr || entry - l->paddr >= l->memsz)
			continue;
		if (entry - l->paddr < l->filesz)
			return 0;
		return linux_fail(LINUX_LOAD_ELF_BAD,
				  "%s '%s': PVH entry 0x%llx lies in the bss of a segment at 0x%llx (file bytes end at "
				  "0x%llx): it would start in zeroed memory",
				  f->what, f->path, (unsigned long long)entry, (unsigned long long)l->paddr,
				  (unsigned long long)(l->paddr + l->filesz));
	}
	if (entry >= lo && entry < hi)
		return linux_fail(LINUX_LOAD_ELF_BAD,
				  "%s '%s': PVH entry 0x%llx lies in a gap between the loaded segments [0x%llx, 0x%llx)",
				  f->what, f->path, (unsigned long long)entry, (unsigned long long)lo,
				  (unsigned long long)hi);
	return linux_fail(LINUX_LOAD_ELF_BAD,
			  "%s '%s': PVH entry 0x%llx lies outside the loaded segments [0x%llx, 0x%llx)", f->what, f->path,
			  (unsigned long long)entry, (unsigned long long)lo, (unsigned long long)hi);
}

int elf_pvh_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	uint64_t entry = 0, lo = UINT64_MAX, hi = 0;
	bool found = false;
	int ret = 0;

	if (head_len < sizeof(eh))
		return linux_fail(LINUX_LOAD_TRUNCATED, "%s '%s': truncated: %llu bytes end inside the ELF header",
				  f->what, f->path, (unsigned long long)head_len);
	memcpy(&eh, head, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return linux_fail(LINUX_LOAD_ELF_BAD,
				  "%s '%s': not an x86-64 ELF file (class %u, data %u, machine %u): need a 64-bit "
				  "little-endian EM_X86_64 vmlinux",
				  f->what, f->path, eh.e_ident[EI_CLASS], eh.e_ident[EI_DATA], eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': ELF type %u is not an executable (ET_EXEC) like vmlinux",
				  f->what, f->path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum || eh.e_phnum > MAX_PHDRS)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': %u program headers of %u bytes (want 1..%u of %zu)",
				  f->what, f->path, eh.e_phnum, eh.e_phentsize, MAX_PHDRS, sizeof(Elf64_Phdr));
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph)
		return linux_fail(LINUX_LOAD_FILE_READ_FAILED, "%s '%s': out of memory for program headers", f->what,
				  f->path);
	ret = linux_file_read(f, eh.e_phoff, ph, (uint64_t)eh.e_phnum * sizeof(*ph));
	img->nr_loads = 0;
	for (unsigned i = 0; !ret && i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type == PT_NOTE && !found) {
			ret = find_pvh_note(f, p, &entry);
			found = ret == 1;
			ret = ret < 0 ? ret : 0;
			continue;
		}
		if (p->p_type != PT_LOAD || !p->p_memsz)
			continue;
		if (p->p_filesz > p->p_memsz || p->p_offset > f->size_bytes ||
		    p->p_filesz > f->size_bytes - p->p_offset) {
			ret = linux_fail(p->p_filesz > p->p_memsz ? LINUX_LOAD_ELF_BAD : LINUX_LOAD_TRUNCATED,
					 "%s '%s': truncated or malformed: segment %u has %llu bytes at file offset 0x%llx "
					 "(memory size %llu), the file has %llu",
					 f->what, f->path, i, (unsigned long long)p->p_filesz,
					 (unsigned long long)p->p_offset, (unsigned long long)p->p_memsz,
					 (unsigned long long)f->size_bytes);
			break;
		}
		if (p->p_paddr < X86_HIMEM_GPA || p->p_paddr >= X86_MMIO_HOLE_GPA ||
		    p->p_memsz > X86_MMIO_HOLE_GPA - p->p_paddr) {
			ret = linux_fail(LINUX_LOAD_ELF_BAD_SEGMENT,
					 "%s '%s': segment %u at physical [0x%llx, 0x%llx) is outside [1 MiB, 0x%llx): the "
					 "boot structures live below 1 MiB, the MMIO hole above",
					 f->what, f->path, i, (unsigned long long)p->p_paddr,
					 (unsigned long long)(p->p_paddr + p->p_memsz), (unsigned long long)X86_MMIO_HOLE_GPA);
			break;
		}
		if (img->nr_loads == MAX_ELF_LOADS) {
			ret = linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': more than %u PT_LOAD segments", f->what, f->path,
					 MAX_ELF_LOADS);
			break;
		}
		img->loads[img->nr_loads].offset = p->p_offset;
		img->loads[img->nr_loads].paddr = p->p_paddr;
		img->loads[img->nr_loads].filesz = p->p_filesz;
		img->loads[img->nr_loads].memsz = p->p_memsz;
		img->nr_loads++;
		if (p->p_paddr < lo)
			lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz > hi)
			hi = p->p_paddr + p->p_memsz;
	}
	free(ph);
	if (ret)
		return ret;
	if (!img->nr_loads)
		return linux_fail(LINUX_LOAD_ELF_BAD, "%s '%s': ELF file has no PT_LOAD segments", f->what, f->path);
	if (!found)
		return linux_fail(LINUX_LOAD_ELF_NO_PVH,
				  "%s '%s': vmlinux has no PVH entry note (Xen ELF note %u, XEN_ELFNOTE_PHYS32_ENTRY): "
				  "build it with CONFIG_PVH=y or boot the bzImage",
				  f->what, f->path, XEN_ELFNOTE_PHYS32_ENTRY);
	if ((ret = check_entry(f, img, entry, lo, hi)))
		return ret;
	img->mode = LINUX_ENTRY_PVH32;
	img->load_gpa = lo;
	img->end_gpa = hi;
	img->entry_gpa = entry;
	img->initrd_limit_gpa = X86_MMIO_HOLE_GPA;
	img->cmdline_max = LINUX_PVH_CMDLINE_MAX;
	return 0;
}

int elf_pvh_load(const struct linux_file *f, const struct linux_image *img, struct thpvm_memmap *map)
{
	for (unsigned i = 0; i < img->nr_loads; i++) {
		int ret = linux_file_to_guest(f, img->loads[i].offset, map, img->loads[i].paddr, img->loads[i].filesz);

		if (!ret)
			ret = linux_guest_zero(map, img->loads[i].paddr + img->loads[i].filesz,
					       img->loads[i].memsz - img->loads[i].filesz, "kernel bss");
		if (ret)
			return ret;
	}
	return 0;
}

int pvh_write_start_info(const struct linux_boot *boot, const struct boot_e820_entry *e820, unsigned nr_e820,
			 struct thpvm_memmap *map)
{
	struct hvm_memmap_table_entry mm[E820_MAX_ENTRIES_ZEROPAGE];
	struct hvm_start_info si = {
		.magic = XEN_HVM_START_MAGIC_VALUE,
		.version = PVH_START_INFO_VERSION,
		.cmdline_paddr = boot->cmdline_gpa,
		.memmap_paddr = X86_PVH_MEMMAP_GPA,
		.memmap_entries = nr_e820,
		.rsdp_paddr = boot->rsdp_gpa,
	};
	int ret;

	_Static_assert(X86_PVH_MODLIST_GPA + sizeof(struct hvm_modlist_entry) <= X86_PVH_MEMMAP_GPA &&
			       X86_PVH_MEMMAP_GPA + sizeof(mm) <= X86_ZERO_PAGE_GPA &&
			       X86_PVH_START_INFO_GPA + sizeof(si) <= X86_PVH_MODLIST_GPA,
		       "PVH structures overlap in layout.h");
	if (nr_e820 > E820_MAX_ENTRIES_ZEROPAGE)
		return linux_fail(LINUX_LOAD_E820_TOO_MANY, "%u e820 entries, PVH memmap holds %u", nr_e820,
				  E820_MAX_ENTRIES_ZEROPAGE);
	for (unsigned i = 0; i < nr_e820; i++)
		mm[i] = (struct hvm_memmap_table_entry){ .addr = e820[i].addr, .size = e820[i].size, .type = e820[i].type };
	if ((ret = linux_guest_write(map, X86_PVH_MEMMAP_GPA, mm, nr_e820 * sizeof(mm[0]), "PVH memory map")))
		return ret;
	if (boot->initrd_size_bytes) {
		struct hvm_modlist_entry mod = { .paddr = boot->initrd_gpa, .size = boot->initrd_size_bytes };

		if ((ret = linux_guest_write(map, X86_PVH_MODLIST_GPA, &mod, sizeof(mod), "PVH module list")))
			return ret;
		si.nr_modules = 1;
		si.modlist_paddr = X86_PVH_MODLIST_GPA;
	}
	return linux_guest_write(map, X86_PVH_START_INFO_GPA, &si, sizeof(si), "PVH start_info");
}
