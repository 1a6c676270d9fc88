/* SPDX-License-Identifier: MIT */
/*
 * The legacy PC devices of a Linux guest on the VM's I/O bus: one glue each
 * (uart8250_dev.c, i8042_dev.c, debug_exit_dev.c) between the register
 * models (uart8250.c, i8042.c, debug_exit.c, which know nothing of the VMM)
 * and struct device: access, save/restore, reset, stop/start, destroy.
 */
#ifndef THPVM_DEV_PC_DEV_H
#define THPVM_DEV_PC_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct console;
struct uart8250;

/*
 * A 16550A at [base, base + 8) whose interrupt drives irq of the in-kernel
 * irqchip (vm_irq_line), named name (unique on the bus, the key of its saved
 * state). Output goes to con, con's input comes in through the receive FIFO,
 * and con's quit key stops the VM (VM_STOP_REQUESTED, status 0). con may be
 * NULL (output dropped). The device's stop/start hooks stop and start con's
 * input thread. *out (may be NULL) is the model, for tests. Returns 0 or -errno.
 */
int uart8250_dev_add(struct vm *vm, const char *name, uint16_t base, unsigned irq, struct console *con,
		     struct uart8250 **out);

/*
 * Types len bytes on the console of the UART at base (its receive FIFO),
 * waiting up to timeout_ms for the guest to make room; *taken (may be NULL)
 * says how many went in. Returns 0, -ENODEV (no UART at base) or -ETIMEDOUT.
 * For the control socket's console command: a forked child reads no stdin.
 */
int uart8250_dev_input(struct vm *vm, uint16_t base, const uint8_t *buf, size_t len, unsigned timeout_ms,
		       size_t *taken);

/*
 * The i8042 at ports 0x60 and 0x64, IRQ 1 and 12 on the in-kernel irqchip. Its reset (command 0xfe, or output port
 * bit 0 cleared) ends the VM: VM_STOP_GUEST_EXIT, status 0, "the guest reset
 * the machine ..." (thpvm does not reboot guests).
 */
int i8042_dev_add(struct vm *vm);

/*
 * The debug-exit port (a 1-, 2- or 4-byte write at port, like QEMU's
 * isa-debug-exit): a write of v ends the VM as VM_STOP_GUEST_EXIT with
 * status v, or 255 when v > 255 (the message says so). The device claims
 * [port, port + 4) so 4-byte writes fit; the other three ports read 0xff.
 */
int debug_exit_dev_add(struct vm *vm, uint16_t port);
/* True, with the value written, once the guest has used the debug-exit port at port. */
bool debug_exit_dev_fired(struct vm *vm, uint16_t port, uint32_t *value);

#endif
