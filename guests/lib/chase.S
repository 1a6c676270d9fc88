/* SPDX-License-Identifier: MIT */
/*
 * The pointer chain tlbbench and collbench chase: n elements, element i at
 * base + i * stride + (((i * GOLDEN) >> 52) & mask) (mask 0xfc0 puts each
 * page's element on a different cache line, so lines do not alias in the
 * cache; 0 keeps them at the start of their slot). Sattolo's shuffle links
 * them into one random cycle: every element is visited once per lap, and no
 * hardware prefetcher can guess the next. System V convention.
 */
#include <payload_abi.h>

#define GOLDEN 0x9e3779b97f4a7c15
#define XS_MUL 0x2545f4914f6cdd1d

/* \out = r12 + \i * r14 + (((\i * rbx) >> 52) & r15); clobbers \tmp */
	.macro ELEM_ADDR out, i, tmp
	mov \i, \tmp
	imul %rbx, \tmp
	shr $52, \tmp
	and %r15, \tmp
	mov \i, \out
	imul %r14, \out
	add %r12, \out
	add \tmp, \out
	.endm

	.text

/*
 * void *pl_chase_build(void *base, uint64_t n, uint64_t stride, uint64_t mask, uint64_t seed):
 * each element ends up holding the address of the next; returns element 0's
 * address (base), where a lap starts. n >= 1.
 */
	.globl pl_chase_build
pl_chase_build:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rdi, %r12
	mov %rsi, %r13
	mov %rdx, %r14
	mov %rcx, %r15
	movabs $GOLDEN, %rbx

	/* element i holds i */
	xor %ebp, %ebp
1:	ELEM_ADDR %rsi, %rbp, %rcx
	mov %rbp, (%rsi)
	inc %rbp
	cmp %r13, %rbp
	jb 1b

	/* Sattolo: for i = n-1 .. 1, swap(e[i], e[j]) with j uniform in [0, i): one cycle */
	imul %rbx, %r8
	or $1, %r8                  /* xorshift state must not be 0 */
	movabs $XS_MUL, %r10
	mov %r13, %rbp
	dec %rbp
2:	test %rbp, %rbp
	je 3f
	mov %r8, %rax
	shr $12, %rax
	xor %rax, %r8
	mov %r8, %rax
	shl $25, %rax
	xor %rax, %r8
	mov %r8, %rax
	shr $27, %rax
	xor %rax, %r8
	mov %r8, %rax
	imul %r10, %rax
	mul %rbp                    /* rdx = (rand * i) >> 64, in [0, i) */
	ELEM_ADDR %rsi, %rbp, %rcx
	ELEM_ADDR %rdi, %rdx, %rcx
	mov (%rsi), %rax
	mov (%rdi), %rcx
	mov %rcx, (%rsi)
	mov %rax, (%rdi)
	dec %rbp
	jmp 2b

	/* indices to addresses */
3:	xor %ebp, %ebp
4:	ELEM_ADDR %rsi, %rbp, %rcx
	mov (%rsi), %rdx
	ELEM_ADDR %rdi, %rdx, %rcx
	mov %rdi, (%rsi)
	inc %rbp
	cmp %r13, %rbp
	jb 4b

	mov %r12, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
