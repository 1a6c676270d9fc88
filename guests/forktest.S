/* SPDX-License-Identifier: MIT */
/*
 * forktest: the guest's side of snapshot-fork (docs/fork.md). vCPU 0 waits
 * for a fork with pl_fork_wait (polling the boot info's fork mailbox at
 * CPL3, idling `idle_us` between looks); in a child it reads the TSC first
 * thing, reports how long ago the fork command was and does the mode's work.
 * Other vCPUs only wait (so the VM can always be forked whole).
 *
 * Modes (mode=):
 *   latency  (default) nothing more: fork_latency_cycles is the point
 *   touch    write one word in every even 2 MiB extent of free memory, read
 *            one word of every odd one (copy-on-write splits the written
 *            extents only; the read ones stay 2 MiB-mapped)
 *   density  write one word in `percent` % of the free pages (picked by
 *            pattern_word(page, 0, seed + index, 512) % 100 < percent)
 *   cow      in `extents` extents spread over free memory: time the first
 *            write (shared extent: split + 4 KiB copy), a write to the next
 *            page (4 KiB copy) and a rewrite of the first page (no fault)
 *   compute  every vCPU-0 cycle in a register loop of `iterations` steps,
 *            x = mix64(x ^ i) with a running sum in xmm0, no waiting: a fork
 *            at any point must give the same result in parent and children
 * After the work (then=): exit (default, status 0) or wait (for stop, or a
 * further fork whose child does the work again). The original VM exits 0
 * when the host sets stop.
 * Results: fork_index, fork_depth, fork_first_tsc, fork_latency_cycles (TSC
 * at the child's first look minus the fork command's), fork_resume_cycles
 * (minus the moment its vCPUs were released), then per mode
 * extents_written / extents_read, pages_written, cow_first_cycles /
 * cow_next_cycles / cow_rewrite_cycles (one result per extent), compute /
 * compute_xmm.
 */
#include <payload_abi.h>

#define EXTENT 0x200000

	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, 0

	.section .rodata
payload_name:	.asciz "forktest"
payload_args:
	.asciz "mode"
	.asciz "then"
	.asciz "idle_us"
	.asciz "percent"
	.asciz "seed"
	.asciz "extents"
	.asciz "iterations"
	.byte 0
key_mode:	.asciz "mode"
key_then:	.asciz "then"
key_idle:	.asciz "idle_us"
key_percent:	.asciz "percent"
key_seed:	.asciz "seed"
key_extents:	.asciz "extents"
key_iterations:	.asciz "iterations"
s_latency:	.asciz "latency"
s_touch:	.asciz "touch"
s_density:	.asciz "density"
s_cow:		.asciz "cow"
s_compute:	.asciz "compute"
s_exit:		.asciz "exit"
s_wait:		.asciz "wait"
why_mode:	.asciz "' must be latency, touch, density, cow or compute\n"
why_then:	.asciz "' must be exit or wait\n"
why_percent:	.asciz "' must be 0-100\n"
why_extents:	.asciz "' must be 1 or more, and fit in free memory (2 pages per 2 MiB extent)\n"
r_index:	.asciz "fork_index"
r_depth:	.asciz "fork_depth"
r_first:	.asciz "fork_first_tsc"
r_latency:	.asciz "fork_latency_cycles"
r_resume:	.asciz "fork_resume_cycles"
r_written_ext:	.asciz "extents_written"
r_read_ext:	.asciz "extents_read"
r_pages:	.asciz "pages_written"
r_cow_first:	.asciz "cow_first_cycles"
r_cow_next:	.asciz "cow_next_cycles"
r_cow_rewrite:	.asciz "cow_rewrite_cycles"
r_compute:	.asciz "compute"
r_compute_xmm:	.asciz "compute_xmm"

	.text

/* rax = 1 when string r13 equals rsi */
	.macro IS str
	mov %r13, %rdi
	lea \str(%rip), %rsi
	call pl_streq
	.endm

payload_main:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	mov %rdi, %r12              /* boot info */
	mov %esi, %ebx              /* cpu */
	call pl_fork_depth
	mov %rax, %r14              /* depth seen last */
	lea key_idle(%rip), %rdi
	mov $1000, %esi
	call pl_arg_num
	imul $1000, %rax, %rax
	mov %rax, idle_ns(%rip)
	test %ebx, %ebx
	jne other_cpu

	/* mode, checked up front */
	lea key_mode(%rip), %rdi
	call pl_arg_str
	mov %rax, %r13
	lea do_latency(%rip), %rbp
	test %rax, %rax
	je 1f
	IS s_latency
	test %eax, %eax
	jne 1f
	lea do_touch(%rip), %rbp
	IS s_touch
	test %eax, %eax
	jne 1f
	lea do_density(%rip), %rbp
	IS s_density
	test %eax, %eax
	jne 1f
	lea do_cow(%rip), %rbp
	IS s_cow
	test %eax, %eax
	jne 1f
	IS s_compute
	test %eax, %eax
	jne do_compute
	lea key_mode(%rip), %rdi
	lea why_mode(%rip), %rsi
	jmp pl_bad_arg
