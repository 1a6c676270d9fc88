/* SPDX-License-Identifier: MIT */
/*
 * Loading a Linux kernel into guest RAM: a bzImage through the x86-64 boot
 * protocol (Documentation/arch/x86/boot.rst, 64-bit entry) or an uncompressed
 * vmlinux through its PVH ELF note (32-bit entry, paging off). The loader
 * writes everything the kernel needs into guest memory (kernel, initrd,
 * command line, zero page or hvm_start_info, e820, MP table, boot GDT and page
 * tables); linux_boot_regs() turns the result into the boot CPU's registers.
 * See docs/linux-boot.md.
 */
#ifndef THPVM_X86_LINUX_H
#define THPVM_X86_LINUX_H

#include <errno.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <thpvm.h>
#include "acpi.h"

/*
 * Results of the load pipeline, declared once: X(NAME, ERRNO, "string").
 * Every refusal also leaves a one-line message naming the file and the
 * problem in linux_last_error().
 */
#define LINUX_LOAD_RESULTS(X)                                                                        \
	X(LINUX_LOAD_OK, 0, "ok")                                                                    \
	X(LINUX_LOAD_BAD_CONFIG, EINVAL, "invalid load configuration")                              \
	X(LINUX_LOAD_TOO_MANY_CPUS, EINVAL, "too many vCPUs for the MP table")                      \
	X(LINUX_LOAD_FILE_MISSING, ENOENT, "file does not exist")                                   \
	X(LINUX_LOAD_FILE_UNREADABLE, EACCES, "file cannot be opened")                              \
	X(LINUX_LOAD_FILE_NOT_REGULAR, EISDIR, "not a regular file")                                \
	X(LINUX_LOAD_FILE_EMPTY, ENOEXEC, "file is empty")                                          \
	X(LINUX_LOAD_FILE_READ_FAILED, EIO, "read error")                                           \
	X(LINUX_LOAD_NOT_A_KERNEL, ENOEXEC, "neither a bzImage nor an ELF vmlinux")                 \
	X(LINUX_LOAD_TRUNCATED, ENOEXEC, "kernel image is truncated")                               \
	X(LINUX_LOAD_BZ_NO_BOOT_FLAG, ENOEXEC, "not a bzImage: no boot sector signature 0xAA55")    \
	X(LINUX_LOAD_BZ_NO_HDRS, ENOEXEC, "not a bzImage: no HdrS magic")                           \
	X(LINUX_LOAD_BZ_OLD_PROTOCOL, ENOEXEC, "boot protocol too old (need 2.12)")                 \
	X(LINUX_LOAD_BZ_NOT_64BIT, ENOEXEC, "kernel has no 64-bit entry point (XLF_KERNEL_64)")     \
	X(LINUX_LOAD_BZ_BAD_HEADER, ENOEXEC, "inconsistent setup header")                           \
	X(LINUX_LOAD_ELF_BAD, ENOEXEC, "malformed ELF file")                                        \
	X(LINUX_LOAD_ELF_NO_PVH, ENOEXEC, "vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)") \
	X(LINUX_LOAD_ELF_BAD_SEGMENT, ENOEXEC, "ELF segment cannot be loaded")                      \
	X(LINUX_LOAD_RAM_TOO_SMALL, ENOMEM, "guest RAM too small for the kernel")                   \
	X(LINUX_LOAD_CMDLINE_TOO_LONG, E2BIG, "command line too long")                              \
	X(LINUX_LOAD_INITRD_NO_ROOM, ENOSPC, "initrd does not fit in guest RAM")                    \
	X(LINUX_LOAD_E820_TOO_MANY, E2BIG, "too many e820 entries for the zero page")               \
	X(LINUX_LOAD_GUEST_WRITE, EFAULT, "boot structure outside guest RAM")                        \
	X(LINUX_LOAD_MB_BAD_HEADER, ENOEXEC, "bad multiboot header")                                  \
	X(LINUX_LOAD_MB_UNSUPPORTED, ENOEXEC, "multiboot kernel needs what thpvm does not give")       \
	X(LINUX_LOAD_MODULE_NO_ROOM, ENOSPC, "multiboot module does not fit in guest RAM")

