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
#include <chase.h>
#include <pl_asm.h>

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
 * void *pl_chase_range(const char *key): where a chain goes, the start of
 * the largest free range, in rax, and its bytes in rdx: the argument key
 * (not given or 0: the whole range) rounded down to 4 KiB. Less than one
 * page, or more than the range, ends the VM with status 2.
 */
	.globl pl_chase_range
pl_chase_range:
	push %rdi
	mov pl_boot_info(%rip), %rdi
	call pl_largest_range
	pop %rdi
	push %rax
	mov %rdx, %rsi
	lea why_size(%rip), %rdx
	call pl_arg_bytes
	mov %rax, %rdx
	pop %rax
	ret

/*
 * void *pl_chase_build(void *base, uint64_t n, uint64_t stride, uint64_t mask, uint64_t seed):
 * each element ends up holding the address of the next; returns element 0's
 * address (base), where a lap starts. n >= 1.
 */
	.globl pl_chase_build
pl_chase_build:
	PUSH_REGS CALLEE_SAVED
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
	POP_REGS CALLEE_SAVED
	ret

/*
 * void *pl_chase_chunks(void *cur, uint64_t nchunks, uint64_t *cycles):
 * follows the chain from cur for nchunks chunks of CHUNK_ACC dependent
 * loads, each timed on its own with the TSC into cycles[i] (the TSC counts
 * wall time: a chunk during which the host ran something else is slow, the
 * median chunk is not); returns where the chain stopped. nchunks >= 1.
 */
	.globl pl_chase_chunks
pl_chase_chunks:
	PUSH_REGS %rbx, %rbp, %r12, %r13, %r14
	mov %rdi, %r12              /* cursor */
	mov %rsi, %r13
	mov %rdx, %r14
	xor %ebx, %ebx
1:	call pl_rdtsc
	mov %rax, %r8
	mov %r12, %rsi
	mov $CHUNK_ACC / 8, %ebp
2:	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	mov (%rsi), %rsi
	dec %rbp
	jne 2b
	mov %rsi, %r12
	call pl_rdtsc
	sub %r8, %rax
	mov %rax, (%r14,%rbx,8)
	inc %rbx
	cmp %r13, %rbx
	jb 1b
	mov %r12, %rax
	POP_REGS %rbx, %rbp, %r12, %r13, %r14
	ret

/* void pl_sort_u64(uint64_t *v, uint64_t n): ascending, insertion sort (n is at most MAX_CHUNKS) */
	.globl pl_sort_u64
pl_sort_u64:
	mov $1, %ecx
1:	cmp %rsi, %rcx
	jae 4f
	mov (%rdi,%rcx,8), %rax
	mov %rcx, %rdx
2:	test %rdx, %rdx
	je 3f
	mov -8(%rdi,%rdx,8), %r8
	cmp %rax, %r8
	jbe 3f
	mov %r8, (%rdi,%rdx,8)
	dec %rdx
	jmp 2b
3:	mov %rax, (%rdi,%rdx,8)
	inc %rcx
	jmp 1b
4:	ret

	.section .rodata
why_size:
	.asciz "' must be at least 4096 and fit the largest free memory range\n"
