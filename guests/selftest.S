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
#include <pl_asm.h>

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
	.balign 8
modes:	CHOICE hello, mode_hello
	CHOICE spin, mode_spin
	CHOICE exit, mode_exit
	CHOICE pf, mode_pf
	CHOICE supervisor, mode_supervisor
	CHOICE mmio, mode_mmio
	CHOICE gp, mode_gp
	CHOICE ud, mode_ud
	CHOICE de, mode_de
	CHOICE badport, mode_badport
	CHOICE badcall, mode_badcall
	CHOICE excport, mode_excport
	CHOICES_END mode_hello

	.text
payload_main:
	PUSH_REGS %rbx, %r12
	sub $8, %rsp                /* two pushes: keep calls aligned */
	mov %rdi, %r12              /* boot info */
	mov %esi, %ebx              /* cpu */
	ARG_CHOICE key_mode, modes, why_mode
	jmp *%rax

mode_hello:
	lea msg_hello(%rip), %rdi
	call pl_puts
	RESULT r_answer, $42
	RESULT r_cpu, %rbx
	RESULT r_nr_cpus, BI_NR_CPUS(%r12), %esi
	RESULT r_page, BI_GUEST_PAGE_SIZE(%r12), %esi
	RESULT r_long, $-1
	ARG_NUM key_value, $0
	RESULT r_value, %rax
status:
	ARG_NUM key_status, $0
	add $8, %rsp
	POP_REGS %rbx, %r12
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
	ARG_NUM key_status, $0
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
