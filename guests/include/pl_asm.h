/* SPDX-License-Identifier: MIT */
/*
 * Assembler macros the payload cores and guests/lib share (GNU as through
 * cpp; never included from C). They only spell out the sequences every
 * payload repeats: saving registers, the pl_* calls with their arguments
 * loaded, the splitmix64 step. Register use is the System V convention of
 * guests/lib/util.S.
 */
#ifndef THPVM_GUEST_PL_ASM_H
#define THPVM_GUEST_PL_ASM_H

#ifndef __ASSEMBLER__
#error "pl_asm.h is for assembler sources only"
#endif

#include <payload_abi.h>

/* 2^64 / golden ratio: splitmix64's increment, and the chase's slot hash (guests/lib/chase.S) */
#define GOLDEN 0x9e3779b97f4a7c15

/*
 * All six callee-saved registers, for a payload_main that uses them all.
 * Six pushes and the return address leave rsp 8 bytes off 16: such a
 * frame reserves 8 mod 16 bytes more so that calls see an aligned stack.
 */
#define CALLEE_SAVED %rbx, %rbp, %r12, %r13, %r14, %r15

/* push regs in the order given */
	.macro PUSH_REGS regs:vararg
	.irp r, \regs
	push \r
	.endr
	.endm

/* pop the list a PUSH_REGS pushed, in reverse: one list serves both ends of a frame */
	.macro POP_REGS r, regs:vararg
	.ifnb \regs
	POP_REGS \regs
	.endif
	pop \r
	.endm

/*
 * pl_result(name, value): name is a label; value any source of a 64-bit
 * mov, or nothing when rsi already holds it; reg = %esi for a 32-bit field
 * (zero-extended into rsi).
 */
	.macro RESULT name, value, reg=%rsi
	lea \name(%rip), %rdi
	.ifnb \value
	mov \value, \reg
	.endif
	call pl_result
	.endm

/* rax = fn(key, dflt): pl_arg_num, or a routine with its arguments (a 32-bit default) */
	.macro ARG_NUM key, dflt, fn=pl_arg_num
	lea \key(%rip), %rdi
	mov \dflt, %esi
	call \fn
	.endm

/* tail call pl_bad_arg(key, why): "payload: argument 'KEY' WHY", the VM ends with status 2 */
	.macro BAD_ARG key, why
	lea \key(%rip), %rdi
	lea \why(%rip), %rsi
	jmp pl_bad_arg
	.endm

/*
 * A table for pl_arg_choice (guests/lib/util.S): CHOICE lines, each an
 * accepted value (its string goes to .rodata's subsection 1, away from the
 * table) and the 64-bit value it stands for, then CHOICES_END with the
 * value for an argument not given. Keeps the table 8-byte aligned.
 */
	.macro CHOICE name, value
	.pushsection .rodata, 1
.Lchoice_\@:
	.asciz "\name"
	.popsection
	.balign 8
	.quad .Lchoice_\@, \value
	.endm

	.macro CHOICES_END dflt
	.quad 0, \dflt
	.endm

/* rax = pl_arg_choice(key, table, why): the CHOICE value the argument names; another value ends the VM */
	.macro ARG_CHOICE key, table, why
	lea \key(%rip), %rdi
	lea \table(%rip), %rsi
	lea \why(%rip), %rdx
	call pl_arg_choice
	.endm

/*
 * Walking the boot info's free ranges: FIRST_RANGE points ptr at the
 * first { gpa, size_bytes } and puts the number of ranges in count (a
 * 32-bit register); NEXT_RANGE steps to the next one. The loop between
 * them ends when count reaches 0.
 */
	.macro FIRST_RANGE bi, ptr, count
	mov BI_NR_RANGES(\bi), \count
	lea BI_RANGES(\bi), \ptr
	.endm

	.macro NEXT_RANGE ptr, count
	add $BI_RANGE_SIZE, \ptr
	dec \count
	.endm

/*
 * splitmix64's finaliser, inlined where a call per word would cost: x =
 * mix64(x) as pl_mix64 computes it (tests/lib/helpers.c), bit for bit;
 * tmp is clobbered. MIX64_CONSTS loads the three constants it multiplies
 * and adds by into r8, r9, r10 once, outside the loop.
 */
	.macro MIX64_CONSTS
	movabs $GOLDEN, %r8
	movabs $0xbf58476d1ce4e5b9, %r9
	movabs $0x94d049bb133111eb, %r10
	.endm

	.macro MIX64 x, tmp
	add %r8, \x
	mov \x, \tmp
	shr $30, \tmp
	xor \tmp, \x
	imul %r9, \x
	mov \x, \tmp
	shr $27, \tmp
	xor \tmp, \x
	imul %r10, \x
	mov \x, \tmp
	shr $31, \tmp
	xor \tmp, \x
	.endm

#endif
