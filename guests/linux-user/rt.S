/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform layer: the same payload cores (tlbbench, memtest) as
 * static Linux programs, for Linux guests (or any Linux host). No libc.
 *
 *   memtest [KEY=VALUE ...] [mem=SIZE] [cpus=N]
 *
 * KEY=VALUE are the payload's arguments, checked against its list like
 * thpvm run --arg does. mem (default 64M) is the memory the payload gets
 * (one anonymous MADV_HUGEPAGE mapping, 2 MiB aligned: the boot info's only
 * range); cpus (default 1) the threads that run payload_main, as vCPUs do.
 * Calls become system calls: print -> write(1), result -> a "result
 * NAME=VALUE" line, exit -> exit_group, cpu exit -> the thread ends, the
 * last one ends the process with the first non-zero status. SIGINT and
 * SIGTERM set the boot info's stop flag. Addresses are virtual, so
 * memtest's page index is the virtual page number here.
 */
#include <payload_abi.h>

#define SYS_write 1
#define SYS_mmap 9
#define SYS_madvise 28
#define SYS_rt_sigaction 13
#define SYS_rt_sigreturn 15
#define SYS_clone 56
#define SYS_nanosleep 35
#define SYS_exit 60
#define SYS_exit_group 231
#define MADV_HUGEPAGE 14
#define CLONE_THREADS 0x50f00   /* VM | FS | FILES | SIGHAND | THREAD | SYSVSEM */
#define THREAD_STACK 0x10000
#define MIB2 0x200000

	.text
	.globl _start
_start:
	mov (%rsp), %r12            /* argc */
	lea 8(%rsp), %r13           /* argv */
	and $-16, %rsp
	lea lu_boot_info(%rip), %rbx
	mov %rbx, pl_boot_info(%rip)
	movabs $PAYLOAD_BOOT_MAGIC, %rax
	mov %rax, BI_MAGIC(%rbx)
	movl $PAYLOAD_ABI_VERSION, BI_VERSION(%rbx)
	movl $BI_TOTAL_SIZE, BI_SIZE(%rbx)
	movl $4096, BI_GUEST_PAGE_SIZE(%rbx)
	movq $0x4000000, lu_mem(%rip)
	movq $1, lu_cpus(%rip)
	mov $1, %r14
1:	cmp %r12, %r14
	jae 2f
	mov (%r13,%r14,8), %rdi
	call lu_arg
	inc %r14
	jmp 1b
2:
	/* memory: mem + 2 MiB, aligned up to 2 MiB, MADV_HUGEPAGE */
	mov $SYS_mmap, %eax
	xor %edi, %edi
	mov lu_mem(%rip), %rsi
	add $MIB2, %rsi
	mov $3, %edx                /* PROT_READ | PROT_WRITE */
	mov $0x22, %r10d            /* MAP_PRIVATE | MAP_ANONYMOUS */
	mov $-1, %r8
	xor %r9d, %r9d
	syscall
	cmp $-4096, %rax
	ja no_memory
	add $MIB2 - 1, %rax
	and $-MIB2, %rax
	mov %rax, BI_RANGES(%rbx)
	mov lu_mem(%rip), %rcx
	mov %rcx, BI_RANGES + 8(%rbx)
	mov %rcx, BI_RAM_BYTES(%rbx)
	movl $1, BI_NR_RANGES(%rbx)
	mov %rax, %rdi
	mov %rcx, %rsi
	mov $MADV_HUGEPAGE, %edx
	mov $SYS_madvise, %eax
	syscall                     /* without THP the payload runs on 4 KiB pages all the same */

	/* SIGINT, SIGTERM: ask the payload to stop */
	mov $2, %edi
	call lu_on_signal
	mov $15, %edi
	call lu_on_signal

	mov lu_cpus(%rip), %rax
	mov %eax, BI_NR_CPUS(%rbx)
	mov %rax, lu_running(%rip)
	mov $1, %r14
3:	cmp lu_cpus(%rip), %r14
	jae 4f
	call lu_thread
	inc %r14
	jmp 3b
4:	mov %rbx, %rdi
	xor %esi, %esi
	call payload_main
	mov %eax, %edi
	call pl_cpu_exit
	ud2

