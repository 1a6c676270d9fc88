/* SPDX-License-Identifier: MIT */
/* The 16550A model on the I/O bus, its IRQ on the in-kernel irqchip, its outside end a console. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "pc_dev.h"
#include "uart8250.h"
#include "console.h"
#include "util/error.h"
#include "../kvm/vm.h"
#include "util/clock.h"

struct uart8250_dev {
	struct device dev;
	struct uart8250 uart;
	struct console *con;
	char name[32];
};

static void uart_tx(void *opaque, uint8_t byte)
{
	struct uart8250_dev *u = opaque;

	if (u->con)
		console_put(u->con, byte); /* only queued: we hold the UART's lock */
}

static void uart_irq(void *opaque, unsigned irq, bool level)
{
	struct uart8250_dev *u = opaque;

	/* KVM_IRQ_LINE cannot fail on a VM with an irqchip; without one vm_irq_line() says so in the last error */
	vm_irq_line(u->dev.vm, irq, level);
}

static size_t uart_sink(void *arg, const uint8_t *buf, size_t len)
{
	struct uart8250_dev *u = arg;

	return uart8250_receive(&u->uart, buf, len);
}

static void uart_quit(void *arg)
{
	struct uart8250_dev *u = arg;

	vm_stop(u->dev.vm, VM_STOP_REQUESTED, 0, -1, "quit from the console (Ctrl-A x)");
}

static int uart_access(struct device *dev, struct iobus_access *a)
{
	struct uart8250_dev *u = dev->opaque;
	int ret = uart8250_pio(&u->uart, (uint16_t)a->addr, a->is_write, a->data, a->size);

	if (u->con)
		console_flush(u->con);
	if (ret)
		return vmm_fail(ret, "%s: %u-byte %s port 0x%llx, outside its 8 registers", u->name, a->size,
				a->is_write ? "write to" : "read from", (unsigned long long)a->addr);
	return 0;
}

static json_t *uart_save(struct device *dev)
{
	return uart8250_save(&((struct uart8250_dev *)dev->opaque)->uart);
}

static int uart_restore(struct device *dev, const json_t *state)
{
	return uart8250_restore(&((struct uart8250_dev *)dev->opaque)->uart, state);
}

static void uart_reset(struct device *dev)
{
	uart8250_reset(&((struct uart8250_dev *)dev->opaque)->uart);
}

static void uart_stop(struct device *dev)
{
	console_input_stop(((struct uart8250_dev *)dev->opaque)->con);
}

static void uart_start(struct device *dev)
{
	struct uart8250_dev *u = dev->opaque;

	/* a failure leaves the guest without input, nothing worse; the error is in vmm_last_error() */
	console_input_start(u->con);
}

static void uart_destroy(struct device *dev)
{
	struct uart8250_dev *u = dev->opaque;

	console_input_stop(u->con);
	if (u->con)
		console_attach(u->con, NULL, NULL, NULL);
	uart8250_destroy(&u->uart);
	free(u);
}

static const struct device_ops uart_ops = {
	.access = uart_access,
	.save = uart_save,
	.restore = uart_restore,
	.reset = uart_reset,
	.stop = uart_stop,
	.start = uart_start,
	.destroy = uart_destroy,
};

int uart8250_dev_add(struct vm *vm, const char *name, uint16_t base, unsigned irq, struct console *con,
		     struct uart8250 **out)
{
	struct uart8250_dev *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return vmm_fail(-ENOMEM, "out of memory for %s", name);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->con = con;
	u->dev = (struct device){ .name = u->name, .ops = &uart_ops, .opaque = u };
	uart8250_init(&u->uart, base, irq, uart_tx, uart_irq, u);
	if ((ret = vm_add_device(vm, IOBUS_PIO, base, UART8250_NR_PORTS, &u->dev))) {
		uart8250_destroy(&u->uart);
		free(u);
		return vmm_fail(ret, "%s at port 0x%x: cannot register on the I/O bus", name, base);
	}
	if (con)
		console_attach(con, uart_sink, uart_quit, u);
	if (out)
		*out = &u->uart;
	return 0;
}

#define INPUT_RETRY_US 2000 /* a full FIFO empties as the guest reads it */

int uart8250_dev_input(struct vm *vm, uint16_t base, const uint8_t *buf, size_t len, unsigned timeout_ms,
		       size_t *taken)
{
	struct device *dev = iobus_find(vm->bus, IOBUS_PIO, base);
	int64_t end = util_mono_ms() + (int64_t)timeout_ms;
	struct uart8250_dev *u;
	size_t done = 0;

	if (taken)
		*taken = 0;
	if (!dev || dev->ops != &uart_ops)
		return vmm_fail(-ENODEV, "no UART at port 0x%x", base);
	u = dev->opaque;
	while (done < len) {
		size_t n = uart8250_receive(&u->uart, buf + done, len - done);

		done += n;
		if (taken)
			*taken = done;
		if (done == len)
			break;
		if (!n && util_mono_ms() >= end)
			return vmm_fail(-ETIMEDOUT, "%s: the guest took %zu of %zu bytes in %u ms (its receive FIFO is full)",
					u->name, done, len, timeout_ms);
		if (!n)
			usleep(INPUT_RETRY_US);
	}
	return 0;
}
