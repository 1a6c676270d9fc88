/* SPDX-License-Identifier: MIT */
/*
 * The legacy PC devices on a real VM's I/O bus (vmm/dev/uart8250_dev.c,
 * i8042_dev.c, debug_exit_dev.c): register behaviour through iobus_dispatch(), the UART's interrupt on KVM's
 * in-kernel irqchip (read back with KVM_GET_IRQCHIP: PIC and I/O APIC see
 * IRQ 4), console output and input (the input thread, escape keys, a full
 * FIFO, stop/start as vm_pause() does it), the i8042 reset and the
 * debug-exit port ending the VM, save/restore. Skips without /dev/kvm.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kvm_test.h"
#include "dev/console.h"
#include "util/error.h"
#include "dev/i8042.h"
#include "dev/pc_dev.h"
#include "dev/uart8250.h"
#include "kvm/vm.h"
#include "x86/layout.h"

static struct thpvm_memmap *mem;
static struct vm *vm;
static struct console *con;
static char con_path[64];

static void teardown(void)
{
	vm_destroy(vm);
	console_close(con);
	if (mem)
		thpvm_memmap_destroy(mem);
	if (con_path[0])
		unlink(con_path);
}

TestSuite(pc_dev, .fini = teardown, .timeout = 30);

/*
 * A VM with the in-kernel irqchip and the three devices. The console writes
 * to a file: its own (file console), or stdout redirected to it (stdio).
 */
static struct uart8250 *make_vm_console(enum console_kind kind)
{
	struct vm_config cfg = { .nr_cpus = 1, .features = VM_F_IRQCHIP | VM_F_PIT, .ignore_unclaimed_pio = true };
	struct console_config cc = { .kind = kind, .path = con_path };
	struct uart8250 *uart;
	int fd;

	REQUIRE_KVM();
	snprintf(con_path, sizeof(con_path), "/tmp/thpvm-pcdev-XXXXXX");
	fd = mkstemp(con_path);
	cr_assert(fd >= 0);
	if (kind == CONSOLE_STDIO)
		cr_assert_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	cr_assert_eq(console_open(&cc, &con), 0, "%s", vmm_last_error());
	mem = guest_mem(16ULL << 20, THPVM_BACKING_THP);
	cr_assert_eq(vm_create(&cfg, mem, &vm), 0, "%s", vmm_last_error());
	cr_assert_eq(uart8250_dev_add(vm, "com1", X86_PORT_COM1, X86_COM1_IRQ, con, &uart), 0, "%s", vmm_last_error());
	cr_assert_eq(i8042_dev_add(vm), 0, "%s", vmm_last_error());
	cr_assert_eq(debug_exit_dev_add(vm, X86_PORT_DEBUG_EXIT), 0, "%s", vmm_last_error());
	return uart;
}

static struct uart8250 *make_vm(void)
{
	return make_vm_console(CONSOLE_FILE);
}

static int pio(uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	struct iobus_access a = { .space = IOBUS_PIO, .addr = port, .is_write = is_write, .size = size, .data = data };

	return iobus_dispatch(vm->bus, &a);
}

static void outb(uint16_t port, uint8_t v)
{
	cr_assert_eq(pio(port, true, &v, 1), 0, "out 0x%x to port 0x%x: %s", v, port, vmm_last_error());
}

static uint8_t inb(uint16_t port)
{
	uint8_t v = 0;

	cr_assert_eq(pio(port, false, &v, 1), 0, "in from port 0x%x: %s", port, vmm_last_error());
	return v;
}

static struct kvm_irqchip irqchip(unsigned id)
{
	struct kvm_irqchip c = { .chip_id = id };

	cr_assert_eq(ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c), 0, "KVM_GET_IRQCHIP %u: %s", id, strerror(errno));
	return c;
}

static bool ioapic_irr(unsigned irq)
{
	return irqchip(KVM_IRQCHIP_IOAPIC).chip.ioapic.irr & (1u << irq);
}

