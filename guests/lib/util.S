/* SPDX-License-Identifier: MIT */
/*
 * Helpers every payload core uses, independent of the platform layer:
 * strings, arguments from the boot info, the per-page pattern, the TSC.
 * System V calling convention: arguments rdi, rsi, rdx, rcx; result rax;
 * rbx, rbp, r12-r15 preserved.
 */
#include <payload_abi.h>
#include <pl_asm.h>

	.text

/* uint64_t pl_strlen(const char *s) */
	.globl pl_strlen
pl_strlen:
	xor %eax, %eax
1:	cmpb $0, (%rdi,%rax)
	je 2f
	inc %rax
	jmp 1b
2:	ret

/* int pl_streq(const char *a, const char *b): 1 when equal */
	.globl pl_streq
pl_streq:
1:	movzbl (%rdi), %eax
	movzbl (%rsi), %ecx
	cmp %ecx, %eax
	jne 2f
	test %eax, %eax
	je 3f
	inc %rdi
	inc %rsi
	jmp 1b
2:	xor %eax, %eax
	ret
3:	mov $1, %eax
	ret

/* void pl_puts(const char *s) */
	.globl pl_puts
pl_puts:
	push %rdi
	call pl_strlen
	pop %rdi
	mov %rax, %rsi
	jmp pl_print

/* void pl_fail(const char *msg): prints msg and ends the VM with status 2 (bad arguments) */
	.globl pl_fail
pl_fail:
	and $-16, %rsp
	call pl_puts
	mov $2, %edi
	call pl_exit
	ud2

/* struct payload_arg *pl_arg_find(const char *key): NULL when not given */
	.globl pl_arg_find
pl_arg_find:
	PUSH_REGS %rbx, %r12, %r13
	mov %rdi, %r12
	mov pl_boot_info(%rip), %rax
	mov BI_NR_ARGS(%rax), %r13d
	lea BI_ARGS(%rax), %rbx
1:	test %r13d, %r13d
	je 3f
	mov %rbx, %rdi
	mov %r12, %rsi
	call pl_streq
	test %eax, %eax
	jne 2f
	add $BI_ARG_SIZE, %rbx
	dec %r13d
	jmp 1b
2:	mov %rbx, %rax
	jmp 4f
3:	xor %eax, %eax
4:	POP_REGS %rbx, %r12, %r13
	ret

/* const char *pl_arg_str(const char *key): the value, NULL when not given */
	.globl pl_arg_str
pl_arg_str:
	call pl_arg_find
	test %rax, %rax
	je 1f
	add $BI_ARG_STR, %rax
1:	ret

/* uint64_t pl_arg_num(const char *key, uint64_t dflt): a value that is not a number ends the VM (status 2) */
	.globl pl_arg_num
pl_arg_num:
	push %rbx
	push %rsi
	mov %rdi, %rbx
	call pl_arg_find
	pop %rsi
	test %rax, %rax
	je 1f
	cmpl $0, BI_ARG_IS_NUM(%rax)
	je 2f
	mov BI_ARG_NUM(%rax), %rax
	pop %rbx
	ret
1:	mov %rsi, %rax
	pop %rbx
	ret
2:	lea msg_not_number(%rip), %rsi
/* pl_bad_arg(rbx = key, rsi = why): where the routines that keep the key in rbx refuse it */
bad_arg_rbx:
	mov %rbx, %rdi
	jmp pl_bad_arg

/*
 * uint64_t pl_arg_bytes(const char *key, uint64_t max, const char *why):
 * the argument as bytes rounded down to 4 KiB, max when it is not given
 * or 0; less than a page, or more than max, ends the VM with status 2
 * (pl_bad_arg(key, why)).
 */
	.globl pl_arg_bytes
pl_arg_bytes:
	PUSH_REGS %rbx, %r12, %r13
	mov %rdi, %rbx
	mov %rsi, %r12
	mov %rdx, %r13
	xor %esi, %esi
	call pl_arg_num
	test %rax, %rax
	cmovz %r12, %rax            /* not given or 0: max */
	and $-4096, %rax
	je 1f
	cmp %r12, %rax
	ja 1f
	POP_REGS %rbx, %r12, %r13
	ret
1:	mov %r13, %rsi
	jmp bad_arg_rbx

/*
 * uint64_t pl_arg_choice(const char *key, const void *table, const char *why):
 * the argument's value looked up in a table of CHOICE lines (pl_asm.h:
 * { name, value } quads up to CHOICES_END's { 0, default }): the value
 * of the name it equals, the default when it was not given; any other
 * value ends the VM with status 2 (pl_bad_arg(key, why)). One routine
 * for every mode= and then= a payload takes, checked the same way.
 */
	.globl pl_arg_choice
pl_arg_choice:
	PUSH_REGS %rbx, %r12, %r13, %r14
	sub $8, %rsp                /* four pushes: keep calls aligned */
	mov %rdi, %r12
	mov %rsi, %rbx
	mov %rdx, %r14
	call pl_arg_str
	mov %rax, %r13              /* the value, NULL: not given */
1:	mov (%rbx), %rsi
	test %rsi, %rsi
	je 3f
	test %r13, %r13
	je 2f                       /* not given: skip to the default */
	mov %r13, %rdi
	call pl_streq
	test %eax, %eax
	jne 4f
