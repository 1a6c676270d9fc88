/* SPDX-License-Identifier: MIT */
/*
 * The payload ABI: the contract between thpvm and a payload guest, shared by
 * the VMM (C) and the payloads (GNU as through cpp). docs/payload-abi.md
 * explains it; every number here is part of the ABI.
 */
#ifndef THPVM_PAYLOAD_ABI_H
#define THPVM_PAYLOAD_ABI_H

#define PAYLOAD_ABI_VERSION     1
/* "THPVMPL\0" as a little-endian quad, the header's first 8 bytes */
#define PAYLOAD_MAGIC           0x004c504d56504854

/* Where payloads are linked and loaded; the header repeats it so a stray binary is refused. */
#define PAYLOAD_LOAD_GPA        0x400000

/* Header flags */
#define PAYLOAD_F_NO_IDT        0x1   /* no exception stubs: any exception is a triple fault */
#define PAYLOAD_F_ALL           0x1

/*
 * Port I/O. A call is `out %eax, $PAYLOAD_PORT_CALL` with the call number in
 * eax and its arguments in rdi, rsi (the System V argument registers); the
 * VMM reads them with KVM_GET_REGS. One call is one VM exit (~36-40 us from
 * CPL3 on kvm-pvm): pass pointers, never bytes one at a time.
 */
#define PAYLOAD_PORT_CALL       0xe0
#define PAYLOAD_PORT_EXCEPTION  0xe4  /* the VMM's exception stubs (CPL0) only */

#define PAYLOAD_CALL_PRINT      1     /* rdi = string, rsi = length (<= PAYLOAD_PRINT_MAX) */
#define PAYLOAD_CALL_RESULT     2     /* rdi = NUL-terminated name ([a-z0-9_], < PAYLOAD_NAME_MAX), rsi = value */
#define PAYLOAD_CALL_EXIT       3     /* rdi = status (0-255): the whole VM ends now */
#define PAYLOAD_CALL_CPU_EXIT   4     /* rdi = status: this vCPU ends; the VM ends with the last one */
#define PAYLOAD_CALL_SLEEP      5     /* rdi = nanoseconds (<= PAYLOAD_SLEEP_MAX_NS): this vCPU idles in the
					 VMM; a pause or stop of the VM ends the sleep early */
#define PAYLOAD_SLEEP_MAX_NS    1000000000

#define PAYLOAD_PRINT_MAX       4096
#define PAYLOAD_NAME_MAX        64

/* Arguments (--arg KEY=VALUE) */
#define PAYLOAD_MAX_ARGS        32
#define PAYLOAD_ARG_KEY_MAX     32    /* bytes including the NUL */
#define PAYLOAD_ARG_STR_MAX     64    /* bytes including the NUL */
#define PAYLOAD_MAX_RANGES      4
#define PAYLOAD_MAX_CPUS        64

/* struct payload_header, byte offsets */
#define PH_MAGIC                0
#define PH_ABI_VERSION          8
#define PH_HEADER_SIZE          12
#define PH_LOAD_GPA             16
#define PH_ENTRY_GPA            24
#define PH_FILE_END_GPA         32
#define PH_MEM_END_GPA          40
#define PH_NAME_GPA             48
#define PH_ARGS_GPA             56
#define PH_FLAGS                64
#define PH_SIZE                 80

/* struct payload_boot_info, byte offsets */
#define BI_MAGIC                0
#define BI_VERSION              8
#define BI_SIZE                 12
#define BI_NR_CPUS              16
#define BI_GUEST_PAGE_SIZE      20
#define BI_TSC_KHZ              24
#define BI_RAM_BYTES            32
#define BI_STOP                 40
#define BI_NR_RANGES            48
#define BI_NR_ARGS              52
#define BI_RANGES               56    /* PAYLOAD_MAX_RANGES x { gpa, size_bytes } */
#define BI_RANGE_SIZE           16
#define BI_ARGS                 (BI_RANGES + PAYLOAD_MAX_RANGES * BI_RANGE_SIZE)
#define BI_ARG_KEY              0
#define BI_ARG_STR              32
#define BI_ARG_NUM              96
#define BI_ARG_IS_NUM           104
#define BI_ARG_SIZE             112
/*
 * The fork mailbox (docs/fork.md). In a forked child the VMM writes index,
 * the TSCs and, last, depth before the child's vCPUs run; a payload that
 * waits polls depth at CPL3 (no exit). waiting is the payload's: vCPUs now
 * polling (pl_fork_wait), which the host reads to know a template is ready.
 */
