/* SPDX-License-Identifier: MIT */
/*
 * mbtest: a Multiboot v1 test kernel (ELF32, like kvm-unit-tests' and
 * unikernels'), for thpvm's multiboot loader (docs/linux-boot.md,
 * "Multiboot kernels"). It checks what a multiboot loader must give it and
 * says what it got on COM1, one "mb: ..." line each:
 *   EAX = 0x2BADB002, EBX -> the multiboot info, 32-bit protected mode;
 *   mem_lower/mem_upper, the command line, the modules (their strings and
 *   their first bytes), the memory map (how many entries, the RAM above
 *   1 MiB in KiB);
 * then exits through QEMU's isa-debug-exit port 0xf4: 1 byte of its status
 * (0 when every check passed, else the check that failed: 1 magic, 2 no
 * memory fields, 3 no command line, 4 no memory map), or 4 bytes when the
 * command line has "wide". With "status=N" (one digit) on the command line
 * it exits with N instead of 0 when everything passed.
 */
#define MB_MAGIC        0x1BADB002
#define MB_FLAGS        0x00000003 /* page-aligned modules, memory information */
#define MB_BOOT_MAGIC   0x2BADB002
#define COM1            0x3f8
#define EXIT_PORT       0xf4

	.code32
	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	mov $stack_top, %esp
	mov $no_info, %ebp              /* until the magic says EBX is the info: flags 0 */
	mov $1, %edi                    /* the failure code if the magic is wrong */
	cmp $MB_BOOT_MAGIC, %eax
	jne exit
	mov %ebx, %ebp                  /* the multiboot info, for the rest */
	mov $msg_hello, %esi
	call puts

	mov $2, %edi
	testl $1, 0(%ebp)               /* flags bit 0: mem_lower, mem_upper */
	jz exit
	mov $msg_mem, %esi
	call puts
	mov 4(%ebp), %eax
	call putdec
	mov $msg_upper, %esi
	call puts
	mov 8(%ebp), %eax
	call putdec
	call newline

	mov $3, %edi
	testl $4, 0(%ebp)               /* bit 2: cmdline */
	jz exit
	mov $msg_cmdline, %esi
	call puts
	mov 16(%ebp), %esi
	call puts
	call newline

	testl $8, 0(%ebp)               /* bit 3: modules (none is fine) */
	jz 2f
	mov $msg_mods, %esi
	call puts
	mov 20(%ebp), %eax
	call putdec
	call newline
	mov 20(%ebp), %ecx              /* mods_count */
	mov 24(%ebp), %ebx              /* mods_addr */
1:	test %ecx, %ecx
	jz 2f
	push %ecx
	mov $msg_mod, %esi
	call puts
	mov 8(%ebx), %esi               /* its string */
	call puts
	mov $msg_size, %esi
	call puts
	mov 4(%ebx), %eax
	sub 0(%ebx), %eax               /* mod_end - mod_start */
	call putdec
	mov $msg_align, %esi
	call puts
	mov 0(%ebx), %eax
	and $0xfff, %eax                /* page-aligned: 0 */
	call putdec
	mov $msg_bytes, %esi
	call puts
	mov 0(%ebx), %esi               /* its first 8 bytes, printable */
	mov $8, %ecx
3:	lodsb
	cmp $0x20, %al
	jb 4f
	cmp $0x7e, %al
	ja 4f
	call putc
4:	loop 3b
	call newline
	add $16, %ebx
	pop %ecx
	dec %ecx
	jmp 1b

2:	mov $4, %edi
	testl $0x40, 0(%ebp)            /* bit 6: memory map */
	jz exit
	mov 44(%ebp), %ebx              /* mmap_length */
	mov 48(%ebp), %esi              /* mmap_addr */
	lea (%esi,%ebx), %ebx           /* its end */
	xor %ecx, %ecx                  /* entries */
	xor %edx, %edx                  /* KiB of RAM (type 1) at or above 1 MiB, low 32 bits of the sizes */
5:	cmp %ebx, %esi
	jae 6f
	inc %ecx
	cmpl $1, 20(%esi)               /* type */
	jne 7f
	cmpl $0x100000, 4(%esi)         /* base_addr low */
	jb 7f
	mov 12(%esi), %eax              /* length low */
	shr $10, %eax
	add %eax, %edx
7:	add 0(%esi), %esi               /* size (not counting itself) */
	add $4, %esi
	jmp 5b
6:	push %edx
	mov $msg_mmap, %esi
	call puts
	mov %ecx, %eax
	call putdec
	mov $msg_ram, %esi
	call puts
	pop %eax
	call putdec
	call newline

	/* every check passed: status 0, or the command line's status=N */
	xor %edi, %edi
	mov 16(%ebp), %esi
8:	lodsb
	test %al, %al
	jz exit
	cmpb $'s', %al
	jne 8b
	cmpl $0x75746174, (%esi)        /* "tatu" */
	jne 8b
	cmpw $0x3d73, 4(%esi)           /* "s=" */
	jne 8b
	movzbl 6(%esi), %edi
	sub $'0', %edi

exit:
	mov $msg_exit, %esi
	call puts
	mov %edi, %eax
	call putdec
	call newline
	mov %edi, %eax
	mov $EXIT_PORT, %dx
	/* "wide" on the command line: a 4-byte write */
	testl $4, 0(%ebp)
	jz 9f
	mov 16(%ebp), %esi
10:	cmpb $0, (%esi)
	je 9f
	cmpl $0x65646977, (%esi)        /* "wide" */
	je 11f
	inc %esi
	jmp 10b
11:	mov %edi, %eax
	outl %eax, %dx
	jmp 12f
9:	mov %edi, %eax
	outb %al, %dx
12:	cli
	hlt
	jmp 12b

/* ---- COM1 output: puts (%esi), putc (%al), putdec (%eax), newline ---- */
putc:
	push %edx
	mov $COM1, %dx
	outb %al, %dx
	pop %edx
	ret

puts:
	push %eax
1:	lodsb
	test %al, %al
	jz 2f
	call putc
	jmp 1b
2:	pop %eax
	ret

newline:
	mov $'\n', %al
	jmp putc

putdec:
	push %ebx
	push %ecx
	push %edx
	mov $10, %ebx
	xor %ecx, %ecx
1:	xor %edx, %edx
	div %ebx
	push %edx
	inc %ecx
	test %eax, %eax
	jnz 1b
2:	pop %eax
	add $'0', %al
	call putc
	loop 2b
	pop %edx
	pop %ecx
	pop %ebx
	ret

	.section .rodata
msg_hello:   .asciz "mb: hello from a multiboot kernel\n"
msg_mem:     .asciz "mb: mem_lower="
msg_upper:   .asciz " mem_upper="
msg_cmdline: .asciz "mb: cmdline="
msg_mods:    .asciz "mb: mods="
msg_mod:     .asciz "mb: mod "
msg_size:    .asciz " size="
msg_align:   .asciz " page_offset="
msg_bytes:   .asciz " bytes="
msg_mmap:    .asciz "mb: mmap entries="
msg_ram:     .asciz " ram_above_1m_kib="
msg_exit:    .asciz "mb: exit "

	.bss
	.align 16
no_info:
	.skip 64
	.skip 4096
stack_top:
	.section .note.GNU-stack, "", @progbits