2:	add $16, %rbx
	jmp 1b
3:	test %r13, %r13
	jne 5f
4:	mov 8(%rbx), %rax
	add $8, %rsp
	POP_REGS %rbx, %r12, %r13, %r14
	ret
5:	mov %r12, %rdi
	mov %r14, %rsi
	jmp pl_bad_arg

/*
 * void pl_bad_arg(const char *key, const char *why): prints
 * "payload: argument 'KEY' WHY" and ends the VM with status 2.
 */
	.globl pl_bad_arg
pl_bad_arg:
	and $-16, %rsp
	push %rsi
	push %rdi
	lea msg_arg(%rip), %rdi
	call pl_puts
	pop %rdi
	call pl_puts
	pop %rdi
	call pl_puts
	mov $2, %edi
	call pl_exit
	ud2

/* uint64_t pl_mix64(uint64_t x): the splitmix64 finaliser of tests/lib/helpers.c (MIX64, pl_asm.h) */
	.globl pl_mix64
pl_mix64:
	MIX64_CONSTS
	mov %rdi, %rax
	MIX64 %rax, %rdx
	ret

/*
 * uint64_t pl_pattern_word(uint64_t page, uint32_t gen, uint32_t seed, unsigned word):
 * pattern_word() of tests/lib/helpers.c, bit for bit.
 */
	.globl pl_pattern_word
pl_pattern_word:
	shl $24, %rdi
	mov %esi, %esi
	shl $12, %rsi
	xor %rsi, %rdi
	mov %edx, %edx
	shl $40, %rdx
	xor %rdx, %rdi
	mov %ecx, %ecx
	xor %rcx, %rdi
	jmp pl_mix64

/*
 * int pl_page_picked(uint64_t gpa, uint32_t seed, uint64_t percent): 1 when
 * the page at gpa is one of the percent % that seed picks,
 * pattern_word(gpa >> 12, 0, seed, 512) % 100 < percent (memtest's subset,
 * forktest's density: the host picks the same pages from the same seed).
 */
	.globl pl_page_picked
pl_page_picked:
	push %rdx
	shr $12, %rdi
	mov %esi, %edx
	xor %esi, %esi
	mov $512, %ecx
	call pl_pattern_word
	xor %edx, %edx
	mov $100, %ecx
	div %rcx
	pop %rcx
	xor %eax, %eax
	cmp %rcx, %rdx
	setb %al
	ret

/* uint64_t pl_rdtsc(void): ordered after earlier loads */
	.globl pl_rdtsc
pl_rdtsc:
	lfence
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	ret

/* pl_largest_range(const struct boot_info *bi): the largest free RAM range, its gpa in rax, its size in rdx (0, 0: none) */
	.globl pl_largest_range
pl_largest_range:
	FIRST_RANGE %rdi, %rsi, %ecx
	xor %eax, %eax
	xor %edx, %edx
1:	test %ecx, %ecx
	je 3f
	mov 8(%rsi), %r8
	cmp %rdx, %r8
	jbe 2f
	mov %r8, %rdx
	mov (%rsi), %rax
2:	NEXT_RANGE %rsi, %ecx
	jmp 1b
3:	ret

/* int pl_stop_requested(void): the host set boot info stop */
	.globl pl_stop_requested
pl_stop_requested:
	mov pl_boot_info(%rip), %rax
	mov BI_STOP(%rax), %rax
	ret

/*
 * uint64_t pl_fork_wait(uint64_t depth, uint64_t sleep_ns): waits until this
 * VM is a fork child made after depth was read from the boot info (its fork
 * depth differs) or the host sets stop. Returns the fork index (0 on stop)
 * and, in rdx, the TSC right after it saw the change: in a child, about
 * its first instruction. Looks at CPL3 without an exit; between looks it
 * idles with pl_sleep(sleep_ns), or spins with pause when sleep_ns is 0.
 * Counts itself in the boot info's fork waiting while it waits.
 */
	.globl pl_fork_wait
pl_fork_wait:
	PUSH_REGS %rbx, %r12, %r13
	mov %rdi, %r12
	mov %rsi, %r13
	mov pl_boot_info(%rip), %rbx
	lock incq BI_FORK_WAITING(%rbx)
1:	mov BI_FORK_DEPTH(%rbx), %rax
	cmp %r12, %rax
	jne 2f
	cmpq $0, BI_STOP(%rbx)
	jne 3f
	test %r13, %r13
	je 4f
	mov %r13, %rdi
	call pl_sleep
	jmp 1b
4:	pause
	jmp 1b
2:	lfence
	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	lock decq BI_FORK_WAITING(%rbx)
	mov BI_FORK_INDEX(%rbx), %rax
	jmp 5f
3:	lock decq BI_FORK_WAITING(%rbx)
	xor %eax, %eax
	xor %edx, %edx
5:	POP_REGS %rbx, %r12, %r13
	ret

/* uint64_t pl_fork_depth(void): forks between the original VM and this one */
	.globl pl_fork_depth
pl_fork_depth:
	mov pl_boot_info(%rip), %rax
	mov BI_FORK_DEPTH(%rax), %rax
	ret

	.section .rodata
msg_arg:
	.asciz "payload: argument '"
msg_not_number:
	.asciz "' must be a number\n"
