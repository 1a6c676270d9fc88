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
#include <pl_asm.h>

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
	.balign 8
/* mode=: the work a child does */
modes:	CHOICE latency, do_latency
	CHOICE touch, do_touch
	CHOICE density, do_density
	CHOICE cow, do_cow
	CHOICE compute, do_compute
	CHOICES_END do_latency
/* then=: 1 to wait for a further fork after the work */
thens:	CHOICE exit, 0
	CHOICE wait, 1
	CHOICES_END 0

	.text

payload_main:
	PUSH_REGS CALLEE_SAVED
	sub $8, %rsp
	mov %rdi, %r12              /* boot info */
	mov %esi, %ebx              /* cpu */
	call pl_fork_depth
	mov %rax, %r14              /* depth seen last */
	ARG_NUM key_idle, $1000
	imul $1000, %rax, %rax
	mov %rax, idle_ns(%rip)
	test %ebx, %ebx
	jne other_cpu

	/* mode, checked up front; compute starts at once, without a fork */
	ARG_CHOICE key_mode, modes, why_mode
	mov %rax, %rbp
	lea do_compute(%rip), %rcx
	cmp %rcx, %rax
	je do_compute
	ARG_CHOICE key_then, thens, why_then
	mov %al, then_wait(%rip)
	ARG_NUM key_percent, $1
	cmp $100, %rax
	ja bad_percent
	mov %rax, percent(%rip)
	ARG_NUM key_seed, $1
	mov %rax, seed(%rip)
	ARG_NUM key_extents, $64
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
	RESULT r_index, fork_index(%rip)
	RESULT r_depth, %r14
	RESULT r_first, %r15
	mov %r15, %rsi
	sub BI_FORK_CMD_TSC(%r12), %rsi
	RESULT r_latency
	mov %r15, %rsi
	sub BI_FORK_RESUME_TSC(%r12), %rsi
	RESULT r_resume
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
	POP_REGS CALLEE_SAVED
	ret

bad_percent:
	BAD_ARG key_percent, why_percent
bad_extents:
	BAD_ARG key_extents, why_extents

do_latency:
	ret

/* first free range: rax = gpa, rdx = size (2 MiB aligned) */
first_range:
	mov BI_RANGES(%r12), %rax
	mov BI_RANGES + 8(%r12), %rdx
	ret

/*
 * each_block(rdi = step, rsi = op): op(rdi = gpa) for every step bytes of
 * every free range, in order, from each range's start. op may clobber
 * the caller-saved registers; r12 stays the boot info.
 */
each_block:
	PUSH_REGS %rbx, %rbp, %r13, %r14, %r15
	mov %rdi, %r14              /* step */
	mov %rsi, %r15              /* op */
	FIRST_RANGE %r12, %rbx, %r13d
1:	test %r13d, %r13d
	je 4f
	mov (%rbx), %rbp            /* gpa */
2:	mov (%rbx), %rax
	add 8(%rbx), %rax           /* end */
	cmp %rax, %rbp
	jae 3f
	mov %rbp, %rdi
	call *%r15
	add %r14, %rbp
	jmp 2b
3:	NEXT_RANGE %rbx, %r13d
	jmp 1b
4:	POP_REGS %rbx, %rbp, %r13, %r14, %r15
	ret

/* every extent of every free range: even ones get a write, odd ones a read */
do_touch:
	sub $8, %rsp
	movq $0, nr_touched(%rip)
	movq $0, nr_written(%rip)
	movq $0, nr_read(%rip)
	mov $EXTENT, %edi
	lea touch_extent(%rip), %rsi
	call each_block
	RESULT r_written_ext, nr_written(%rip)
	RESULT r_read_ext, nr_read(%rip)
	add $8, %rsp
	ret

/* touch_extent(rdi = extent): the global extent number, written into even ones */
touch_extent:
	mov nr_touched(%rip), %rax
	incq nr_touched(%rip)
	test $1, %eax
	jne 1f
	mov %rax, (%rdi)
	incq nr_written(%rip)
	ret
1:	mov (%rdi), %rax
	incq nr_read(%rip)
	ret

/* percent % of the pages of every free range, picked by the child's seed */
do_density:
	sub $8, %rsp
	movq $0, nr_written(%rip)
	mov $4096, %edi
	lea density_page(%rip), %rsi
	call each_block
	RESULT r_pages, nr_written(%rip)
	add $8, %rsp
	ret

/* density_page(rdi = page): its own address written into it when the child's seed picks it */
density_page:
	push %rdi
	mov seed(%rip), %rsi
	add fork_index(%rip), %rsi
	mov percent(%rip), %rdx
	call pl_page_picked
	pop %rdi
	test %eax, %eax
	je 1f
	mov %rdi, (%rdi)
	incq nr_written(%rip)
1:	ret

/* extents spread over the first free range; three timed writes in each */
do_cow:
	PUSH_REGS %rbx, %r13, %r14, %r15
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
	mov %r15, %rsi
	sub %r14, %rsi
	RESULT r_cow_first
	mov t2(%rip), %rsi
	sub %r15, %rsi
	RESULT r_cow_next
	mov t3(%rip), %rsi
	sub t2(%rip), %rsi
	RESULT r_cow_rewrite
	add stride(%rip), %rbx
	dec %r13
	jmp 1b
2:	add $8, %rsp
	POP_REGS %rbx, %r13, %r14, %r15
	ret

/* x = mix64(x ^ i) for i < iterations, xmm0 += x: registers only, then report */
do_compute:
	ARG_NUM key_iterations, $100000000
	mov %rax, %r13
	ARG_NUM key_seed, $1
	mov %rax, %rbx              /* x */
	pxor %xmm0, %xmm0
	MIX64_CONSTS
	xor %ecx, %ecx
1:	cmp %r13, %rcx
	jae 2f
	mov %rbx, %rax
	xor %rcx, %rax
	MIX64 %rax, %rdx
	mov %rax, %rbx
	movq %rax, %xmm1
	paddq %xmm1, %xmm0
	inc %rcx
	jmp 1b
2:	movq %xmm0, %r14
	RESULT r_compute, %rbx
	RESULT r_compute_xmm, %r14
	RESULT r_index, BI_FORK_INDEX(%r12)
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
nr_touched:	.skip 8
nr_written:	.skip 8
nr_read:	.skip 8
then_wait:	.skip 1
