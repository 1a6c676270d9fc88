/* SPDX-License-Identifier: MIT */
/* The 16550A console UART's registers as Linux's 8250 driver uses them (device to be wired). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "dev/uart8250.h"
#include "x86/layout.h"

#define BASE X86_PORT_COM1

static struct uart8250 u;
static uint8_t out[65536];
static unsigned nr_out, nr_irq_changes;
static bool line;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void tx(void *opaque, uint8_t byte)
{
	pthread_mutex_lock(&out_lock);
	if (nr_out < sizeof(out))
		out[nr_out] = byte;
	nr_out++;
	pthread_mutex_unlock(&out_lock);
}

static void irq_line(void *opaque, unsigned irq, bool level)
{
	cr_assert_eq(irq, X86_COM1_IRQ);
	cr_assert_neq(level, line, "the line is only driven when it changes");
	line = level;
	nr_irq_changes++;
}

static void setup(void)
{
	nr_out = nr_irq_changes = 0;
	line = false;
	uart8250_init(&u, BASE, X86_COM1_IRQ, tx, irq_line, NULL);
}

static void teardown(void)
{
	uart8250_destroy(&u);
}

TestSuite(uart8250, .init = setup, .fini = teardown);

static void outb(unsigned reg, uint8_t v)
{
	cr_assert_eq(uart8250_pio(&u, (uint16_t)(BASE + reg), true, &v, 1), 0);
}

static uint8_t inb(unsigned reg)
{
	uint8_t v = 0xaa;

	cr_assert_eq(uart8250_pio(&u, (uint16_t)(BASE + reg), false, &v, 1), 0);
	return v;
}

Test(uart8250, power_on_state)
{
	cr_assert_eq(inb(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT, "transmitter empty, no data");
	cr_assert_eq(inb(UART_IIR), UART_IIR_NO_INT);
	cr_assert_eq(inb(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS, "modem lines ready");
	cr_assert_eq(inb(UART_IER), 0);
	cr_assert(!line);
}

Test(uart8250, polled_transmit_reaches_the_console)
{
	const char *msg = "Linux version 6.1\n";

	for (const char *p = msg; *p; p++) {
		cr_assert(inb(UART_LSR) & UART_LSR_THRE);
		outb(UART_TX, (uint8_t)*p);
	}
	cr_assert_eq(nr_out, strlen(msg));
	cr_assert_eq(memcmp(out, msg, nr_out), 0);
	cr_assert(!line, "no interrupt with IER 0");
}

Test(uart8250, interrupt_driven_transmit)
{
	/* serial8250_start_tx: enabling THRI with an empty THR interrupts at once */
	outb(UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS | UART_MCR_DTR);
	outb(UART_IER, UART_IER_THRI);
	cr_assert(line);
	/* the ISR: IIR says THRE, it writes bytes, then finds nothing more to send */
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(inb(UART_IIR), UART_IIR_THRI);
		cr_assert(!line, "reading IIR acknowledged THRE");
		outb(UART_TX, (uint8_t)('a' + round));
		cr_assert(line, "THR empty again: next THRE interrupt");
	}
	outb(UART_IER, 0); /* serial8250_stop_tx */
	cr_assert(!line);
	cr_assert_eq(inb(UART_IIR), UART_IIR_NO_INT);
	cr_assert_eq(nr_out, 3);
	cr_assert_eq(memcmp(out, "abc", 3), 0);
}

Test(uart8250, passes_linux_thre_reassert_test)
{
	/* serial8250_do_startup(): a UART that does not re-assert THRE gets UART_BUG_THRE */
	outb(UART_IER, UART_IER_THRI);
	uint8_t iir1 = inb(UART_IIR);
	outb(UART_IER, 0);
	outb(UART_IER, UART_IER_THRI);
	uint8_t iir = inb(UART_IIR);
	outb(UART_IER, 0);
	cr_assert(!(iir1 & UART_IIR_NO_INT));
	cr_assert(!(iir & UART_IIR_NO_INT), "THRE re-asserted when THRI is enabled again");
}

