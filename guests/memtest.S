/* SPDX-License-Identifier: MIT */
/*
 * memtest: writes and checks the per-page index pattern over free guest
 * memory, on every vCPU. Word w of the page at guest address a holds
 * pattern_word(a >> 12, gen, seed, w) (tests/lib/helpers.c: splitmix64 of
 * page, generation, seed and word), so the host can check guest-written
 * memory, and the guest host-written memory, directly.
 *
 * The pages are the free ranges of the boot info in order, `size` bytes of
 * them (default all) after the first `skip` bytes (default 0); vCPU c of n
 * takes the c-th n-th of those pages.
 * Modes (mode=):
 *   fill          write (gen, seed)
 *   verify        check (gen, seed)
 *   fill+verify   both (default)
 *   subset        write (gen, seed) to the pages picked by seed and percent,
 *                 then check: picked pages hold (gen, seed), the others
 *                 (base_gen, base_seed). A page is picked when
 *                 pattern_word(page, 0, seed, 512) % 100 < percent.
 *   subset-verify only the check of subset
 *   seq           sequence-numbered passes: pass k writes generation gen+k
 *                 after checking that the page still holds gen+k-1 (from
 *                 the second pass on); `iterations` passes, or (0, default)
 *                 until the host sets boot info stop
 *   fork          for snapshot-fork: write (base_gen, base_seed), then wait
 *                 for a fork (pl_fork_wait, idling 1 ms between looks). A
 *                 child with index i does subset with seed + i; the parent,
 *                 once the host sets stop, checks that every page still
 *                 holds (base_gen, base_seed): no child's write shows.
 * gen and seed are 32-bit. Results: pages_checked, pages_bad, pages_written
 * (totals), first_bad_gpa (per vCPU with a bad page), passes (seq, per
 * vCPU). Exit status 0, or 3 when any page was wrong.
 */
#include <payload_abi.h>

#define STATUS_MISMATCH 3

/* per-vCPU context, r15 while pages are visited */
#define C_GEN       0
#define C_SEED      8
#define C_BASE_GEN  16
#define C_BASE_SEED 24
#define C_PERCENT   32
#define C_CHECKED   40
#define C_BAD       48
#define C_WRITTEN   56
#define C_FIRST_BAD 64
#define C_CUR_GEN   72
#define C_LO        80
#define C_HI        88
#define C_FN        96
#define C_PASSES    104
#define C_DEPTH0    112
#define C_SIZE      128

	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, 0

	.section .rodata
payload_name:	.asciz "memtest"
payload_args:
	.asciz "mode"
	.asciz "seed"
	.asciz "gen"
	.asciz "percent"
	.asciz "base_seed"
	.asciz "base_gen"
	.asciz "iterations"
	.asciz "size"
	.asciz "skip"
	.byte 0
key_mode:	.asciz "mode"
key_seed:	.asciz "seed"
key_gen:	.asciz "gen"
key_percent:	.asciz "percent"
key_base_seed:	.asciz "base_seed"
key_base_gen:	.asciz "base_gen"
key_iterations:	.asciz "iterations"
key_size:	.asciz "size"
key_skip:	.asciz "skip"
s_fill:		.asciz "fill"
s_verify:	.asciz "verify"
s_fill_verify:	.asciz "fill+verify"
s_subset:	.asciz "subset"
s_subset_verify: .asciz "subset-verify"
s_seq:		.asciz "seq"
s_fork:		.asciz "fork"
why_mode:	.asciz "' must be fill, verify, fill+verify, subset, subset-verify, seq or fork\n"
why_32:		.asciz "' must fit in 32 bits\n"
why_percent:	.asciz "' must be 0-100\n"
msg_ok:		.asciz "memtest: ok\n"
msg_bad:	.asciz "memtest: MISMATCH: pages do not hold the expected pattern\n"
r_checked:	.asciz "pages_checked"
r_bad:		.asciz "pages_bad"
r_written:	.asciz "pages_written"
r_first_bad:	.asciz "first_bad_gpa"
r_passes:	.asciz "passes"
r_fork_index:	.asciz "fork_index"

	.text