/* lu_thread(r14 = cpu): a thread with its own stack that runs payload_main(boot info, cpu) */
lu_thread:
	mov $SYS_mmap, %eax
	xor %edi, %edi
	mov $THREAD_STACK, %esi
	mov $3, %edx
	mov $0x22, %r10d
	mov $-1, %r8
	xor %r9d, %r9d
	syscall
	cmp $-4096, %rax
	ja no_memory
	lea THREAD_STACK(%rax), %rsi
	mov $CLONE_THREADS, %edi
	xor %edx, %edx
	xor %r10d, %r10d
	xor %r8d, %r8d
	mov $SYS_clone, %eax
	syscall
	test %rax, %rax
	je 1f
	js no_thread
	ret
1:	/* the new thread, on its own stack; r14 was copied */
	and $-16, %rsp
	mov pl_boot_info(%rip), %rdi
	mov %r14, %rsi
	call payload_main
	mov %eax, %edi
	call pl_cpu_exit
	ud2

/* lu_on_signal(edi = signal): handler sets boot info stop */
lu_on_signal:
	sub $40, %rsp
	lea lu_stop_handler(%rip), %rax
	mov %rax, (%rsp)            /* sa_handler */
	movq $0x04000000, 8(%rsp)   /* SA_RESTORER */
	lea lu_restorer(%rip), %rax
	mov %rax, 16(%rsp)
	movq $0, 24(%rsp)           /* sa_mask */
	mov %rsp, %rsi
	xor %edx, %edx
	mov $8, %r10d
	mov $SYS_rt_sigaction, %eax
	syscall
	add $40, %rsp
	ret
lu_stop_handler:
	mov pl_boot_info(%rip), %rax
	movq $1, BI_STOP(%rax)
	ret
lu_restorer:
	mov $SYS_rt_sigreturn, %eax
	syscall

/* lu_arg(rdi = "KEY=VALUE"): mem= and cpus= for the runtime, the rest for the payload */
lu_arg:
	push %rbx
	push %r12
	push %r13
	mov %rdi, %r12
	xor %ecx, %ecx              /* key length */
1:	movzbl (%r12,%rcx), %eax
	test %eax, %eax
	je bad_arg
	cmp $'=', %eax
	je 2f
	cmp $'_', %eax
	je 5f
	lea -'a'(%rax), %edx
	cmp $25, %edx
	jbe 5f
	lea -'0'(%rax), %edx
	cmp $9, %edx
	ja bad_arg
5:	inc %ecx
	cmp $PAYLOAD_ARG_KEY_MAX - 1, %ecx
	ja bad_arg
	jmp 1b
2:	test %ecx, %ecx
	je bad_arg
	lea 1(%r12,%rcx), %r13      /* value */
	mov %ecx, %ebx
	/* runtime keys */
	cmp $3, %ebx
	jne 3f
	cmpl $0x3d6d656d, (%r12)    /* "mem=" */
	jne 3f
	mov %r13, %rdi
	call lu_parse_num
	test %edx, %edx
	je bad_arg
	cmp $MIB2, %rax
	jb bad_arg
	add $MIB2 - 1, %rax
	and $-MIB2, %rax
	mov %rax, lu_mem(%rip)
	jmp 9f
3:	cmp $4, %ebx
	jne 4f
	cmpl $0x73757063, (%r12)    /* "cpus" */
	jne 4f
	mov %r13, %rdi
	call lu_parse_num
	test %edx, %edx
	je bad_arg
	test %rax, %rax
	je bad_arg
	cmp $PAYLOAD_MAX_CPUS, %rax
	ja bad_arg
	mov %rax, lu_cpus(%rip)
	jmp 9f
4:	/* a payload argument: a key it takes, not given twice, room left */
	mov pl_boot_info(%rip), %rdx
	mov BI_NR_ARGS(%rdx), %eax
	cmp $PAYLOAD_MAX_ARGS, %eax
	jae bad_arg
	imul $BI_ARG_SIZE, %eax, %eax
	lea BI_ARGS(%rdx,%rax), %rdi
	mov %ebx, %ecx
	mov %r12, %rsi
	rep movsb                   /* key; the slot is zeroed, so it is terminated */
	lea payload_args(%rip), %rsi
