/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (legacy_dev.h; wired in uart8250_dev.c), the Linux guest's console
 * on COM1 (ports 0x3f8-0x3ff, IRQ 4). Transmit is immediate (the holding
 * register is always empty again at once), so Linux's interrupt-driven TX
 * sees a THRE interrupt for every byte it writes. Receive has a 16-byte
 * FIFO filled by uart8250_receive() from the console thread.
 */
#ifndef THPVM_DEV_UART8250_H
#define THPVM_DEV_UART8250_H

#include <pthread.h>
#include <stddef.h>
#include <jansson.h>
#include "legacy_dev.h"

#define UART8250_NR_PORTS 8
#define UART8250_FIFO_SIZE 16

/* Register offsets from the base port */
#define UART_RX   0 /* read, DLAB=0 */
#define UART_TX   0 /* write, DLAB=0 */
#define UART_DLL  0 /* DLAB=1 */
#define UART_IER  1 /* DLAB=0 */
#define UART_DLM  1 /* DLAB=1 */
#define UART_IIR  2 /* read */
#define UART_FCR  2 /* write */
#define UART_LCR  3
#define UART_MCR  4
#define UART_LSR  5
#define UART_MSR  6
#define UART_SCR  7

#define UART_IER_RDI   0x01
#define UART_IER_THRI  0x02
#define UART_IER_RLSI  0x04
#define UART_IER_MSI   0x08
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI   0x00
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_RLSI  0x06
#define UART_IIR_FIFO_ENABLED 0xc0
#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_LCR_DLAB  0x80
#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10
#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40
#define UART_MSR_DCTS  0x01
#define UART_MSR_DDSR  0x02
#define UART_MSR_TERI  0x04
#define UART_MSR_DDCD  0x08
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80

/* Output: one byte the guest transmitted. */
typedef void (*uart8250_tx_fn)(void *opaque, uint8_t byte);

struct uart8250 {
	pthread_mutex_t lock; /* guards the registers: vCPU threads and the console thread */
	uint16_t base;
	unsigned irq;
	uart8250_tx_fn tx;
	legacy_irq_fn irq_line;
	void *opaque;
	/* registers */
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	bool thr_ipending; /* THRE interrupt pending until IIR reports it or THR is written */
	bool irq_level;    /* what the line was last driven to */
	uint8_t rx[UART8250_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

void uart8250_init(struct uart8250 *u, uint16_t base, unsigned irq, uart8250_tx_fn tx, legacy_irq_fn irq_line,
		   void *opaque);
void uart8250_destroy(struct uart8250 *u);
/* Power-on state (line low). Takes the lock. */
void uart8250_reset(struct uart8250 *u);
/* legacy_pio_fn for [base, base + 8). Takes the lock. A wider access is byte accesses to consecutive registers; -EINVAL past the last. */
int uart8250_pio(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size);
/*
 * Input from the console: queues up to len bytes in the receive FIFO and
 * raises the data-ready interrupt. Returns how many were accepted (0 when
 * the FIFO is full: try again after the guest reads). Takes the lock.
 */
size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len);
/* Free room in the receive FIFO. Takes the lock. */
size_t uart8250_rx_room(struct uart8250 *u);

/* Registers and FIFO as a JSON object (new reference), and back. restore returns 0 or -EINVAL. */
json_t *uart8250_save(struct uart8250 *u);
int uart8250_restore(struct uart8250 *u, const json_t *state);

#endif
