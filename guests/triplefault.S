/* SPDX-License-Identifier: MIT */
/*
 * triplefault: a payload that asks for no exception stubs (PAYLOAD_F_NO_IDT)
 * and then raises #UD, so the CPU finds no IDT, double-faults, and shuts
 * down: the VMM's KVM_EXIT_SHUTDOWN path, for real.
 */
#include <payload_abi.h>

	.globl payload_name, payload_args, payload_flags, payload_main
	.set payload_flags, PAYLOAD_F_NO_IDT
	.set payload_args, 0

	.section .rodata
payload_name:
	.asciz "triplefault"
msg:
	.asciz "triplefault: raising #UD without an IDT\n"

	.text
payload_main:
	lea msg(%rip), %rdi
	call pl_puts
	ud2