/* rax = (page_idx << 24) ^ (gen << 12) ^ (seed << 40) for page address rdi: word w then only xors w */
	.macro X0 page, gen, seed
	mov \page, %rax
	shr $12, %rax
	shl $24, %rax
	mov \gen, %edx
	shl $12, %rdx
	xor %rdx, %rax
	mov \seed, %edx
	shl $40, %rdx
	xor %rdx, %rax
	.endm

/* fill_page(rdi = page, rsi = x0): the splitmix64 of pl_mix64, inlined */
fill_page:
	movabs $0x9e3779b97f4a7c15, %r8
	movabs $0xbf58476d1ce4e5b9, %r9
	movabs $0x94d049bb133111eb, %r10
	xor %ecx, %ecx
1:	mov %rsi, %rax
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
	mov %rax, (%rdi,%rcx,8)
	inc %ecx
	cmp $512, %ecx
	jb 1b
	ret

/* check_page(rdi = page, rsi = x0) -> eax 0 when every word matches */
check_page:
	movabs $0x9e3779b97f4a7c15, %r8
	movabs $0xbf58476d1ce4e5b9, %r9
	movabs $0x94d049bb133111eb, %r10
	xor %ecx, %ecx
1:	mov %rsi, %rax
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
	cmp %rax, (%rdi,%rcx,8)
	jne 2f
	inc %ecx
	cmp $512, %ecx
	jb 1b
	xor %eax, %eax
	ret
2:	mov $1, %eax
	ret

/* count(rdi = page, eax = check result) */
count:
	incq C_CHECKED(%r15)
	test %eax, %eax
	je 1f
	incq C_BAD(%r15)
	cmpq $0, C_FIRST_BAD(%r15)
	jne 1f
	mov %rdi, C_FIRST_BAD(%r15)
1:	ret

/* picked(rdi = page) -> eax 1 when the page is in the subset */
picked:
	push %rdi
	shr $12, %rdi
	xor %esi, %esi
	mov C_SEED(%r15), %edx
	mov $512, %ecx
	call pl_pattern_word
	xor %edx, %edx
	mov $100, %ecx
	div %rcx
	pop %rdi
	xor %eax, %eax
	cmp C_PERCENT(%r15), %rdx
	setb %al
	ret

op_fill:
	X0 %rdi, C_GEN(%r15), C_SEED(%r15)
	mov %rax, %rsi
	call fill_page
	incq C_WRITTEN(%r15)
	ret

op_verify:
	X0 %rdi, C_GEN(%r15), C_SEED(%r15)
	mov %rax, %rsi
	push %rdi
	call check_page
	pop %rdi
	jmp count

op_subset:
	call picked
	test %eax, %eax
	je 1f
	jmp op_fill
1:	ret

op_subset_verify:
	call picked
	test %eax, %eax
	je 1f
	jmp op_verify
1:	X0 %rdi, C_BASE_GEN(%r15), C_BASE_SEED(%r15)
	mov %rax, %rsi
	push %rdi
	call check_page
	pop %rdi
	jmp count

/* seq pass: check cur_gen - 1 (not on the first pass), write cur_gen */
op_seq:
	mov C_CUR_GEN(%r15), %r11
	cmp C_GEN(%r15), %r11
	je 1f
	dec %r11d
	X0 %rdi, %r11d, C_SEED(%r15)
	mov %rax, %rsi
	push %rdi
	call check_page
	pop %rdi
	call count
1:	X0 %rdi, C_CUR_GEN(%r15), C_SEED(%r15)
	mov %rax, %rsi
	call fill_page
	incq C_WRITTEN(%r15)
	ret

/* each_page(rdi = op): calls op(page) for every page of this vCPU's share */
each_page:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	mov %rdi, C_FN(%r15)
	mov pl_boot_info(%rip), %rbx
	lea BI_RANGES(%rbx), %r12
	mov BI_NR_RANGES(%rbx), %r13d
	xor %r14d, %r14d            /* global index of the range's first page */
1:	test %r13d, %r13d
	je 9f
	mov 8(%r12), %rax
	shr $12, %rax
	mov C_LO(%r15), %rbp        /* k = max(lo, off) */
	cmp %r14, %rbp
	jae 2f
	mov %r14, %rbp