6:	cmpb $0, (%rsi)
	je bad_arg
	push %rsi
	mov pl_boot_info(%rip), %rdx
	mov BI_NR_ARGS(%rdx), %eax
	imul $BI_ARG_SIZE, %eax, %eax
	lea BI_ARGS(%rdx,%rax), %rdi
	call pl_streq
	pop %rsi
	test %eax, %eax
	jne 7f
	mov %rsi, %rdi
	call pl_strlen
	lea 1(%rsi,%rax), %rsi
	jmp 6b
7:	mov pl_boot_info(%rip), %rdx
	mov BI_NR_ARGS(%rdx), %eax
	imul $BI_ARG_SIZE, %eax, %eax
	lea BI_ARGS(%rdx,%rax), %rdi
	call pl_arg_find            /* only earlier slots count: nr_args not yet bumped */
	test %rax, %rax
	jne bad_arg
	mov %r13, %rdi
	call pl_strlen
	cmp $PAYLOAD_ARG_STR_MAX - 1, %rax
	ja bad_arg
	mov %rax, %rcx
	mov pl_boot_info(%rip), %rdx
	mov BI_NR_ARGS(%rdx), %eax
	imul $BI_ARG_SIZE, %eax, %eax
	lea BI_ARGS(%rdx,%rax), %rbx
	lea BI_ARG_STR(%rbx), %rdi
	mov %r13, %rsi
	rep movsb
	mov %r13, %rdi
	call lu_parse_num
	mov %rax, BI_ARG_NUM(%rbx)
	mov %edx, BI_ARG_IS_NUM(%rbx)
	mov pl_boot_info(%rip), %rdx
	incl BI_NR_ARGS(%rdx)
9:	pop %r13
	pop %r12
	pop %rbx
	ret
bad_arg:
	lea msg_bad_arg(%rip), %rdi
	call pl_puts
	mov %r12, %rdi
	call pl_puts
	lea msg_bad_arg_end(%rip), %rdi
	call pl_puts
	mov $2, %edi
	jmp pl_exit

/*
 * lu_parse_num(rdi = string) -> rax = value, edx = 1 when the whole string is
 * a number like thpvm's parse_size(): decimal, 0x hex or 0 octal, then an
 * optional K/M/G/T (powers of 1024), optional i, optional B.
 */
lu_parse_num:
	xor %eax, %eax
	movzbl (%rdi), %ecx
	lea -'0'(%rcx), %edx
	cmp $9, %edx
	ja 8f
	mov $10, %r8d
	cmp $'0', %ecx
	jne 1f
	mov $8, %r8d
	inc %rdi
	movzbl (%rdi), %ecx
	or $0x20, %ecx
	cmp $'x', %ecx
	jne 1f
	mov $16, %r8d
	inc %rdi
	movzbl (%rdi), %ecx         /* 0x needs a digit */
	call digit
	cmp %r8d, %edx
	jae 8f
1:	movzbl (%rdi), %ecx
	call digit
	cmp %r8d, %edx
	jae 2f
	imul %r8, %rax
	jo 8f
	add %rdx, %rax
	jc 8f
	inc %rdi
	jmp 1b
2:	movzbl (%rdi), %ecx
	or $0x20, %ecx
	xor %r9d, %r9d
	cmp $'k', %ecx
	jne 3f
	mov $10, %r9d
3:	cmp $'m', %ecx
	jne 4f
	mov $20, %r9d
4:	cmp $'g', %ecx
	jne 5f
	mov $30, %r9d
5:	cmp $'t', %ecx
	jne 6f
	mov $40, %r9d
6:	test %r9d, %r9d
	je 7f
	inc %rdi
	mov %r9d, %ecx
	mov %rax, %r10
	shl %cl, %rax
	mov %rax, %r11
	shr %cl, %r11
	cmp %r10, %r11
	jne 8f                      /* overflow */
	movzbl (%rdi), %ecx
	or $0x20, %ecx
	cmp $'i', %ecx
	jne 9f
	inc %rdi
	movzbl (%rdi), %ecx
	or $0x20, %ecx
9:	cmp $'b', %ecx
	jne 7f
	inc %rdi
7:	cmpb $0, (%rdi)
	jne 8f
	mov $1, %edx
	ret
8:	xor %eax, %eax
	xor %edx, %edx
	ret