static void read_console_file(char *buf, size_t len)
{
	int fd = open(con_path, O_RDONLY);
	ssize_t n;

	cr_assert(fd >= 0);
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

Test(pc_dev, uart_registers_through_the_bus)
{
	uint8_t v[2] = { 0 };
	char out[64];

	make_vm();
	cr_assert_eq(inb(X86_PORT_COM1 + UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
	outb(X86_PORT_COM1 + UART_SCR, 0x5a);
	cr_assert_eq(inb(X86_PORT_COM1 + UART_SCR), 0x5a, "scratch register");
	outb(X86_PORT_COM1 + UART_LCR, UART_LCR_DLAB);
	outb(X86_PORT_COM1 + UART_DLL, 1);
	outb(X86_PORT_COM1 + UART_LCR, 0x03);
	cr_assert_eq(inb(X86_PORT_COM1 + UART_LCR), 0x03);
	outb(X86_PORT_COM1 + UART_TX, 'o');
	outb(X86_PORT_COM1 + UART_TX, 'k');
	read_console_file(out, sizeof(out));
	cr_assert_str_eq(out, "ok", "each byte reaches the console at once");
	cr_assert_eq(console_nr_out(con), 2);
	/* a 2-byte write is THR then IER, as on the ISA bus: one more byte out, interrupts still off */
	v[0] = '!';
	v[1] = 0;
	cr_assert_eq(pio(X86_PORT_COM1, true, v, 2), 0, "%s", vmm_last_error());
	read_console_file(out, sizeof(out));
	cr_assert_str_eq(out, "ok!");
	cr_assert_eq(inb(X86_PORT_COM1 + UART_IER), 0);
	cr_assert_eq(console_nr_out(con), 3);
	/* one that runs past the last register is not the UART's: the bus finds no device (a Linux machine ignores it) */
	cr_assert_eq(pio(X86_PORT_COM1 + UART_SCR, true, v, 2), -ENODEV);
}

Test(pc_dev, uart_interrupt_reaches_the_in_kernel_irqchip)
{
	struct kvm_irqchip pic;

	make_vm();
	cr_assert_not(ioapic_irr(X86_COM1_IRQ));
	/* enabling THRI with an empty holding register interrupts at once (16550) */
	outb(X86_PORT_COM1 + UART_IER, UART_IER_THRI);
	cr_assert(ioapic_irr(X86_COM1_IRQ), "I/O APIC pin 4 raised");
	pic = irqchip(KVM_IRQCHIP_PIC_MASTER);
	cr_assert(pic.chip.pic.irr & (1u << X86_COM1_IRQ), "PIC IRQ 4 requested");
	cr_assert_eq(inb(X86_PORT_COM1 + UART_IIR) & 0x0f, UART_IIR_THRI);
	cr_assert_not(ioapic_irr(X86_COM1_IRQ), "reading IIR acknowledged THRE: the line is low again");
	outb(X86_PORT_COM1 + UART_TX, '.');
	cr_assert(ioapic_irr(X86_COM1_IRQ), "a transmitted byte interrupts again");
	outb(X86_PORT_COM1 + UART_IER, 0);
	cr_assert_not(ioapic_irr(X86_COM1_IRQ), "interrupts disabled: line low");
}

/* Puts a pipe on stdin, as the console's input, for the tests of the input thread. */
static int stdin_pipe(void)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	return p[1];
}

/* A stdio console on a pipe (in) and a file (out), attached to a fresh VM's UART. */
static int make_stdio_vm(void)
{
	int in = stdin_pipe();

	make_vm_console(CONSOLE_STDIO);
	return in;
}

/* Reads count bytes from the UART's receive FIFO through the bus, waiting up to 5 s for each. */
static void receive(uint8_t *buf, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		int tries = 0;

		while (!(inb(X86_PORT_COM1 + UART_LSR) & UART_LSR_DR)) {
			cr_assert_lt(tries++, 5000, "byte %u never arrived", i);
			usleep(1000);
		}
		buf[i] = inb(X86_PORT_COM1 + UART_RX);
	}
}

Test(pc_dev, console_input_goes_through_the_fifo_even_when_it_is_full)
{
	uint8_t want[100], got[100];
	int in = make_stdio_vm();

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)('0' + i % 64); /* no Ctrl-A in it */
	cr_assert_eq(write(in, want, sizeof(want)), (ssize_t)sizeof(want));
	cr_assert_eq(console_input_start(con), 0);
	receive(got, sizeof(got)); /* 100 bytes through a 16-byte FIFO */
	cr_assert_arr_eq(got, want, sizeof(want));
	close(in);
}