1:	/* then= */
	movb $0, then_wait(%rip)
	lea key_then(%rip), %rdi
	call pl_arg_str
	test %rax, %rax
	je 3f
	mov %rax, %r13
	IS s_wait
	test %eax, %eax
	je 2f
	movb $1, then_wait(%rip)
	jmp 3f
2:	IS s_exit
	test %eax, %eax
	jne 3f
	lea key_then(%rip), %rdi
	lea why_then(%rip), %rsi
	jmp pl_bad_arg
3:	lea key_percent(%rip), %rdi
	mov $1, %esi
	call pl_arg_num
	cmp $100, %rax
	ja bad_percent
	mov %rax, percent(%rip)
	lea key_seed(%rip), %rdi
	mov $1, %esi
	call pl_arg_num
	mov %rax, seed(%rip)
	lea key_extents(%rip), %rdi
	mov $64, %esi
	call pl_arg_num
	test %rax, %rax
	je bad_extents
	mov %rax, nr_extents(%rip)

wait_fork:
	mov %r14, %rdi
	mov idle_ns(%rip), %rsi
	call pl_fork_wait
	test %rax, %rax
	je the_end                  /* stop */
	mov %rdx, %r15              /* TSC first thing in the child */
	mov %rax, fork_index(%rip)
	call pl_fork_depth
	mov %rax, %r14
	lea r_index(%rip), %rdi
	mov fork_index(%rip), %rsi
	call pl_result
	lea r_depth(%rip), %rdi
	mov %r14, %rsi
	call pl_result
	lea r_first(%rip), %rdi
	mov %r15, %rsi
	call pl_result
	lea r_latency(%rip), %rdi
	mov %r15, %rsi
	sub BI_FORK_CMD_TSC(%r12), %rsi
	call pl_result
	lea r_resume(%rip), %rdi
	mov %r15, %rsi
	sub BI_FORK_RESUME_TSC(%r12), %rsi
	call pl_result
	call *%rbp
	cmpb $0, then_wait(%rip)
	jne wait_fork
the_end:
	xor %edi, %edi
	call pl_exit

/* other vCPUs: wait through every generation; vCPU 0 ends the VM */
other_cpu:
	mov %r14, %rdi
	mov idle_ns(%rip), %rsi
	call pl_fork_wait
	test %rax, %rax
	je 1f
	call pl_fork_depth
	mov %rax, %r14
	jmp other_cpu
1:	xor %eax, %eax
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

bad_percent:
	lea key_percent(%rip), %rdi
	lea why_percent(%rip), %rsi
	jmp pl_bad_arg
bad_extents:
	lea key_extents(%rip), %rdi
	lea why_extents(%rip), %rsi
	jmp pl_bad_arg

do_latency:
	ret

/* first free range: rax = gpa, rdx = size (2 MiB aligned) */
first_range:
	mov BI_RANGES(%r12), %rax
	mov BI_RANGES + 8(%r12), %rdx
	ret

/* every extent of every free range: even ones get a write, odd ones a read */
do_touch:
	push %rbx
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	xor %r14d, %r14d            /* written */
	xor %r15d, %r15d            /* read */
	xor %ebx, %ebx              /* global extent number */
	mov BI_NR_RANGES(%r12), %r13d
	lea BI_RANGES(%r12), %r8
1:	test %r13d, %r13d
	je 4f
	mov (%r8), %rcx             /* gpa */
	mov 8(%r8), %rdx
	add %rcx, %rdx              /* end */
2:	cmp %rdx, %rcx
	jae 3f
	test $1, %ebx
	jne 5f
	mov %rbx, (%rcx)
	inc %r14
	jmp 6f
5:	mov (%rcx), %rax
	inc %r15
6:	inc %rbx
	add $EXTENT, %rcx
	jmp 2b
3:	add $16, %r8
	dec %r13d
	jmp 1b
4:	lea r_written_ext(%rip), %rdi
	mov %r14, %rsi
	call pl_result
	lea r_read_ext(%rip), %rdi
	mov %r15, %rsi
	call pl_result
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %rbx
	ret