2:	lea (%r14,%rax), %rbx       /* end = min(hi, off + pages) */
	cmp C_HI(%r15), %rbx
	jbe 3f
	mov C_HI(%r15), %rbx
3:	cmp %rbx, %rbp
	jae 4f
	mov %rbp, %rdi
	sub %r14, %rdi
	shl $12, %rdi
	add (%r12), %rdi
	call *C_FN(%r15)
	inc %rbp
	jmp 3b
4:	mov 8(%r12), %rax
	shr $12, %rax
	add %rax, %r14
	add $16, %r12
	dec %r13d
	jmp 1b
9:	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

/* arg32(rdi = key, rsi = default) -> rax, refusing values past 32 bits */
arg32:
	push %rdi
	call pl_arg_num
	pop %rdi
	mov %eax, %ecx
	cmp %rcx, %rax
	jne 1f
	ret
1:	lea why_32(%rip), %rsi
	jmp pl_bad_arg

	.macro IFMODE str, label
	mov %r13, %rdi
	lea \str(%rip), %rsi
	call pl_streq
	test %eax, %eax
	jne \label
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
	mov %rbx, %r15
	shl $7, %r15                /* C_SIZE */
	lea ctx(%rip), %rax
	add %rax, %r15

	lea key_gen(%rip), %rdi
	mov $1, %esi
	call arg32
	mov %rax, C_GEN(%r15)
	mov %rax, C_CUR_GEN(%r15)
	lea key_seed(%rip), %rdi
	mov $1, %esi
	call arg32
	mov %rax, C_SEED(%r15)
	lea key_base_gen(%rip), %rdi
	mov $1, %esi
	call arg32
	mov %rax, C_BASE_GEN(%r15)
	lea key_base_seed(%rip), %rdi
	mov $1, %esi
	call arg32
	mov %rax, C_BASE_SEED(%r15)
	lea key_percent(%rip), %rdi
	mov $10, %esi
	call pl_arg_num
	cmp $100, %rax
	ja bad_percent
	mov %rax, C_PERCENT(%r15)

	/* T = free pages (at most size / 4096); share [cpu*T/n, (cpu+1)*T/n) */
	xor %r14d, %r14d
	mov BI_NR_RANGES(%r12), %ecx
	lea BI_RANGES(%r12), %rsi
1:	test %ecx, %ecx
	je 2f
	mov 8(%rsi), %rax
	shr $12, %rax
	add %rax, %r14
	add $16, %rsi
	dec %ecx
	jmp 1b
