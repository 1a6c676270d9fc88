/* SPDX-License-Identifier: MIT */
/* 16550A UART register model (legacy_dev.h; wired in uart8250_dev.c). */
#include <errno.h>
#include <string.h>
#include "uart8250.h"

#define UART_MSR_DELTAS (UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_TERI | UART_MSR_DDCD)
#define UART_LSR_ERRORS 0x1e /* OE, PE, FE, BI */

/* The modem lines as the guest sees them: wired "ready" unless the guest loops them back. */
static uint8_t modem_status(const struct uart8250 *u)
{
	uint8_t m = u->msr & UART_MSR_DELTAS;

	if (u->mcr & UART_MCR_LOOP) {
		m |= (u->mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0;
		m |= (u->mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0;
		m |= (u->mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0;
		m |= (u->mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0;
		return m;
	}
	return m | UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
}

static uint8_t iir(const struct uart8250 *u)
{
	uint8_t fifo = (u->fcr & UART_FCR_ENABLE_FIFO) ? UART_IIR_FIFO_ENABLED : 0;

	if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_ERRORS))
		return fifo | UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && (u->lsr & UART_LSR_DR))
		return fifo | UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return fifo | UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & UART_MSR_DELTAS))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

/* Called with the lock held: the line follows "an interrupt is pending", like QEMU's 8250. */
static void update_irq(struct uart8250 *u)
{
	bool level = !(iir(u) & UART_IIR_NO_INT);

	if (level != u->irq_level && u->irq_line)
		u->irq_line(u->opaque, u->irq, level);
	u->irq_level = level;
}

static void rx_push(struct uart8250 *u, uint8_t byte)
{
	if (u->rx_count == UART8250_FIFO_SIZE) {
		u->lsr |= UART_LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count++) % UART8250_FIFO_SIZE] = byte;
	u->lsr |= UART_LSR_DR;
}

static uint8_t rx_pop(struct uart8250 *u)
{
	uint8_t byte = 0;

	if (u->rx_count) {
		byte = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART8250_FIFO_SIZE;
		u->rx_count--;
	}
	if (!u->rx_count)
		u->lsr &= ~UART_LSR_DR;
	return byte;
}

static void power_on(struct uart8250 *u)
{
	u->ier = u->lcr = u->mcr = u->scr = u->fcr = u->msr = 0;
	u->dll = 12; /* 9600 baud, what a BIOS leaves */
	u->dlm = 0;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->thr_ipending = false;
	u->rx_head = u->rx_count = 0;
}

void uart8250_init(struct uart8250 *u, uint16_t base, unsigned irq, uart8250_tx_fn tx, legacy_irq_fn irq_line,
		   void *opaque)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->base = base;
	u->irq = irq;
	u->tx = tx;
	u->irq_line = irq_line;
	u->opaque = opaque;
	power_on(u);
}

void uart8250_destroy(struct uart8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

void uart8250_reset(struct uart8250 *u)
{
	pthread_mutex_lock(&u->lock);
	power_on(u);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void write_reg(struct uart8250 *u, unsigned reg, uint8_t v)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab) {
			u->dll = v;
			break;
		}
		if (u->mcr & UART_MCR_LOOP)
			rx_push(u, v);
		else if (u->tx)
			u->tx(u->opaque, v);
		/* sent at once: the holding register is empty again, which is an interrupt */
		u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = v;
			break;
		}
		/* enabling THRI with an empty holding register interrupts at once, as a 16550 does */
		if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI) && (u->lsr & UART_LSR_THRE))
			u->thr_ipending = true;
		u->ier = v & 0x0f;
		break;
	case UART_FCR:
		if (v & UART_FCR_CLEAR_RCVR) {
			u->rx_head = u->rx_count = 0;
			u->lsr &= ~UART_LSR_DR;
		}
		u->fcr = v & 0xc9; /* enable, DMA mode, trigger level; the clear bits self-reset */
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		break;
	case UART_LSR:
		break; /* read-only */
	case UART_MSR:
		break; /* read-only */
	case UART_SCR:
		u->scr = v;
		break;
	}
}

