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
s_page:		.asciz "page"
s_line:		.asciz "line"
why_mode:	.asciz "' must be page or line\n"
why_size:	.asciz "' must be at least 4096 and fit the largest free memory range\n"
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

/* stack slots */
#define SIZE    0
#define LAPS    8
#define SEED    16
#define ACC     24
#define T0      32
#define NCHUNKS 40


	.text
payload_main:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	sub $56, %rsp
	xor %eax, %eax
	test %esi, %esi
	jne out                     /* one vCPU is enough */

	/* the largest free range: gpa in r13, size in r14 */
	call pl_largest_range
	mov %rax, %r13
	mov %rdx, %r14
	lea key_size(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	test %rax, %rax
	jne 4f
	mov %r14, %rax
4:	and $-4096, %rax
	je bad_size
	cmp %r14, %rax
	ja bad_size
	mov %rax, SIZE(%rsp)

	mov $4096, %r14             /* stride */
	mov $0xfc0, %r15            /* line-in-page mask */
	lea key_mode(%rip), %rdi
	call pl_arg_str
	test %rax, %rax
	je 5f
	mov %rax, %rbx
	mov %rbx, %rdi
	lea s_page(%rip), %rsi
	call pl_streq
	test %eax, %eax
	jne 5f
	mov %rbx, %rdi
	lea s_line(%rip), %rsi
	call pl_streq
	test %eax, %eax
	je bad_mode
	mov $64, %r14
	xor %r15d, %r15d
5:
	lea key_laps(%rip), %rdi
	mov $4, %esi
	call pl_arg_num
	test %rax, %rax
	jne 6f
	inc %rax
6:	mov %rax, LAPS(%rsp)
	lea key_seed(%rip), %rdi
	mov $1, %esi
	call pl_arg_num
	mov %rax, SEED(%rsp)

	mov %r13, %r12              /* base */
	mov SIZE(%rsp), %rax
	xor %edx, %edx
	div %r14
	mov %rax, %r13              /* N elements */

	lea r_ws(%rip), %rdi
	mov SIZE(%rsp), %rsi
	call pl_result
	lea r_elements(%rip), %rdi
	mov %r13, %rsi
	call pl_result
	lea r_stride(%rip), %rdi
	mov %r14, %rsi
	call pl_result
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
	lea r_chase_cycles(%rip), %rdi
	mov %rax, %rsi
	call pl_result
	lea r_chase_acc(%rip), %rdi
	mov ACC(%rsp), %rsi
	call pl_result

	/* sorted chunk times: min and median */
	lea chunks(%rip), %rdi
	mov NCHUNKS(%rsp), %rsi
	call pl_sort_u64
	mov NCHUNKS(%rsp), %r9
	lea r_chunks(%rip), %rdi
	mov %r9, %rsi
	call pl_result
	lea r_chunk_acc(%rip), %rdi
	mov $CHUNK_ACC, %esi
	call pl_result
	lea r_chunk_min(%rip), %rdi
	mov chunks(%rip), %rsi
	call pl_result
	mov NCHUNKS(%rsp), %rax
	shr $1, %rax
	lea chunks(%rip), %r10
	lea r_chunk_median(%rip), %rdi
	mov (%r10,%rax,8), %rsi
	call pl_result

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
	lea r_seq_cycles(%rip), %rdi
	mov %rax, %rsi
	call pl_result
	lea r_seq_acc(%rip), %rdi
	mov SIZE(%rsp), %rsi
	shr $6, %rsi
	call pl_result
	lea msg_done(%rip), %rdi
	call pl_puts
	xor %eax, %eax
out:
	add $56, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

bad_size:
	lea key_size(%rip), %rdi
	lea why_size(%rip), %rsi
	jmp pl_bad_arg
bad_mode:
	lea key_mode(%rip), %rdi
	lea why_mode(%rip), %rsi
	jmp pl_bad_arg

	.bss
	.balign 8
chunks:	.skip 8 * MAX_CHUNKS
