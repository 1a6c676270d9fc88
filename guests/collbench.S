/* SPDX-License-Identifier: MIT */
/*
 * collbench: the guest's side of `thpvm bench collapse` (a template forked,
 * the child splits every extent, the collapse thread recovers it).
 *
 * vCPU 0 builds tlbbench's page-mode pointer cycle over `size` bytes
 * (default: the largest free range), warms it with one lap and times one
 * lap in chunks of 1024 dependent loads (before_median, before_p99,
 * before_max: chunk cycles). Then it waits for a fork (pl_fork_wait, idling
 * `idle_us` between looks). In a child it warms and times the same lap on
 * the shared memory (child_before_median, child_before_p99,
 * child_before_max), writes one byte into every 2 MiB extent of every free
 * range (split_extents, split_cycles: the copy-on-write split of all of
 * them), runs one untimed lap (fault_lap_cycles: KVM maps
 * the split memory with 4 KiB pages) and one timed lap (split_median,
 * split_p99, split_max), reports split_done=1, and then times one lap after
 * the other (round_tsc: the TSC at the lap's start, round_median,
 * round_p99, round_max) until the host sets stop, or `rounds` laps. Chunk
 * cycles / 1024 is cycles per access. The byte written is the last of the
 * extent's first page: never part of an element (the first 8 bytes of a
 * 64-byte line). Other vCPUs idle until stop.
 */
#include <payload_abi.h>
#include <chase.h>
#include <pl_asm.h>

#define EXTENT   0x200000


	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, 0

	.section .rodata
payload_name:	.asciz "collbench"
payload_args:
	.asciz "size"
	.asciz "seed"
	.asciz "idle_us"
	.asciz "rounds"
	.byte 0
key_size:	.asciz "size"
key_seed:	.asciz "seed"
key_idle:	.asciz "idle_us"
key_rounds:	.asciz "rounds"
msg_ready:	.asciz "collbench: waiting for a fork\n"
r_ws:		.asciz "ws_bytes"
r_elements:	.asciz "elements"
r_before_med:	.asciz "before_median"
r_before_p99:	.asciz "before_p99"
r_before_max:	.asciz "before_max"
r_index:	.asciz "fork_index"
r_cb_med:	.asciz "child_before_median"
r_cb_p99:	.asciz "child_before_p99"
r_cb_max:	.asciz "child_before_max"
r_split_ext:	.asciz "split_extents"
r_split_cyc:	.asciz "split_cycles"
r_fault_lap:	.asciz "fault_lap_cycles"
r_split_med:	.asciz "split_median"
r_split_p99:	.asciz "split_p99"
r_split_max:	.asciz "split_max"
r_split_done:	.asciz "split_done"
r_round_tsc:	.asciz "round_tsc"
r_round_med:	.asciz "round_median"
r_round_p99:	.asciz "round_p99"
r_round_max:	.asciz "round_max"
r_rounds:	.asciz "rounds"
	.balign 8
names_before:	.quad r_before_med, r_before_p99, r_before_max
names_cbefore:	.quad r_cb_med, r_cb_p99, r_cb_max
names_split:	.quad r_split_med, r_split_p99, r_split_max
names_round:	.quad r_round_med, r_round_p99, r_round_max

	.text
payload_main:
	PUSH_REGS CALLEE_SAVED
	sub $8, %rsp
	mov %rdi, bi(%rip)
	test %esi, %esi
	jne idle

	/* the working set at the start of the largest free range (guests/lib/chase.S) */
	lea key_size(%rip), %rdi
	call pl_chase_range
	mov %rax, %r12              /* base */
	mov %rdx, %r13
	shr $12, %r13               /* N elements, one per page */
	RESULT r_ws, %rdx
	RESULT r_elements, %r13
	ARG_NUM key_idle, $1000
	imul $1000, %rax
	mov %rax, idle_ns(%rip)
	ARG_NUM key_rounds, $0
	mov %rax, max_rounds(%rip)

	/* one random cycle, an element per page on its own line (tlbbench's, guests/lib/chase.S) */
	ARG_NUM key_seed, $1
	mov %rax, %r8
	mov %r12, %rdi
	mov %r13, %rsi
	mov $4096, %edx
	mov $0xfc0, %ecx
	call pl_chase_build
	mov %rax, cur(%rip)

	/* the template: warm, measure, wait */
	call lap
	lea names_before(%rip), %rdi
	call lap_timed
	lea msg_ready(%rip), %rdi
	call pl_puts
	call pl_fork_depth
	mov %rax, %rdi
	mov idle_ns(%rip), %rsi
	call pl_fork_wait
	test %rax, %rax
	je finish                   /* stop while waiting: not forked */
	RESULT r_index, %rax

	/* the child: the same lap on the shared memory (KVM maps it 2 MiB again on the warm lap) */
	call lap
	lea names_cbefore(%rip), %rdi
	call lap_timed
	/* one byte into every extent of every free range */
	call pl_rdtsc
	mov %rax, %r14
	xor %r15d, %r15d            /* extents */
	mov bi(%rip), %rax
	FIRST_RANGE %rax, %rsi, %ecx