/* percent % of the pages of every free range, picked by the child's seed */
do_density:
	push %rbx
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	xor %r14d, %r14d            /* pages written */
	mov BI_NR_RANGES(%r12), %r13d
	lea BI_RANGES(%r12), %rbx
1:	test %r13d, %r13d
	je 4f
	mov (%rbx), %r15            /* page gpa */
2:	mov (%rbx), %rax
	add 8(%rbx), %rax
	cmp %rax, %r15
	jae 3f
	mov %r15, %rdi
	shr $12, %rdi
	xor %esi, %esi
	mov seed(%rip), %rdx
	add fork_index(%rip), %rdx
	mov $512, %ecx
	call pl_pattern_word
	xor %edx, %edx
	mov $100, %ecx
	div %rcx
	cmp percent(%rip), %rdx
	jae 5f
	mov %r15, (%r15)
	inc %r14
5:	add $4096, %r15
	jmp 2b
3:	add $16, %rbx
	dec %r13d
	jmp 1b
4:	lea r_pages(%rip), %rdi
	mov %r14, %rsi
	call pl_result
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %rbx
	ret

/* extents spread over the first free range; three timed writes in each */
do_cow:
	push %rbx
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	call first_range
	mov %rax, %rbx              /* next extent */
	mov %rdx, %rax
	xor %edx, %edx
	divq nr_extents(%rip)
	and $-EXTENT, %rax          /* stride */
	test %rax, %rax
	je bad_extents
	mov %rax, stride(%rip)
	mov nr_extents(%rip), %r13
1:	test %r13, %r13
	je 2f
	call pl_rdtsc
	mov %rax, %r14
	movq $1, (%rbx)             /* first write in a shared extent */
	call pl_rdtsc
	mov %rax, %r15
	movq $2, 4096(%rbx)         /* a second page of the same extent */
	call pl_rdtsc
	mov %rax, t2(%rip)
	movq $3, (%rbx)             /* the first page again: already ours */
	call pl_rdtsc
	mov %rax, t3(%rip)
	lea r_cow_first(%rip), %rdi
	mov %r15, %rsi
	sub %r14, %rsi
	call pl_result
	lea r_cow_next(%rip), %rdi
	mov t2(%rip), %rsi
	sub %r15, %rsi
	call pl_result
	lea r_cow_rewrite(%rip), %rdi
	mov t3(%rip), %rsi
	sub t2(%rip), %rsi
	call pl_result
	add stride(%rip), %rbx
	dec %r13
	jmp 1b
2:	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %rbx
	ret

/* x = mix64(x ^ i) for i < iterations, xmm0 += x: registers only, then report */
do_compute:
	lea key_iterations(%rip), %rdi
	mov $100000000, %esi
	call pl_arg_num
	mov %rax, %r13
	lea key_seed(%rip), %rdi
	mov $1, %esi
	call pl_arg_num
	mov %rax, %rbx              /* x */
	pxor %xmm0, %xmm0
	movabs $0x9e3779b97f4a7c15, %r8
	movabs $0xbf58476d1ce4e5b9, %r9
	movabs $0x94d049bb133111eb, %r10
	xor %ecx, %ecx
1:	cmp %r13, %rcx
	jae 2f
	mov %rbx, %rax
	xor %rcx, %rax
	add %r8, %rax
	mov %rax, %rdx
	shr $30, %rdx
	xor %rdx, %rax
	imul %r9, %rax
	mov %rax, %rdx
	shr $27, %rdx
	xor %rdx, %rax
	imul %r10, %rax
	mov %rax, %rdx
	shr $31, %rdx
	xor %rdx, %rax
	mov %rax, %rbx
	movq %rax, %xmm1
	paddq %xmm1, %xmm0
	inc %rcx
	jmp 1b
2:	movq %xmm0, %r14
	lea r_compute(%rip), %rdi
	mov %rbx, %rsi
	call pl_result
	lea r_compute_xmm(%rip), %rdi
	mov %r14, %rsi
	call pl_result
	lea r_index(%rip), %rdi
	mov BI_FORK_INDEX(%r12), %rsi
	call pl_result
	xor %edi, %edi
	call pl_exit

	.bss
	.balign 8
idle_ns:	.skip 8
percent:	.skip 8
seed:		.skip 8
nr_extents:	.skip 8
stride:		.skip 8
fork_index:	.skip 8
t2:		.skip 8
t3:		.skip 8
then_wait:	.skip 1
