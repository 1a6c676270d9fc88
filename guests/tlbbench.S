/* SPDX-License-Identifier: MIT */
/*
 * tlbbench: guest memory latency as the TLB sees it.
 *
 * A working set of `size` bytes (default: the largest free range) at the
 * start of the largest free range is cut into elements, one 64-byte line
 * per 4 KiB page (mode=page, default; the line's place in its page is
 * spread by a hash so pages do not pile onto one cache set) or every line
 * (mode=line). Sattolo's algorithm (seed) turns the elements into one
 * random cycle of pointers, built in place. After one warm lap, `laps`
 * laps of dependent loads (each load's address is the previous load's
 * value) are timed with the TSC, in chunks of 1024 loads; then a
 * sequential pass reads one word per line. Results: ws_bytes, elements,
 * stride, chase_cycles, chase_accesses (all laps), chase_chunks,
 * chase_chunk_accesses, chase_chunk_min_cycles, chase_chunk_median_cycles
 * (per chunk: the median is immune to the host preempting the vCPU),
 * seq_cycles, seq_accesses. Only vCPU 0 works; the others finish at once.
 */
#include <payload_abi.h>
#include <chase.h>
#include <pl_asm.h>


	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, 0

	.section .rodata
payload_name:	.asciz "tlbbench"
payload_args:
	.asciz "size"
	.asciz "mode"
	.asciz "laps"
	.asciz "seed"
	.byte 0
key_size:	.asciz "size"
key_mode:	.asciz "mode"
key_laps:	.asciz "laps"
key_seed:	.asciz "seed"
why_mode:	.asciz "' must be page or line\n"
msg_start:	.asciz "tlbbench: building the pointer chain\n"
msg_done:	.asciz "tlbbench: done\n"
r_ws:		.asciz "ws_bytes"
r_elements:	.asciz "elements"
r_stride:	.asciz "stride"
r_chase_cycles:	.asciz "chase_cycles"
r_chase_acc:	.asciz "chase_accesses"
r_seq_cycles:	.asciz "seq_cycles"
r_seq_acc:	.asciz "seq_accesses"
r_chunks:	.asciz "chase_chunks"
r_chunk_acc:	.asciz "chase_chunk_accesses"
r_chunk_min:	.asciz "chase_chunk_min_cycles"
r_chunk_median:	.asciz "chase_chunk_median_cycles"
	.balign 8
/* mode=: the stride, a page per element (default) or a line per element */
modes:	CHOICE page, 4096
	CHOICE line, 64
	CHOICES_END 4096

/* stack slots */
#define SIZE    0
#define LAPS    8
#define SEED    16
#define ACC     24
#define T0      32
#define NCHUNKS 40


	.text
payload_main:
	PUSH_REGS CALLEE_SAVED
	sub $56, %rsp
	xor %eax, %eax
	test %esi, %esi
	jne out                     /* one vCPU is enough */

	/* the working set at the start of the largest free range (guests/lib/chase.S) */
	lea key_size(%rip), %rdi
	call pl_chase_range
	mov %rax, %r12              /* base */
	mov %rdx, SIZE(%rsp)

	ARG_CHOICE key_mode, modes, why_mode
	mov %rax, %r14              /* stride */
	/* line-in-slot mask: any line of a page (0xfc0), only the first of a line-sized slot (0) */
	lea -1(%r14), %r15
	and $-64, %r15
	ARG_NUM key_laps, $4
	test %rax, %rax
	jne 6f
	inc %rax
6:	mov %rax, LAPS(%rsp)
	ARG_NUM key_seed, $1
	mov %rax, SEED(%rsp)

	mov SIZE(%rsp), %rax
	xor %edx, %edx
	div %r14
	mov %rax, %r13              /* N elements */

	RESULT r_ws, SIZE(%rsp)
	RESULT r_elements, %r13
	RESULT r_stride, %r14
	lea msg_start(%rip), %rdi
	call pl_puts

	/* one random cycle over the elements (guests/lib/chase.S) */
	mov %r12, %rdi
	mov %r13, %rsi
	mov %r14, %rdx
	mov %r15, %rcx
	mov SEED(%rsp), %r8
	call pl_chase_build

	/* one warm lap: TLB, caches and KVM's mappings see every element once */
	mov %rax, %rsi
	mov %r13, %rcx
warm:	mov (%rsi), %rsi
	dec %rcx
	jne warm

	/*
	 * Timed laps in chunks of CHUNK_ACC loads, each chunk timed on its
	 * own: the TSC counts wall time, so a chunk during which the host
	 * ran something else is slow; the median chunk is not.
	 */
	mov LAPS(%rsp), %rax
	imul %r13, %rax
	add $CHUNK_ACC - 1, %rax
	shr $CHUNK_SHIFT, %rax
	cmp $MAX_CHUNKS, %rax
	jbe 1f
	mov $MAX_CHUNKS, %eax
1:	mov %rax, NCHUNKS(%rsp)
	shl $CHUNK_SHIFT, %rax
	mov %rax, ACC(%rsp)
	call pl_rdtsc
	mov %rax, T0(%rsp)
	mov %rsi, %rdi              /* where the warm lap ended */
	mov NCHUNKS(%rsp), %rsi
	lea chunks(%rip), %rdx
	call pl_chase_chunks
	call pl_rdtsc
	sub T0(%rsp), %rax
	RESULT r_chase_cycles, %rax
	RESULT r_chase_acc, ACC(%rsp)

	/* sorted chunk times: min and median */
	lea chunks(%rip), %rdi
	mov NCHUNKS(%rsp), %rsi
	call pl_sort_u64
	RESULT r_chunks, NCHUNKS(%rsp)
	RESULT r_chunk_acc, $CHUNK_ACC
	RESULT r_chunk_min, chunks(%rip)
	mov NCHUNKS(%rsp), %rax
	shr $1, %rax
	lea chunks(%rip), %r10
	mov (%r10,%rax,8), %rsi
	RESULT r_chunk_median

	/* sequential pass: one load per line */
	call pl_rdtsc
	mov %rax, T0(%rsp)
	mov %r12, %rsi
	mov %r12, %rdi
	add SIZE(%rsp), %rdi
	xor %r8d, %r8d
seq:	add (%rsi), %r8
	add $64, %rsi
	cmp %rdi, %rsi
	jb seq
	call pl_rdtsc
	sub T0(%rsp), %rax
	RESULT r_seq_cycles, %rax
	mov SIZE(%rsp), %rsi
	shr $6, %rsi
	RESULT r_seq_acc
	lea msg_done(%rip), %rdi
	call pl_puts
	xor %eax, %eax
out:
	add $56, %rsp
	POP_REGS CALLEE_SAVED
	ret

	.bss
	.balign 8
chunks:	.skip 8 * MAX_CHUNKS