5:	test %ecx, %ecx
	je 7f
	mov (%rsi), %rdi
	add $EXTENT - 1, %rdi
	and $-EXTENT, %rdi
	mov (%rsi), %rdx
	add 8(%rsi), %rdx           /* end */
6:	lea EXTENT(%rdi), %rax
	cmp %rdx, %rax
	ja 8f
	incb 0xfff(%rdi)
	inc %r15
	mov %rax, %rdi
	jmp 6b
8:	NEXT_RANGE %rsi, %ecx
	jmp 5b
7:	call pl_rdtsc
	sub %r14, %rax
	mov %rax, %r14
	RESULT r_split_ext, %r15
	RESULT r_split_cyc, %r14
	call pl_rdtsc
	mov %rax, %r14
	call lap
	call pl_rdtsc
	sub %r14, %rax
	RESULT r_fault_lap, %rax
	lea names_split(%rip), %rdi
	call lap_timed
	RESULT r_split_done, $1

	/* rounds until stop: the host watches the recovery in them */
	xor %r15d, %r15d
round:	call pl_stop_requested
	test %rax, %rax
	jne finish_rounds
	mov max_rounds(%rip), %rax
	test %rax, %rax
	je 9f
	cmp %rax, %r15
	jae finish_rounds
9:	call pl_rdtsc
	RESULT r_round_tsc, %rax
	lea names_round(%rip), %rdi
	call lap_timed
	inc %r15
	jmp round
finish_rounds:
	RESULT r_rounds, %r15
finish:
	xor %eax, %eax
	add $8, %rsp
	POP_REGS CALLEE_SAVED
	ret

/* Other vCPUs: idle in the VMM until stop (a fork takes every vCPU: none may have ended). */
idle:	call pl_stop_requested
	test %rax, %rax
	jne finish
	mov $1000000, %edi
	call pl_sleep
	jmp idle

/* lap: N dependent loads from cur (r13 = N) */
lap:
	mov cur(%rip), %rsi
	mov %r13, %rcx
1:	mov (%rsi), %rsi
	dec %rcx
	jne 1b
	mov %rsi, cur(%rip)
	ret

/*
 * lap_timed(rdi = three result names: median, p99, max): one lap (rounded up
 * to whole chunks, at most MAX_CHUNKS) in chunks of CHUNK_ACC loads, each
 * timed; reports the chunks' median, 99th percentile and maximum, in cycles.
 */
lap_timed:
	PUSH_REGS %rbp, %rbx, %r12
	mov %rdi, %r12
	lea CHUNK_ACC - 1(%r13), %rax
	shr $CHUNK_SHIFT, %rax
	cmp $MAX_CHUNKS, %rax
	jbe 1f
	mov $MAX_CHUNKS, %eax
1:	mov %rax, %rbx              /* chunks */
	mov cur(%rip), %rdi
	mov %rbx, %rsi
	lea chunks(%rip), %rdx
	call pl_chase_chunks
	mov %rax, cur(%rip)
	lea chunks(%rip), %rdi
	mov %rbx, %rsi
	call pl_sort_u64
	lea chunks(%rip), %r10
	mov %rbx, %rax
	shr $1, %rax
	mov (%r10,%rax,8), %rsi
	mov (%r12), %rdi
	call pl_result
	imul $99, %rbx, %rax
	xor %edx, %edx
	mov $100, %ecx
	div %rcx
	lea chunks(%rip), %r10
	mov (%r10,%rax,8), %rsi
	mov 8(%r12), %rdi
	call pl_result
	lea chunks(%rip), %r10
	mov -8(%r10,%rbx,8), %rsi
	mov 16(%r12), %rdi
	call pl_result
	POP_REGS %rbp, %rbx, %r12
	ret

	.bss
	.balign 8
bi:		.skip 8
cur:		.skip 8
idle_ns:	.skip 8
max_rounds:	.skip 8
chunks:		.skip 8 * MAX_CHUNKS