Test(pc_dev, stop_quiesces_console_input_and_start_resumes_it)
{
	int in = make_stdio_vm();
	uint8_t b;

	cr_assert_eq(console_input_start(con), 0);
	cr_assert_eq(write(in, "a", 1), 1);
	receive(&b, 1);
	cr_assert_eq(b, 'a');
	iobus_stop_all(vm->bus); /* what vm_pause() does to devices */
	cr_assert_eq(write(in, "b", 1), 1);
	usleep(200000);
	cr_assert_not(inb(X86_PORT_COM1 + UART_LSR) & UART_LSR_DR, "nothing reaches the guest while stopped");
	iobus_start_all(vm->bus);
	receive(&b, 1);
	cr_assert_eq(b, 'b', "input typed while stopped arrives after start");
	close(in);
}

Test(pc_dev, escape_keys)
{
	int in = make_stdio_vm();
	uint8_t got[2];
	char out[512];

	cr_assert_eq(console_input_start(con), 0);
	cr_assert_eq(write(in, "\x01\x01z\x01q\x01h", 7), 7);
	receive(got, 2);
	cr_assert_eq(got[0], 0x01, "Ctrl-A Ctrl-A is one Ctrl-A");
	cr_assert_eq(got[1], 'z');
	for (int i = 0; i < 100; i++) {
		read_console_file(out, sizeof(out));
		if (strstr(out, "Ctrl-A x       quit thpvm"))
			break;
		usleep(10000);
	}
	cr_assert(strstr(out, "Ctrl-A x       quit thpvm"), "Ctrl-A h lists the keys: %s", out);
	cr_assert_not(inb(X86_PORT_COM1 + UART_LSR) & UART_LSR_DR, "unknown escapes (Ctrl-A q) and Ctrl-A h send nothing");
	cr_assert_eq(vm->exit.reason, VM_STOP_NONE);
	cr_assert_eq(write(in, "\x01x", 2), 2);
	for (int i = 0; i < 500 && vm->exit.reason == VM_STOP_NONE; i++)
		usleep(10000);
	cr_assert_eq(vm->exit.reason, VM_STOP_REQUESTED);
	cr_assert_eq(vm->exit.status, 0);
	cr_assert_str_eq(vm->exit.message, "quit from the console (Ctrl-A x)");
	close(in);
}

Test(pc_dev, i8042_answers_and_its_reset_ends_the_vm)
{
	make_vm();
	cr_assert(inb(I8042_COMMAND_PORT) & I8042_STR_SYSFLAG);
	outb(I8042_COMMAND_PORT, I8042_CMD_READ_CTR);
	cr_assert(inb(I8042_COMMAND_PORT) & I8042_STR_OBF);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x45, "the configuration byte a BIOS leaves");
	cr_assert_eq(vm->exit.reason, VM_STOP_NONE);
	outb(I8042_COMMAND_PORT, I8042_CMD_RESET);
	cr_assert_eq(vm->exit.reason, VM_STOP_GUEST_EXIT);
	cr_assert_eq(vm->exit.status, 0);
	cr_assert(strstr(vm->exit.message, "the guest reset the machine (i8042 reset)"), "%s", vm->exit.message);
}

