/* SPDX-License-Identifier: MIT */
/*
 * The interface the legacy PC devices for Linux guests (uart8250.c,
 * i8042.c, debug_exit.c) are written against, independent of the VMM's I/O
 * bus; the *_dev.c files attach them to it (pc_dev.h). Each device is a
 * plain struct with:
 *   - a port handler of type legacy_pio_fn, called with the absolute port
 *     number, from any vCPU thread (each device locks its own state);
 *   - callbacks it is given at init: an IRQ line (legacy_irq_fn), and for
 *     the console, the reset controller and the exit port, what to do with
 *     output, a reset request or an exit status;
 *   - save/restore of its registers as a JSON object (jansson), the
 *     VMM's snapshot format.
 * The glue to struct device_ops is one line per op.
 */
#ifndef THPVM_DEV_LEGACY_DEV_H
#define THPVM_DEV_LEGACY_DEV_H

#include <stdbool.h>
#include <stdint.h>

/* A guest access: size bytes at data (1, 2 or 4). Returns 0 or -errno (e.g. -EINVAL for a bad size). */
typedef int (*legacy_pio_fn)(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size);
/* Drives an interrupt line (KVM_IRQ_LINE on the in-kernel irqchip). */
typedef void (*legacy_irq_fn)(void *opaque, unsigned irq, bool level);

#endif