#define BI_FORK                 (BI_ARGS + PAYLOAD_MAX_ARGS * BI_ARG_SIZE)
#define BI_FORK_DEPTH           (BI_FORK + 0)   /* forks between the original VM and this one */
#define BI_FORK_INDEX           (BI_FORK + 8)   /* this VM's index among its parent's children, 0 = original */
#define BI_FORK_CMD_TSC         (BI_FORK + 16)  /* TSC (this VM's) when the fork command reached the VMM */
#define BI_FORK_RESUME_TSC      (BI_FORK + 24)  /* TSC just before the VMM released this child's vCPUs */
#define BI_FORK_WAITING         (BI_FORK + 32)  /* guest -> host: vCPUs waiting in pl_fork_wait */
#define BI_FORK_SIZE            64
#define BI_TOTAL_SIZE           (BI_FORK + BI_FORK_SIZE)
/* "THPVMBI\0" */
#define PAYLOAD_BOOT_MAGIC      0x0049424d56504854

#ifndef __ASSEMBLER__
#include <stdint.h>

struct payload_header {
	uint64_t magic;          /* PAYLOAD_MAGIC */
	uint32_t abi_version;    /* PAYLOAD_ABI_VERSION */
	uint32_t header_size;    /* PH_SIZE */
	uint64_t load_gpa;       /* PAYLOAD_LOAD_GPA: the image's first byte */
	uint64_t entry_gpa;      /* first instruction of every vCPU */
	uint64_t file_end_gpa;   /* load_gpa + the file's size */
	uint64_t mem_end_gpa;    /* end of bss; [file_end, mem_end) is zeroed */
	uint64_t name_gpa;       /* NUL-terminated name, inside the file */
	uint64_t args_gpa;       /* accepted argument keys "k1\0k2\0\0" inside the file, 0 = any */
	uint32_t flags;          /* PAYLOAD_F_* */
	uint32_t reserved0;
	uint64_t reserved[1];
};

struct payload_range {
	uint64_t gpa;
	uint64_t size_bytes;
};

struct payload_arg {
	char key[PAYLOAD_ARG_KEY_MAX];
	char str[PAYLOAD_ARG_STR_MAX];   /* the value as given */
	uint64_t num;                    /* the value as a number (1G, 0x10, 42), when is_num */
	uint32_t is_num;
	uint32_t reserved;
};

struct payload_fork_info {
	uint64_t depth;          /* forks between the original VM and this one; written last */
	uint64_t index;          /* 0: the original VM; i: child i of its parent */
	uint64_t cmd_tsc;        /* this VM's TSC when the fork command that made it reached the VMM */
	uint64_t resume_tsc;     /* this VM's TSC just before its vCPUs were released */
	uint64_t waiting;        /* written by the payload: vCPUs polling for a fork */
	uint64_t reserved[3];
};

/* At X86_PAYLOAD_BOOTINFO_GPA; every vCPU gets its address in rdi. */
struct payload_boot_info {
	uint64_t magic;          /* PAYLOAD_BOOT_MAGIC */
	uint32_t version;        /* PAYLOAD_ABI_VERSION */
	uint32_t size;           /* BI_TOTAL_SIZE */
	uint32_t nr_cpus;
	uint32_t guest_page_size;/* 4096 or 2 MiB: the leaves of the VMM's page tables */
	uint64_t tsc_khz;        /* 0 when KVM does not say */
	uint64_t ram_bytes;      /* all guest RAM */
	uint64_t stop;           /* the host writes 1 to ask a long-running payload to finish */
	uint32_t nr_ranges;
	uint32_t nr_args;
	struct payload_range ranges[PAYLOAD_MAX_RANGES]; /* memory free for the payload, 2 MiB aligned */
	struct payload_arg args[PAYLOAD_MAX_ARGS];
	struct payload_fork_info fork;  /* the fork mailbox */
};

_Static_assert(sizeof(struct payload_header) == PH_SIZE, "payload header layout");
_Static_assert(__builtin_offsetof(struct payload_header, flags) == PH_FLAGS, "payload header layout");
_Static_assert(__builtin_offsetof(struct payload_header, args_gpa) == PH_ARGS_GPA, "payload header layout");
_Static_assert(__builtin_offsetof(struct payload_boot_info, stop) == BI_STOP, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_boot_info, ranges) == BI_RANGES, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_boot_info, args) == BI_ARGS, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_arg, num) == BI_ARG_NUM, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_arg, is_num) == BI_ARG_IS_NUM, "boot info layout");
_Static_assert(sizeof(struct payload_arg) == BI_ARG_SIZE, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_boot_info, fork) == BI_FORK, "boot info layout");
_Static_assert(__builtin_offsetof(struct payload_fork_info, waiting) == BI_FORK_WAITING - BI_FORK, "boot info layout");
_Static_assert(sizeof(struct payload_fork_info) == BI_FORK_SIZE, "boot info layout");
_Static_assert(sizeof(struct payload_boot_info) == BI_TOTAL_SIZE, "boot info layout");
#endif

#endif