Test(pc_dev, i8042_output_port_reset_line_ends_the_vm)
{
	make_vm();
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_OUTPORT);
	outb(I8042_DATA_PORT, 0x02); /* bit 0 (reset, active low) cleared */
	cr_assert_eq(vm->exit.reason, VM_STOP_GUEST_EXIT);
}

Test(pc_dev, debug_exit_port)
{
	uint8_t v4[4] = { 0x07, 0, 0, 0 }, v3[3] = { 0 };
	uint32_t value;

	make_vm();
	cr_assert_eq(inb(X86_PORT_DEBUG_EXIT), 0xff);
	cr_assert_eq(inb(X86_PORT_DEBUG_EXIT + 1), 0xff, "the ports after it read as a floating bus");
	cr_assert_not(debug_exit_dev_fired(vm, X86_PORT_DEBUG_EXIT, &value));
	cr_assert_eq(pio(X86_PORT_DEBUG_EXIT, true, v3, 3), -EINVAL, "3-byte write refused");
	cr_assert_eq(pio(X86_PORT_DEBUG_EXIT, true, v4, 4), 0);
	cr_assert(debug_exit_dev_fired(vm, X86_PORT_DEBUG_EXIT, &value));
	cr_assert_eq(value, 7);
	cr_assert_eq(vm->exit.reason, VM_STOP_GUEST_EXIT);
	cr_assert_eq(vm->exit.status, 7);
	cr_assert_str_eq(vm->exit.message, "the guest wrote 7 to the debug-exit port 0x501");
	cr_assert_not(debug_exit_dev_fired(vm, X86_PORT_COM1, NULL), "another device is not the debug-exit port");
}

Test(pc_dev, save_and_restore_through_the_bus)
{
	json_t *state, *com1;
	struct uart8250 *uart = make_vm();

	outb(X86_PORT_COM1 + UART_SCR, 0x42);
	outb(X86_PORT_COM1 + UART_LCR, 0x1b);
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, 0x61);
	state = iobus_save(vm->bus);
	cr_assert(json_is_object(state));
	com1 = json_object_get(state, "com1");
	cr_assert(json_is_object(com1), "the UART's state is keyed by its name");
	cr_assert_eq(json_integer_value(json_object_get(com1, "scr")), 0x42);
	cr_assert(json_is_object(json_object_get(state, "i8042")));
	cr_assert_null(json_object_get(state, "debug-exit"), "the debug-exit port has no state");
	iobus_reset_all(vm->bus);
	cr_assert_eq(inb(X86_PORT_COM1 + UART_SCR), 0, "reset clears the scratch register");
	cr_assert_eq(iobus_restore(vm->bus, state), 0, "%s", vmm_last_error());
	cr_assert_eq(inb(X86_PORT_COM1 + UART_SCR), 0x42);
	cr_assert_eq(uart->lcr, 0x1b);
	outb(I8042_COMMAND_PORT, I8042_CMD_READ_CTR);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x61);
	json_decref(state);
}

Test(pc_dev, i8042_interrupts_reach_the_in_kernel_irqchip)
{
	make_vm();
	cr_assert_not(ioapic_irr(I8042_KBD_IRQ));
	outb(I8042_COMMAND_PORT, I8042_CMD_SELF_TEST); /* the BIOS's configuration byte has the keyboard interrupt on */
	cr_assert(ioapic_irr(I8042_KBD_IRQ), "a reply waits: IRQ 1");
	cr_assert_eq(inb(I8042_DATA_PORT), I8042_SELF_TEST_OK);
	cr_assert_not(ioapic_irr(I8042_KBD_IRQ));
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, I8042_CTR_AUXINT);
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_LOOP);
	outb(I8042_DATA_PORT, 0xa5);
	cr_assert(ioapic_irr(I8042_AUX_IRQ), "AUX data: IRQ 12, which Linux's probe waits for");
	cr_assert_eq(inb(I8042_DATA_PORT), 0xa5);
	cr_assert_not(ioapic_irr(I8042_AUX_IRQ));
}
