/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical layout of an x86-64 thpvm guest: every fixed address in one
 * place. Low memory follows the PC conventions Linux expects (and what
 * Firecracker and kvmtool use), so the same layout serves payload and Linux
 * guests.
 */
#ifndef THPVM_X86_LAYOUT_H
#define THPVM_X86_LAYOUT_H

/* Low memory: boot structures below the EBDA */
#define X86_BOOT_GDT_GPA        0x500ULL     /* boot GDT, 16 entries */
#define X86_BOOT_GDT_SIZE       0x80ULL
#define X86_BOOT_IDT_GPA        0x580ULL     /* empty IDT for Linux entry */
#define X86_PVH_START_INFO_GPA  0x6000ULL    /* hvm_start_info (PVH boot) */
#define X86_PVH_MODLIST_GPA     0x6040ULL
#define X86_PVH_MEMMAP_GPA      0x6100ULL    /* hvm_memmap_table_entry[] */
#define X86_ZERO_PAGE_GPA       0x7000ULL    /* struct boot_params (bzImage boot) */
/* a multiboot kernel's information takes the PVH structures' place: info, module list, memory map */
#define X86_MB_INFO_GPA         X86_PVH_START_INFO_GPA /* 68 bytes */
#define X86_MB_MODS_GPA         0x6080ULL    /* 12 modules, 16 bytes each */
#define X86_MB_MMAP_GPA         0x6200ULL    /* up to 128 entries of 24 bytes, below the zero page */
#define X86_MB_STRINGS_GPA      0x30000ULL   /* the modules' strings and the boot loader's name */
#define X86_MB_STRINGS_SIZE     0x8000ULL
#define X86_BOOT_STACK_GPA      0x8ff0ULL    /* initial RSP for Linux entry */
#define X86_BOOT_PT_GPA         0x9000ULL    /* boot page tables: PML4, PDPT, PDs ... */
#define X86_BOOT_PT_SIZE        0x10000ULL   /* up to 16 tables */
#define X86_CMDLINE_GPA         0x20000ULL   /* kernel command line */
#define X86_CMDLINE_MAX         0x10000ULL   /* bytes, including the NUL */
#define X86_EBDA_GPA            0x9fc00ULL   /* MP table lives here */
#define X86_EBDA_END            0x100000ULL  /* VGA hole and BIOS ROM up to 1 MiB: e820 reserved */
#define X86_MPTABLE_GPA         X86_EBDA_GPA
#define X86_ACPI_GPA            0xe0000ULL   /* ACPI tables (acpi.c), where Linux scans for the RSDP */

/* The kernel is loaded at 1 MiB (bzImage protected-mode code, vmlinux PT_LOAD) */
#define X86_HIMEM_GPA           0x100000ULL

/* The 32-bit MMIO hole: RAM stops at 3.25 GiB and resumes at 4 GiB */
#define X86_MMIO_HOLE_GPA       0xd0000000ULL
#define X86_MMIO_HOLE_END       0x100000000ULL
/*
 * virtio-mmio windows, 4 KiB apart from the hole's start, and their ISA
 * IRQs: the ones a PC with COM1, the i8042, the PIT and the RTC leaves free
 * (edge-triggered, one a device: no sharing)
 */
#define X86_VIRTIO_MMIO_GPA     X86_MMIO_HOLE_GPA
#define X86_VIRTIO_MMIO_STRIDE  0x1000ULL
#define X86_VIRTIO_MAX_DEVICES  8
#define X86_VIRTIO_IRQS         { 5, 6, 7, 9, 10, 11, 14, 15 }
#define X86_IOAPIC_GPA          0xfec00000ULL
#define X86_LAPIC_GPA           0xfee00000ULL
#define X86_RAM_HIGH_GPA        X86_MMIO_HOLE_END
/* KVM's private pages (VMX without unrestricted guest), in the hole where QEMU puts them */
#define X86_KVM_IDENTITY_MAP_GPA 0xfeffc000ULL /* KVM_SET_IDENTITY_MAP_ADDR: one page */
#define X86_KVM_TSS_GPA          0xfeffd000ULL /* KVM_SET_TSS_ADDR: three pages */

/* Legacy I/O ports */
#define X86_PORT_PIC_MASTER     0x20
#define X86_PORT_PIT            0x40
#define X86_PORT_I8042_DATA     0x60
#define X86_PORT_I8042_CMD      0x64
#define X86_I8042_KBD_IRQ       1
#define X86_I8042_AUX_IRQ       12
#define X86_PORT_CMOS           0x70
#define X86_PORT_PIC_SLAVE      0xa0
#define X86_PORT_COM1           0x3f8
#define X86_COM1_IRQ            4
#define X86_PORT_DEBUG_EXIT     0x501        /* like QEMU's isa-debug-exit */
#define X86_PORT_DEBUG_EXIT_MB  0xf4         /* QEMU's isa-debug-exit default: multiboot test kernels use it */

/*
 * Payload guests (docs/payload-abi.md). The first 2 MiB are the VMM's and
 * mapped supervisor-only, so a payload (CPL3) can neither corrupt them nor
 * dereference NULL; page tables sit at the top of RAM, also supervisor-only.
 */
#define X86_PAYLOAD_SYS_SIZE       0x200000ULL  /* [0, 2 MiB): GDT, IDT, TSSs, stubs, exception stacks */
#define X86_PAYLOAD_GDT_GPA        0x1000ULL    /* null, kernel code/data, user code/data, one TSS per vCPU */
#define X86_PAYLOAD_IDT_GPA        0x2000ULL    /* 256 gates */
#define X86_PAYLOAD_EXC_STUBS_GPA  0x3000ULL    /* 32 exception stubs, 16 bytes each */
#define X86_PAYLOAD_TSS_GPA        0x4000ULL    /* one TSS + I/O bitmap per vCPU */
#define X86_PAYLOAD_TSS_STRIDE     0x100ULL
#define X86_PAYLOAD_EXC_STACK_GPA  0x10000ULL   /* one exception stack per vCPU */
#define X86_PAYLOAD_EXC_STACK_SIZE 0x1000ULL
#define X86_PAYLOAD_BOOTINFO_GPA   0x200000ULL  /* struct payload_boot_info, user readable */
#define X86_PAYLOAD_STACKS_GPA     0x300000ULL  /* one stack per vCPU, growing down from base + (i+1) * size */
#define X86_PAYLOAD_STACK_SIZE     0x4000ULL
#define X86_PAYLOAD_IMAGE_GPA      0x400000ULL  /* PAYLOAD_LOAD_GPA: where the flat binary is loaded */
#define X86_PAYLOAD_IMAGE_MAX      0x400000ULL  /* image including bss */
#define X86_PAYLOAD_HEAP_GPA       0x800000ULL  /* payload-owned RAM starts here */
#define X86_PAYLOAD_MIN_RAM        0x1000000ULL /* 16 MiB: the above, page tables and some heap */
/* Mapped user-accessible in the guest tables but not RAM: accesses exit to the VMM as MMIO. */
#define X86_PAYLOAD_MMIO_PROBE_GPA X86_MMIO_HOLE_GPA
#define X86_PAYLOAD_MMIO_PROBE_SIZE 0x200000ULL

#endif
