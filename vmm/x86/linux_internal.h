/* SPDX-License-Identifier: MIT */
/* Shared by the Linux loader's files (linux*.c, bzimage.c, elf_pvh.c); not for the VMM. */
#ifndef THPVM_X86_LINUX_INTERNAL_H
#define THPVM_X86_LINUX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <asm/bootparam.h>
#include "linux.h"

#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + (a) - 1, (a))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The boot GDT: Linux's boot protocol wants __BOOT_CS 0x10 and __BOOT_DS 0x18. */
#define LINUX_BOOT_CS32 0x08 /* PVH entry */
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18
#define LINUX_BOOT_GDT_SLOTS (X86_BOOT_GDT_SIZE / 8)

/* x86 COMMAND_LINE_SIZE (2048, with the NUL): a PVH kernel truncates longer lines silently. */
#define LINUX_PVH_CMDLINE_MAX 2047

/* An open kernel or initrd file. */
struct linux_file {
	int fd;
	const char *what;  /* "kernel" or "initrd": first word of every message */
	const char *path;
	uint64_t size_bytes;
};

#define MAX_ELF_LOADS 16

/* What the image-specific probe learned, before anything is written. */
/* One PT_LOAD of a vmlinux: filesz bytes from the file at offset, then zeroes up to memsz. */
struct linux_load {
	uint64_t offset, paddr, filesz, memsz;
};

struct linux_image {
	enum linux_entry_mode mode;
	uint64_t load_gpa;        /* first byte written */
	uint64_t end_gpa;         /* end of the kernel's boot-time footprint */
	uint64_t entry_gpa;
	uint64_t initrd_limit_gpa; /* initrd's last byte must lie below this */
	uint64_t cmdline_max;     /* without the NUL */
	/* bzImage */
	struct setup_header hdr;
	unsigned hdr_len;         /* bytes of the setup header present in the file (from 0x1f1) */
	uint64_t pm_offset;       /* protected-mode code in the file */
	uint64_t pm_size_bytes;
	/* vmlinux */
	struct linux_load loads[MAX_ELF_LOADS];
	unsigned nr_loads;
};

/* linux_result.c: records the result and message, returns -errno. */
__attribute__((format(printf, 2, 3))) int linux_fail(enum linux_result result, const char *fmt, ...);
void linux_clear_error(void);

/* linux_file.c */
int linux_file_open(struct linux_file *f, const char *what, const char *path);
void linux_file_close(struct linux_file *f);
/* Exactly size bytes at offset; short files fail with LINUX_LOAD_TRUNCATED. */
int linux_file_read(const struct linux_file *f, uint64_t offset, void *buf, uint64_t size);
/* Reads size bytes at offset straight into guest memory at gpa (may span regions). */
int linux_file_to_guest(const struct linux_file *f, uint64_t offset, struct thpvm_memmap *map, uint64_t gpa,
			uint64_t size);
/* Copies / zeroes guest memory that may span regions; fails with LINUX_LOAD_GUEST_WRITE naming what. */
int linux_guest_write(struct thpvm_memmap *map, uint64_t gpa, const void *src, uint64_t size, const char *what);
int linux_guest_zero(struct thpvm_memmap *map, uint64_t gpa, uint64_t size, const char *what);
/* End of the contiguous RAM that starts at gpa, capped at the MMIO hole; gpa itself if not RAM. */
uint64_t linux_ram_end(const struct thpvm_memmap *map, uint64_t gpa);

/* bzimage.c: header is the start of the file (head_len bytes, at least 1 KiB unless the file is shorter). */
int bzimage_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img);
int bzimage_load(const struct linux_file *f, const struct linux_image *img, struct thpvm_memmap *map);
/* Fills the zero page at X86_ZERO_PAGE_GPA (boot->initrd_*, cmdline_* and the e820 given). */
int bzimage_write_zero_page(const struct linux_image *img, const struct linux_boot *boot,
			    const struct boot_e820_entry *e820, unsigned nr_e820, struct thpvm_memmap *map);

/* elf_pvh.c */
bool elf_is_elf(const uint8_t *head, uint64_t head_len);
int elf_pvh_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img);
int elf_pvh_load(const struct linux_file *f, const struct linux_image *img, struct thpvm_memmap *map);
int pvh_write_start_info(const struct linux_boot *boot, const struct boot_e820_entry *e820, unsigned nr_e820,
			 struct thpvm_memmap *map);

#endif