static uint8_t read_reg(struct uart8250 *u, unsigned reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	uint8_t v = 0;

	switch (reg) {
	case UART_RX:
		v = dlab ? u->dll : rx_pop(u);
		break;
	case UART_IER:
		v = dlab ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = iir(u);
		/* reading IIR acknowledges a THRE interrupt */
		if ((v & 0x0f) == UART_IIR_THRI)
			u->thr_ipending = false;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = u->lsr;
		u->lsr &= ~UART_LSR_ERRORS;
		break;
	case UART_MSR:
		v = modem_status(u);
		u->msr &= ~UART_MSR_DELTAS;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	return v;
}

int uart8250_pio(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	struct uart8250 *u = dev;
	unsigned reg = (unsigned)(port - u->base);

	/*
	 * A wider access is split into byte accesses at consecutive registers,
	 * as the ISA bus does with an 8-bit device (and QEMU with its 8250):
	 * odd, but a guest may do it, and it is no reason to end the VM.
	 */
	if (!size || size > 4 || reg >= UART8250_NR_PORTS || size > UART8250_NR_PORTS - reg)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++)
		if (is_write)
			write_reg(u, reg + i, data[i]);
		else
			data[i] = read_reg(u, reg + i);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* in loopback the line is disconnected from the outside */
	while (!(u->mcr & UART_MCR_LOOP) && n < len && u->rx_count < UART8250_FIFO_SIZE)
		rx_push(u, buf[n++]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart8250_rx_room(struct uart8250 *u)
{
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = UART8250_FIFO_SIZE - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return room;
}

json_t *uart8250_save(struct uart8250 *u)
{
	json_t *rx = json_array(), *s;

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < u->rx_count; i++)
		json_array_append_new(rx, json_integer(u->rx[(u->rx_head + i) % UART8250_FIFO_SIZE]));
	s = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:o}", "ier", u->ier, "lcr", u->lcr, "mcr",
		      u->mcr, "lsr", u->lsr, "msr", u->msr, "scr", u->scr, "fcr", u->fcr, "dll", u->dll, "dlm", u->dlm,
		      "thr_ipending", u->thr_ipending, "rx", rx);
	pthread_mutex_unlock(&u->lock);
	return s;
}

int uart8250_restore(struct uart8250 *u, const json_t *state)
{
	int ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm, thr;
	json_t *rx;
	size_t i;

	if (json_unpack((json_t *)state, "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:o}", "ier", &ier, "lcr",
			&lcr, "mcr", &mcr, "lsr", &lsr, "msr", &msr, "scr", &scr, "fcr", &fcr, "dll", &dll, "dlm", &dlm,
			"thr_ipending", &thr, "rx", &rx) ||
	    !json_is_array(rx) || json_array_size(rx) > UART8250_FIFO_SIZE)
		return -EINVAL;
	for (i = 0; i < json_array_size(rx); i++)
		if (!json_is_integer(json_array_get(rx, i)) || json_integer_value(json_array_get(rx, i)) & ~0xffLL)
			return -EINVAL;
	if ((ier | lcr | mcr | lsr | msr | scr | fcr | dll | dlm) & ~0xff)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->ier = (uint8_t)ier;
	u->lcr = (uint8_t)lcr;
	u->mcr = (uint8_t)mcr;
	u->lsr = (uint8_t)lsr;
	u->msr = (uint8_t)msr;
	u->scr = (uint8_t)scr;
	u->fcr = (uint8_t)fcr;
	u->dll = (uint8_t)dll;
	u->dlm = (uint8_t)dlm;
	u->thr_ipending = thr;
	u->rx_head = 0;
	u->rx_count = (unsigned)json_array_size(rx);
	for (i = 0; i < u->rx_count; i++)
		u->rx[i] = (uint8_t)json_integer_value(json_array_get(rx, i));
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
