/* SPDX-License-Identifier: MIT */
/*
 * selftest: exercises the payload ABI and the VMM's error paths, one mode
 * per --arg mode=...:
 *   hello (default)  print, results (answer=42, cpu, nr_cpus, guest_page_size,
 *                    value=<arg value>, a 63-character name = 2^64-1), exit
 *                    with <arg status> on every vCPU
 *   spin             count in the first free page (one u64 per vCPU) until the
 *                    host sets boot info stop
 *   exit             vCPU 0 ends the whole VM with <arg status>, the others spin
 *   pf / supervisor  user write to an unmapped address / read of the VMM's area
 *   mmio             write to a mapped address that is not RAM
 *   gp / ud / de     privileged instruction / ud2 / divide by zero
 *   badport          out to a port no device owns
 *   badcall / excport  unknown payload call / forged exception report
 */
#include <payload_abi.h>

	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, 0

	.section .rodata
payload_name:
	.asciz "selftest"
payload_args:
	.asciz "mode"
	.asciz "status"
	.asciz "value"
	.byte 0

key_mode:	.asciz "mode"
key_status:	.asciz "status"
key_value:	.asciz "value"
why_mode:	.asciz "' must be one of hello spin exit pf supervisor mmio gp ud de badport badcall excport\n"

msg_hello:
	.ascii "selftest: hello from a payload guest\n"
	.ascii " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\n"
	.byte 0

r_answer:	.asciz "answer"
r_cpu:		.asciz "cpu"
r_nr_cpus:	.asciz "nr_cpus"
r_page:		.asciz "guest_page_size"
r_value:	.asciz "value"
r_long:		.asciz "a_result_name_of_sixty_three_characters_0123456789_abcdefghijkl"

	.macro MODE name, label
	.section .rodata
1:	.asciz "\name"
	.text
	mov %r13, %rdi
	lea 1b(%rip), %rsi
	call pl_streq
	test %eax, %eax
	jne \label
	.endm

	.text
payload_main:
	push %rbx
	push %r12
	push %r13
	mov %rdi, %r12              /* boot info */
	mov %esi, %ebx              /* cpu */
	lea key_mode(%rip), %rdi
	call pl_arg_str
	mov %rax, %r13
	test %rax, %rax
	je mode_hello
	MODE hello, mode_hello
	MODE spin, mode_spin
	MODE exit, mode_exit
	MODE pf, mode_pf
	MODE supervisor, mode_supervisor
	MODE mmio, mode_mmio
	MODE gp, mode_gp
	MODE ud, mode_ud
	MODE de, mode_de
	MODE badport, mode_badport
	MODE badcall, mode_badcall
	MODE excport, mode_excport
	lea key_mode(%rip), %rdi
	lea why_mode(%rip), %rsi
	jmp pl_bad_arg

mode_hello:
	lea msg_hello(%rip), %rdi
	call pl_puts
	lea r_answer(%rip), %rdi
	mov $42, %esi
	call pl_result
	lea r_cpu(%rip), %rdi
	mov %rbx, %rsi
	call pl_result
	lea r_nr_cpus(%rip), %rdi
	mov BI_NR_CPUS(%r12), %esi
	call pl_result
	lea r_page(%rip), %rdi
	mov BI_GUEST_PAGE_SIZE(%r12), %esi
	call pl_result
	lea r_long(%rip), %rdi
	mov $-1, %rsi
	call pl_result
	lea key_value(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	lea r_value(%rip), %rdi
	mov %rax, %rsi
	call pl_result
status:
	lea key_status(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	pop %r13
	pop %r12
	pop %rbx
	ret

/* counter for vCPU i at ranges[0].gpa + 8 * i */
mode_spin:
	mov BI_RANGES(%r12), %rcx
	lea (%rcx,%rbx,8), %rcx
1:	incq (%rcx)
	cmpq $0, BI_STOP(%r12)
	je 1b
	jmp status

mode_exit:
	test %ebx, %ebx
	jne 2f
	lea key_status(%rip), %rdi
	xor %esi, %esi
	call pl_arg_num
	mov %eax, %edi
	call pl_exit
2:	pause
	jmp 2b

mode_pf:
	movabs $0x7f0000000000, %rax
	movq $1, (%rax)
	ud2

mode_supervisor:
	mov $0x1000, %eax
	mov (%rax), %rax
	ud2

mode_mmio:
	mov $0xd0000000, %eax
	movl $0x12345678, (%rax)
	ud2

mode_gp:
	mov %cr0, %rax
	ud2

mode_ud:
	ud2

mode_de:
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
	div %ecx
	ud2

mode_badport:
	out %al, $0x80
	ud2

mode_badcall:
	mov $99, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ud2

mode_excport:
	mov $PAYLOAD_PORT_EXCEPTION, %dx
	out %al, (%dx)
	ud2
