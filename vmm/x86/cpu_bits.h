/* SPDX-License-Identifier: MIT */
/* x86 control register, EFER and RFLAGS bits (SDM vol. 3, 2.5), for every guest's boot CPU state. */
#ifndef THPVM_X86_CPU_BITS_H
#define THPVM_X86_CPU_BITS_H

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define RFLAGS_FIXED (1ULL << 1)  /* always 1; with IF clear, interrupts are off */
#define RFLAGS_IOPL3 (3ULL << 12)

#endif