THPVM_RESULT_DECLARE(linux_result, enum linux_result, LINUX_LOAD_RESULTS, LINUX_NR_LOAD_RESULTS);

/* Result and one-line message of the last failed linux_load() on this thread. */
enum linux_result linux_last_result(void);
const char *linux_last_error(void);

enum linux_entry_mode {
	LINUX_ENTRY_64BIT = 1, /* bzImage: startup_64, long mode, RSI = zero page */
	LINUX_ENTRY_PVH32,     /* vmlinux PVH: 32-bit protected mode, paging off, EBX = start_info */
	LINUX_ENTRY_MULTIBOOT, /* a multiboot v1 ELF32: the same, EAX = 0x2BADB002, EBX = the multiboot info */
};

struct linux_load_config {
	const char *kernel_path;  /* bzImage or vmlinux (ELF with the PVH note) */
	const char *initrd_path;  /* NULL: no initrd */
	const char *cmdline;      /* NULL: empty */
	unsigned nr_cpus;         /* 1..MPTABLE_MAX_CPUS; MP table entries */
	/* a multiboot kernel's modules: a file each, and its string (NULL: the path) */
	const struct linux_module {
		const char *path, *string;
	} *modules;
	unsigned nr_modules;
	/* devices described by ACPI tables (acpi.h); none: no ACPI tables, the MP table alone */
	const struct acpi_mmio_device *devices;
	unsigned nr_devices;
};

/* Where the loader put things: what the VMM needs to start the boot CPU, and what tests check. */
struct linux_boot {
	enum linux_entry_mode mode;
	uint64_t entry_gpa;        /* RIP: startup_64 or the PVH entry */
	uint64_t boot_params_gpa;  /* zero page (RSI) or hvm_start_info (EBX) */
	uint64_t cr3;              /* identity page tables (64-bit entry only, else 0) */
	uint64_t kernel_gpa;       /* lowest byte of the loaded kernel */
	uint64_t kernel_end_gpa;   /* end of what the kernel uses while booting (bzImage: init_size) */
	uint64_t initrd_gpa;       /* 0 when there is no initrd */
	uint64_t initrd_size_bytes;
	uint64_t cmdline_gpa;
	uint64_t cmdline_size_bytes; /* without the NUL */
	uint64_t low_ram_end_gpa;  /* end of the RAM that holds the kernel (below the MMIO hole) */
	uint64_t mptable_gpa;
	uint64_t rsdp_gpa;         /* ACPI tables, 0 when there are none */
	unsigned nr_modules;       /* multiboot: modules loaded, up to modules_end_gpa */
	uint64_t modules_end_gpa;
	unsigned nr_cpus;
	unsigned nr_e820;
	uint16_t protocol_version; /* bzImage boot protocol, e.g. 0x20f; 0 for PVH */
};

/*
 * Loads the kernel (and initrd) into map and builds the boot structures.
 * Everything is validated before guest memory is written. Returns 0 or
 * -errno (see LINUX_LOAD_RESULTS); on failure linux_last_error() names the
 * file and the problem, e.g. "kernel 'x': not a bzImage: no HdrS magic at
 * 0x202 (found 00 00 00 00)".
 */
int linux_load(struct thpvm_memmap *map, const struct linux_load_config *cfg, struct linux_boot *out);

/*
 * The boot CPU's initial state for b. sregs must hold what KVM_GET_SREGS
 * returned for the fresh vCPU (the fields not named below keep their reset
 * values); regs is overwritten. 64-bit: CR0 PE|PG, CR4 PAE, EFER LME|LMA,
 * CR3 = b->cr3, CS 0x10 (64-bit) and DS/ES/SS/FS/GS 0x18 from the boot GDT,
 * RIP = startup_64, RSI = zero page. PVH: CR0 PE, paging off, CS 0x08 (32-bit
 * flat), DS.. 0x18, EBX = start_info. Interrupts off in both.
 */
void linux_boot_regs(const struct linux_boot *b, struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
