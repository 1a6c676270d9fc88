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
#include <pl_asm.h>

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
	.balign 8
/* mode=: where payload_main goes */
modes:	CHOICE fill, mode_fill
	CHOICE verify, mode_verify
	CHOICE fill+verify, mode_fill_verify
	CHOICE subset, mode_subset
	CHOICE subset-verify, mode_subset_verify
	CHOICE seq, mode_seq
	CHOICE fork, mode_fork
	CHOICES_END mode_fill_verify

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

/* rax = word rcx of the page whose x0 is rsi: mix64(x0 ^ w), inlined (MIX64_CONSTS loaded); clobbers rdx */
	.macro PAGE_WORD
	mov %rsi, %rax
	xor %rcx, %rax
	MIX64 %rax, %rdx
	.endm

/* fill_page(rdi = page, rsi = x0) */
fill_page:
	MIX64_CONSTS
	xor %ecx, %ecx
1:	PAGE_WORD
	mov %rax, (%rdi,%rcx,8)
	inc %ecx
	cmp $512, %ecx
	jb 1b
	ret

/* check_page(rdi = page, rsi = x0) -> eax 0 when every word matches */
check_page:
	MIX64_CONSTS
	xor %ecx, %ecx
1:	PAGE_WORD
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
	mov C_SEED(%r15), %esi
	mov C_PERCENT(%r15), %rdx
	call pl_page_picked
	pop %rdi
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

/* each_page(rdi = op): calls op(page) for every page of this vCPU's share; EACH_PAGE op: the call */
	.macro EACH_PAGE op
	lea \op(%rip), %rdi
	call each_page
	.endm
each_page:
	PUSH_REGS %rbx, %rbp, %r12, %r13, %r14
	mov %rdi, C_FN(%r15)
	mov pl_boot_info(%rip), %rbx
	FIRST_RANGE %rbx, %r12, %r13d
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
	NEXT_RANGE %r12, %r13d
	jmp 1b
9:	POP_REGS %rbx, %rbp, %r12, %r13, %r14
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

payload_main:
	PUSH_REGS CALLEE_SAVED
	sub $8, %rsp
	mov %rdi, %r12              /* boot info */
	mov %esi, %ebx              /* cpu */
	mov %rbx, %r15
	shl $7, %r15                /* C_SIZE */
	lea ctx(%rip), %rax
	add %rax, %r15

	ARG_NUM key_gen, $1, arg32
	mov %rax, C_GEN(%r15)
	mov %rax, C_CUR_GEN(%r15)
	ARG_NUM key_seed, $1, arg32
	mov %rax, C_SEED(%r15)
	ARG_NUM key_base_gen, $1, arg32
	mov %rax, C_BASE_GEN(%r15)
	ARG_NUM key_base_seed, $1, arg32
	mov %rax, C_BASE_SEED(%r15)
	ARG_NUM key_percent, $10
	cmp $100, %rax
	ja bad_percent
	mov %rax, C_PERCENT(%r15)

	/* T = free pages (at most size / 4096); share [cpu*T/n, (cpu+1)*T/n) */
	xor %r14d, %r14d
	FIRST_RANGE %r12, %rsi, %ecx
1:	test %ecx, %ecx
	je 2f
	mov 8(%rsi), %rax
	shr $12, %rax
	add %rax, %r14
	NEXT_RANGE %rsi, %ecx
	jmp 1b
2:	/* [first, first + count): first = min(skip, T), count = min(size or all, T - first) */
	ARG_NUM key_skip, $0
	shr $12, %rax
	cmp %r14, %rax
	jbe 3f
	mov %r14, %rax
3:	mov %rax, %rbp              /* first */
	sub %rax, %r14              /* pages after it */
	ARG_NUM key_size, $0
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

	ARG_CHOICE key_mode, modes, why_mode
	jmp *%rax

mode_fill:
	EACH_PAGE op_fill
	jmp finish
mode_verify:
	EACH_PAGE op_verify
	jmp finish
mode_fill_verify:
	EACH_PAGE op_fill
	EACH_PAGE op_verify
	jmp finish
mode_subset:
	EACH_PAGE op_subset
	EACH_PAGE op_subset_verify
	jmp finish
mode_subset_verify:
	EACH_PAGE op_subset_verify
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
	EACH_PAGE op_fill
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
	RESULT r_fork_index, %rax
1:	EACH_PAGE op_subset
	EACH_PAGE op_subset_verify
	jmp finish
fork_parent:
	mov C_BASE_GEN(%r15), %rax
	mov %rax, C_GEN(%r15)
	mov C_BASE_SEED(%r15), %rax
	mov %rax, C_SEED(%r15)
	EACH_PAGE op_verify
	jmp finish
mode_seq:
	ARG_NUM key_iterations, $0
	mov %rax, %rbp
1:	EACH_PAGE op_seq
	incq C_PASSES(%r15)
	incl C_CUR_GEN(%r15)
	test %rbp, %rbp
	je 2f
	cmp C_PASSES(%r15), %rbp
	jbe 3f
2:	call pl_stop_requested
	test %rax, %rax
	je 1b
3:	RESULT r_passes, C_PASSES(%r15)

finish:
	mov C_CHECKED(%r15), %rax
	lock add %rax, tot_checked(%rip)
	mov C_BAD(%r15), %rax
	lock add %rax, tot_bad(%rip)
	mov C_WRITTEN(%r15), %rax
	lock add %rax, tot_written(%rip)
	cmpq $0, C_BAD(%r15)
	je 1f
	RESULT r_first_bad, C_FIRST_BAD(%r15)
1:	/* the last vCPU out reports the totals and ends the VM */
	mov $1, %eax
	lock xadd %eax, done(%rip)
	inc %eax
	cmp BI_NR_CPUS(%r12), %eax
	jne not_last
	RESULT r_checked, tot_checked(%rip)
	RESULT r_bad, tot_bad(%rip)
	RESULT r_written, tot_written(%rip)
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
	POP_REGS CALLEE_SAVED
	ret

bad_percent:
	BAD_ARG key_percent, why_percent

	.bss
	.balign 64
ctx:		.skip C_SIZE * PAYLOAD_MAX_CPUS
tot_checked:	.skip 8
tot_bad:	.skip 8
tot_written:	.skip 8
done:		.skip 4
