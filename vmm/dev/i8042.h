/* SPDX-License-Identifier: MIT */
/*
 * The part of an i8042 keyboard controller
 * a Linux guest without a keyboard uses: its status and command ports for
 * reboot. `reboot=k` (Linux's default fallback) pulses the CPU reset line
 * with command 0xfe; writing the output port (0xd1) with bit 0 clear does the
 * same. Either calls reset(), and the VMM ends the VM. No keyboard or mouse
 * is attached: the output buffer only holds controller replies and the
 * bytes the guest loops back (0xd2/0xd3). Enough of a real controller that
 * Linux's i8042 probe finishes at once: the port enable/disable commands set
 * the configuration byte's bits, the AUX loopback answers, and a full output
 * buffer raises IRQ 1 (keyboard data) or IRQ 12 (AUX data) when the
 * configuration byte enables it, so Linux's AUX IRQ test passes instead of
 * waiting out its timeouts (each status poll is a VM exit).
 */
#ifndef THPVM_DEV_I8042_H
#define THPVM_DEV_I8042_H

#include <pthread.h>
#include <jansson.h>
#include "legacy_dev.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64 /* read: status */

#define I8042_STR_OBF      0x01 /* output buffer full */
#define I8042_STR_SYSFLAG  0x04 /* self-test passed */
#define I8042_STR_CMDDAT   0x08 /* last write was a command */
#define I8042_STR_UNLOCKED 0x10 /* keyboard inhibit switch off (Linux warns "Keylock active" otherwise) */
#define I8042_STR_AUXDATA  0x20 /* the output buffer holds AUX (mouse) data */
#define I8042_CTR_KBDINT   0x01 /* configuration byte: keyboard interrupt (IRQ 1) */
#define I8042_CTR_AUXINT   0x02 /* AUX interrupt (IRQ 12) */
#define I8042_CTR_KBDDIS   0x10 /* keyboard port disabled */
#define I8042_CTR_AUXDIS   0x20 /* AUX port disabled */
#define I8042_KBD_IRQ      1
#define I8042_AUX_IRQ      12
#define I8042_CMD_READ_CTR  0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE  0xa8
#define I8042_CMD_AUX_TEST  0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST  0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE  0xae
#define I8042_CMD_READ_OUTPORT  0xd0
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_KBD_LOOP  0xd2 /* next data byte comes back as keyboard data */
#define I8042_CMD_AUX_LOOP  0xd3 /* next data byte comes back as AUX data */
#define I8042_CMD_AUX_SEND  0xd4 /* next data byte goes to the (absent) mouse */
#define I8042_CMD_RESET     0xfe
#define I8042_SELF_TEST_OK  0x55
#define I8042_OUTPORT_RESET_N 0x01 /* output port bit 0: CPU reset line, active low */

/* The guest asked for a CPU reset. */
typedef void (*i8042_reset_fn)(void *opaque);

struct i8042 {
	pthread_mutex_t lock;
	i8042_reset_fn reset;
	void *opaque;
	uint8_t status, ctr, outport, out;
	uint8_t pending_cmd; /* command waiting for its data byte on port 0x60, or 0 */
	unsigned nr_resets;
	legacy_irq_fn irq_line; /* optional (i8042_set_irq) */
	void *irq_opaque;
	bool kbd_irq, aux_irq;  /* what the lines were last driven to */
};

void i8042_init(struct i8042 *k, i8042_reset_fn reset, void *opaque);
void i8042_destroy(struct i8042 *k);
/* Drives IRQ 1 and 12 through irq_line (level: high while the enabled kind of data waits). */
void i8042_set_irq(struct i8042 *k, legacy_irq_fn irq_line, void *opaque);
/* legacy_pio_fn for ports 0x60 and 0x64. Takes the lock; calls reset() without it. */
int i8042_pio(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size);
json_t *i8042_save(struct i8042 *k);
int i8042_restore(struct i8042 *k, const json_t *state);

#endif