2:	/* [first, first + count): first = min(skip, T), count = min(size or all, T - first) */
	lea key_skip(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	shr $12, %rax
	cmp %r14, %rax
	jbe 3f
	mov %r14, %rax
3:	mov %rax, %rbp              /* first */
	sub %rax, %r14              /* pages after it */
	lea key_size(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	shr $12, %rax
	je 4f
	cmp %r14, %rax
	jae 4f
	mov %rax, %r14              /* count */
4:	mov BI_NR_CPUS(%r12), %ecx
	mov %r14, %rax
	mul %rbx
	div %rcx
	add %rbp, %rax
	mov %rax, C_LO(%r15)
	lea 1(%rbx), %rax
	mul %r14
	div %rcx
	add %rbp, %rax
	mov %rax, C_HI(%r15)

	lea key_mode(%rip), %rdi
	call pl_arg_str
	mov %rax, %r13
	test %rax, %rax
	je mode_fill_verify
	IFMODE s_fill, mode_fill
	IFMODE s_verify, mode_verify
	IFMODE s_fill_verify, mode_fill_verify
	IFMODE s_subset, mode_subset
	IFMODE s_subset_verify, mode_subset_verify
	IFMODE s_seq, mode_seq
	IFMODE s_fork, mode_fork
	lea key_mode(%rip), %rdi
	lea why_mode(%rip), %rsi
	jmp pl_bad_arg

mode_fill:
	lea op_fill(%rip), %rdi
	call each_page
	jmp finish
mode_verify:
	lea op_verify(%rip), %rdi
	call each_page
	jmp finish
mode_fill_verify:
	lea op_fill(%rip), %rdi
	call each_page
	lea op_verify(%rip), %rdi
	call each_page
	jmp finish
mode_subset:
	lea op_subset(%rip), %rdi
	call each_page
	lea op_subset_verify(%rip), %rdi
	call each_page
	jmp finish
mode_subset_verify:
	lea op_subset_verify(%rip), %rdi
	call each_page
	jmp finish
mode_fork:
	call pl_fork_depth
	mov %rax, C_DEPTH0(%r15)
	/* the parent's pattern over every page, then wait */
	push C_GEN(%r15)
	push C_SEED(%r15)
	mov C_BASE_GEN(%r15), %rax
	mov %rax, C_GEN(%r15)
	mov C_BASE_SEED(%r15), %rax
	mov %rax, C_SEED(%r15)
	lea op_fill(%rip), %rdi
	call each_page
	pop C_SEED(%r15)
	pop C_GEN(%r15)
	movq $0, C_WRITTEN(%r15)    /* pages_written counts a child's own writes */
	mov C_DEPTH0(%r15), %rdi
	mov $1000000, %esi
	call pl_fork_wait
	test %rax, %rax
	je fork_parent
	/* child i: its own pattern (gen, seed + i) on its own subset, over the parent's */
	add %eax, C_SEED(%r15)
	test %ebx, %ebx
	jne 1f
	lea r_fork_index(%rip), %rdi
	mov %rax, %rsi
	call pl_result
1:	lea op_subset(%rip), %rdi
	call each_page
	lea op_subset_verify(%rip), %rdi
	call each_page
	jmp finish
fork_parent:
	mov C_BASE_GEN(%r15), %rax
	mov %rax, C_GEN(%r15)
	mov C_BASE_SEED(%r15), %rax
	mov %rax, C_SEED(%r15)
	lea op_verify(%rip), %rdi
	call each_page
	jmp finish
mode_seq:
	lea key_iterations(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	mov %rax, %rbp
1:	lea op_seq(%rip), %rdi
	call each_page
	incq C_PASSES(%r15)
	incl C_CUR_GEN(%r15)
	test %rbp, %rbp
	je 2f
	cmp C_PASSES(%r15), %rbp
	jbe 3f
2:	call pl_stop_requested
	test %rax, %rax
	je 1b
3:	lea r_passes(%rip), %rdi
	mov C_PASSES(%r15), %rsi
	call pl_result

finish:
	mov C_CHECKED(%r15), %rax
	lock add %rax, tot_checked(%rip)
	mov C_BAD(%r15), %rax
	lock add %rax, tot_bad(%rip)
	mov C_WRITTEN(%r15), %rax
	lock add %rax, tot_written(%rip)
	cmpq $0, C_BAD(%r15)
	je 1f
	lea r_first_bad(%rip), %rdi
	mov C_FIRST_BAD(%r15), %rsi
	call pl_result
1:	/* the last vCPU out reports the totals and ends the VM */
	mov $1, %eax
	lock xadd %eax, done(%rip)
	inc %eax
	cmp BI_NR_CPUS(%r12), %eax
	jne not_last
	lea r_checked(%rip), %rdi
	mov tot_checked(%rip), %rsi
	call pl_result
	lea r_bad(%rip), %rdi
	mov tot_bad(%rip), %rsi
	call pl_result
	lea r_written(%rip), %rdi
	mov tot_written(%rip), %rsi
	call pl_result
	cmpq $0, tot_bad(%rip)
	jne 2f
	lea msg_ok(%rip), %rdi
	call pl_puts
	xor %edi, %edi
	call pl_exit
2:	lea msg_bad(%rip), %rdi
	call pl_puts
	mov $STATUS_MISMATCH, %edi
	call pl_exit
not_last:
	xor %eax, %eax
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

	.bss
	.balign 64
ctx:		.skip C_SIZE * PAYLOAD_MAX_CPUS
tot_checked:	.skip 8
tot_bad:	.skip 8
tot_written:	.skip 8
done:		.skip 4
