/* SPDX-License-Identifier: MIT */
/*
 * Helpers every payload core uses, independent of the platform layer:
 * strings, arguments from the boot info, the per-page pattern, the TSC.
 * System V calling convention: arguments rdi, rsi, rdx, rcx; result rax;
 * rbx, rbp, r12-r15 preserved.
 */
#include <payload_abi.h>

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
	push %rbx
	push %r12
	push %r13
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
4:	pop %r13
	pop %r12
	pop %rbx
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
2:	mov %rbx, %rdi
	lea msg_not_number(%rip), %rsi
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

/* uint64_t pl_mix64(uint64_t x): the splitmix64 finaliser of tests/lib/helpers.c */
	.globl pl_mix64
pl_mix64:
	movabs $0x9e3779b97f4a7c15, %rax
	add %rax, %rdi
	mov %rdi, %rax
	shr $30, %rax
	xor %rdi, %rax
	movabs $0xbf58476d1ce4e5b9, %rcx
	imul %rcx, %rax
	mov %rax, %rdi
	shr $27, %rdi
	xor %rdi, %rax
	movabs $0x94d049bb133111eb, %rcx
	imul %rcx, %rax
	mov %rax, %rdi
	shr $31, %rdi
	xor %rdi, %rax
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
	mov BI_NR_RANGES(%rdi), %ecx
	lea BI_RANGES(%rdi), %rsi
	xor %eax, %eax
	xor %edx, %edx
1:	test %ecx, %ecx
	je 3f
	mov 8(%rsi), %r8
	cmp %rdx, %r8
	jbe 2f
	mov %r8, %rdx
	mov (%rsi), %rax
2:	add $16, %rsi
	dec %ecx
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
	push %rbx
	push %r12
	push %r13
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
5:	pop %r13
	pop %r12
	pop %rbx
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