/* digit(ecx = char) -> edx = its value, or 99 */
digit:
	lea -'0'(%rcx), %edx
	cmp $9, %edx
	jbe 1f
	or $0x20, %ecx
	lea -'a'(%rcx), %edx
	cmp $5, %edx
	ja 2f
	add $10, %edx
1:	ret
2:	mov $99, %edx
	ret

no_memory:
	lea msg_no_memory(%rip), %rdi
	call pl_puts
	mov $1, %edi
	jmp pl_exit
no_thread:
	lea msg_no_thread(%rip), %rdi
	call pl_puts
	mov $1, %edi
	jmp pl_exit

/* pl_print(buf, len): write(1) */
	.globl pl_print
pl_print:
	mov %rsi, %rdx
	mov %rdi, %rsi
	mov $1, %edi
	mov $SYS_write, %eax
	syscall
	ret

/* pl_result(name, value): one "result NAME=VALUE\n" write */
	.globl pl_result
pl_result:
	push %rbx
	sub $128, %rsp
	mov %rsi, %r8
	mov %rdi, %rsi
	mov %rsp, %rdi
	movabs $0x20746c75736572, %rax   /* "result " */
	mov %rax, (%rdi)
	add $7, %rdi
	mov $PAYLOAD_NAME_MAX - 1, %ecx
1:	movzbl (%rsi), %eax
	test %eax, %eax
	je 2f
	mov %al, (%rdi)
	inc %rsi
	inc %rdi
	dec %ecx
	jne 1b
2:	movb $'=', (%rdi)
	inc %rdi
	/* decimal digits, reversed into the tail of the buffer */
	lea 127(%rsp), %rbx
	movb $'\n', (%rbx)
	mov %r8, %rax
	mov $10, %ecx
3:	xor %edx, %edx
	div %rcx
	add $'0', %edx
	dec %rbx
	mov %dl, (%rbx)
	test %rax, %rax
	jne 3b
4:	movzbl (%rbx), %eax
	mov %al, (%rdi)
	inc %rdi
	inc %rbx
	cmp $'\n', %eax
	jne 4b
	mov %rdi, %rsi
	sub %rsp, %rsi
	mov %rsp, %rdi
	call pl_print
	add $128, %rsp
	pop %rbx
	ret

/* pl_exit(status): the process ends */
	.globl pl_exit
pl_exit:
	mov $SYS_exit_group, %eax
	syscall
	ud2

/* pl_cpu_exit(status): this thread ends; the last one ends the process with the first non-zero status */
/* pl_sleep(uint64_t ns): nanosleep; a signal (SIGINT, SIGTERM: stop) ends it early */
	.globl pl_sleep
pl_sleep:
	sub $24, %rsp
	mov %rdi, %rax
	xor %edx, %edx
	mov $1000000000, %ecx
	div %rcx
	mov %rax, (%rsp)            /* tv_sec */
	mov %rdx, 8(%rsp)           /* tv_nsec */
	mov %rsp, %rdi
	xor %esi, %esi
	mov $SYS_nanosleep, %eax
	syscall
	add $24, %rsp
	ret

	.globl pl_cpu_exit
pl_cpu_exit:
	test %edi, %edi
	je 1f
	xor %eax, %eax
	lock cmpxchg %edi, lu_status(%rip)
1:	lock decq lu_running(%rip)
	jne 2f
	mov lu_status(%rip), %edi
	jmp pl_exit
2:	xor %edi, %edi
	mov $SYS_exit, %eax
	syscall
	ud2

	.section .rodata
msg_bad_arg:	.asciz "payload: bad argument '"
msg_bad_arg_end: .asciz "' (KEY=VALUE with a key the payload takes, given once; mem=SIZE; cpus=1-64)\n"
msg_no_memory:	.asciz "payload: cannot map its memory (mem=SIZE)\n"
msg_no_thread:	.asciz "payload: cannot start a thread (cpus=N)\n"

	.data
	.globl pl_boot_info
	.balign 8
pl_boot_info:	.quad 0
lu_mem:		.quad 0
lu_cpus:	.quad 0
lu_running:	.quad 0
lu_status:	.long 0

	.bss
	.balign 64
lu_boot_info:	.skip BI_TOTAL_SIZE
