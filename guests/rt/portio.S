/* SPDX-License-Identifier: MIT */
/*
 * The port-I/O platform layer of a payload: entry point and the calls to
 * the VMM (docs/payload-abi.md). Payload cores use only pl_* functions and
 * the boot info, so another layer (Linux system calls) can stand in.
 *
 * Entry (every vCPU): rdi = boot info, rsi = cpu index, rsp = own stack,
 * 64-bit mode, CPL3. Calls: out %eax, $PAYLOAD_PORT_CALL with the call in
 * eax and arguments in rdi, rsi; nothing is clobbered.
 */
#include <payload_abi.h>

	.text
	.globl _start
_start:
	mov %rdi, pl_boot_info(%rip)
	and $-16, %rsp
	call payload_main          /* (boot info, cpu) -> eax = status */
	mov %eax, %edi
	call pl_cpu_exit
	ud2

/* pl_print(const char *buf, uint64_t len) */
	.globl pl_print
pl_print:
	mov $PAYLOAD_CALL_PRINT, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ret

/* pl_result(const char *name, uint64_t value) */
	.globl pl_result
pl_result:
	mov $PAYLOAD_CALL_RESULT, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ret

/* pl_exit(int status): the whole VM ends */
	.globl pl_exit
pl_exit:
	mov $PAYLOAD_CALL_EXIT, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ud2

/* pl_cpu_exit(int status): this vCPU ends; the VM with the last one */
	.globl pl_cpu_exit
pl_cpu_exit:
	mov $PAYLOAD_CALL_CPU_EXIT, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ud2

/* pl_sleep(uint64_t ns): this vCPU idles in the VMM for at most ns (a pause or stop ends it early) */
	.globl pl_sleep
pl_sleep:
	mov $PAYLOAD_CALL_SLEEP, %eax
	out %eax, $PAYLOAD_PORT_CALL
	ret

	.data
	.globl pl_boot_info
	.balign 8
pl_boot_info:
	.quad 0