Test(uart8250, receive_raises_data_ready)
{
	outb(UART_IER, UART_IER_RDI);
	cr_assert_eq(uart8250_receive(&u, (const uint8_t *)"ls\n", 3), 3);
	cr_assert(line);
	cr_assert_eq(inb(UART_IIR), UART_IIR_RDI);
	cr_assert(inb(UART_LSR) & UART_LSR_DR);
	cr_assert_eq(inb(UART_RX), 'l');
	cr_assert_eq(inb(UART_RX), 's');
	cr_assert(line, "still a byte left");
	cr_assert_eq(inb(UART_RX), '\n');
	cr_assert(!(inb(UART_LSR) & UART_LSR_DR));
	cr_assert(!line);
	cr_assert_eq(inb(UART_IIR), UART_IIR_NO_INT);
}

Test(uart8250, receive_fifo_holds_16_bytes)
{
	uint8_t buf[20];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(uart8250_receive(&u, buf, sizeof(buf)), UART8250_FIFO_SIZE);
	cr_assert_eq(uart8250_rx_room(&u), 0);
	cr_assert_eq(uart8250_receive(&u, buf, 1), 0, "full: the console thread retries later");
	cr_assert_eq(inb(UART_RX), 0);
	cr_assert_eq(uart8250_rx_room(&u), 1);
	for (unsigned i = 1; i < UART8250_FIFO_SIZE; i++)
		cr_assert_eq(inb(UART_RX), i, "in order");
	outb(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	cr_assert_eq(uart8250_receive(&u, buf, 3), 3);
	outb(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	cr_assert(!(inb(UART_LSR) & UART_LSR_DR), "FCR cleared the receive FIFO");
}

Test(uart8250, divisor_latch)
{
	outb(UART_IER, UART_IER_RDI);
	outb(UART_LCR, UART_LCR_DLAB | 0x03);
	outb(UART_DLL, 0x01); /* 115200 baud */
	outb(UART_DLM, 0x00);
	cr_assert_eq(inb(UART_DLL), 0x01);
	cr_assert_eq(inb(UART_DLM), 0x00);
	outb(UART_LCR, 0x03); /* 8N1 */
	cr_assert_eq(inb(UART_LCR), 0x03);
	cr_assert_eq(inb(UART_IER), UART_IER_RDI, "IER untouched by the divisor writes");
	cr_assert_eq(nr_out, 0, "divisor writes are not output");
	outb(UART_TX, 'x');
	cr_assert_eq(nr_out, 1);
}

Test(uart8250, fifo_and_loopback_as_linux_autoconfig_probes)
{
	/* autoconfig(): scratch register, FIFO bits in IIR, loopback modem lines */
	outb(UART_SCR, 0xa5);
	cr_assert_eq(inb(UART_SCR), 0xa5);
	outb(UART_FCR, UART_FCR_ENABLE_FIFO);
	cr_assert_eq(inb(UART_IIR) & UART_IIR_FIFO_ENABLED, UART_IIR_FIFO_ENABLED, "a 16550A");
	outb(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
	cr_assert_eq(inb(UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	outb(UART_TX, 0x5a);
	cr_assert_eq(nr_out, 0, "loopback: nothing leaves the UART");
	cr_assert_eq(inb(UART_RX), 0x5a, "it comes back in");
	cr_assert_eq(uart8250_receive(&u, (const uint8_t *)"x", 1), 0, "the outside is disconnected");
	outb(UART_MCR, UART_MCR_OUT2);
	cr_assert_eq(inb(UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}

Test(uart8250, save_and_restore)
{
	struct uart8250 copy;
	json_t *s;

	outb(UART_LCR, 0x03);
	outb(UART_MCR, UART_MCR_OUT2);
	outb(UART_SCR, 0x42);
	outb(UART_IER, UART_IER_RDI);
	cr_assert_eq(uart8250_receive(&u, (const uint8_t *)"abc", 3), 3);
	cr_assert_eq(inb(UART_RX), 'a');
	s = uart8250_save(&u);
	cr_assert_not_null(s);

	uart8250_init(&copy, BASE, X86_COM1_IRQ, NULL, NULL, NULL);
	cr_assert_eq(uart8250_restore(&copy, s), 0);
	cr_assert(copy.irq_level, "the restored UART has data pending: its line is up");
	uint8_t v;
	cr_assert_eq(uart8250_pio(&copy, BASE + UART_RX, false, &v, 1), 0);
	cr_assert_eq(v, 'b', "FIFO contents survive");
	cr_assert_eq(uart8250_pio(&copy, BASE + UART_SCR, false, &v, 1), 0);
	cr_assert_eq(v, 0x42);
	cr_assert_eq(uart8250_pio(&copy, BASE + UART_IER, false, &v, 1), 0);
	cr_assert_eq(v, UART_IER_RDI);
	cr_assert_eq(uart8250_pio(&copy, BASE + UART_IIR, false, &v, 1), 0);
	cr_assert_eq(v, UART_IIR_RDI, "'c' still pending");
	uart8250_destroy(&copy);

	json_object_set_new(s, "ier", json_integer(300));
	cr_assert_eq(uart8250_restore(&u, s), -EINVAL);
	json_object_del(s, "ier");
	cr_assert_eq(uart8250_restore(&u, s), -EINVAL);
	json_decref(s);
}

Test(uart8250, accesses_outside_the_registers_are_refused)
{
	uint8_t v[4] = { 0 };

	cr_assert_eq(uart8250_pio(&u, BASE + 8, false, v, 1), -EINVAL);
	cr_assert_eq(uart8250_pio(&u, BASE - 1, false, v, 1), -EINVAL);
	cr_assert_eq(uart8250_pio(&u, BASE + 6, true, v, 4), -EINVAL, "past the last register");
	cr_assert_eq(uart8250_pio(&u, BASE, true, v, 0), -EINVAL);
	cr_assert_eq(nr_out, 0);
}

/* A guest's outw/outl to the UART is byte accesses to consecutive registers, as on the ISA bus (found by a guest
 * writing garbage to every port, tests/kvm/test_guest_misbehaves.c: thpvm used to end the VM) */
Test(uart8250, wide_accesses_are_byte_accesses_to_consecutive_registers)
{
	uint8_t w[4] = { 'h', 0x00, 0x00, 0x03 }, r[4];

	/* THR 'h', IER 0, FCR 0, LCR 8N1 in one 4-byte write */
	cr_assert_eq(uart8250_pio(&u, BASE, true, w, 4), 0);
	cr_assert_eq(nr_out, 1);
	cr_assert_eq(out[0], 'h');
	/* LCR and MCR in one 2-byte read */
	cr_assert_eq(uart8250_pio(&u, BASE + UART_LCR, false, r, 2), 0);
	cr_assert_eq(r[0], 0x03);
	/* scratch through a 2-byte write at MSR: MSR is read-only, SCR takes the second byte */
	w[0] = 0x55;
	w[1] = 0xa5;
	cr_assert_eq(uart8250_pio(&u, BASE + UART_MSR, true, w, 2), 0);
	cr_assert_eq(uart8250_pio(&u, BASE + UART_SCR, false, r, 1), 0);
	cr_assert_eq(r[0], 0xa5);
}

static void *writer(void *arg)
{
	for (unsigned i = 0; i < 10000; i++) {
		uint8_t v = (uint8_t)(uintptr_t)arg;

		uart8250_pio(&u, BASE + UART_TX, true, &v, 1);
	}
	return NULL;
}

static void *reader(void *arg)
{
	for (unsigned i = 0; i < 10000; i++) {
		uint8_t b = 'r', v;

		uart8250_receive(&u, &b, 1);
		uart8250_pio(&u, BASE + UART_RX, false, &v, 1);
	}
	return NULL;
}

Test(uart8250, concurrent_vcpus_and_console_lose_no_output)
{
	pthread_t t[3];

	u.irq_line = NULL; /* lines from three threads: only the data is checked here */
	pthread_create(&t[0], NULL, writer, (void *)(uintptr_t)'x');
	pthread_create(&t[1], NULL, writer, (void *)(uintptr_t)'y');
	pthread_create(&t[2], NULL, reader, NULL);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(nr_out, 20000);
	unsigned x = 0;
	for (unsigned i = 0; i < 20000; i++)
		x += out[i] == 'x';
	cr_assert_eq(x, 10000);
}
