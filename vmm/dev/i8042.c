/* SPDX-License-Identifier: MIT */
/* i8042 controller, reset only (legacy_dev.h; wired in i8042_dev.c). */
#include <errno.h>
#include <string.h>
#include "i8042.h"

/* The controller configuration byte a BIOS leaves: keyboard interrupt on, translation on, system flag. */
#define I8042_CTR_DEFAULT 0x45
#define I8042_OUTPORT_DEFAULT 0x03 /* reset line high, A20 enabled */

void i8042_init(struct i8042 *k, i8042_reset_fn reset, void *opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->reset = reset;
	k->opaque = opaque;
	k->status = I8042_STR_SYSFLAG | I8042_STR_UNLOCKED;
	k->ctr = I8042_CTR_DEFAULT;
	k->outport = I8042_OUTPORT_DEFAULT;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

void i8042_set_irq(struct i8042 *k, legacy_irq_fn irq_line, void *opaque)
{
	k->irq_line = irq_line;
	k->irq_opaque = opaque;
}

/* Called with the lock held: each line follows "its kind of data waits and its interrupt is on" (QEMU's too). */
static void update_irq(struct i8042 *k)
{
	bool full = k->status & I8042_STR_OBF, aux = k->status & I8042_STR_AUXDATA;
	bool kbd_level = full && !aux && (k->ctr & I8042_CTR_KBDINT);
	bool aux_level = full && aux && (k->ctr & I8042_CTR_AUXINT);

	if (k->irq_line && kbd_level != k->kbd_irq)
		k->irq_line(k->irq_opaque, I8042_KBD_IRQ, kbd_level);
	if (k->irq_line && aux_level != k->aux_irq)
		k->irq_line(k->irq_opaque, I8042_AUX_IRQ, aux_level);
	k->kbd_irq = kbd_level;
	k->aux_irq = aux_level;
}

static void reply_from(struct i8042 *k, uint8_t byte, bool aux)
{
	k->out = byte;
	k->status |= I8042_STR_OBF;
	if (aux)
		k->status |= I8042_STR_AUXDATA;
	else
		k->status &= (uint8_t)~I8042_STR_AUXDATA;
}

static void reply(struct i8042 *k, uint8_t byte)
{
	reply_from(k, byte, false);
}

/* Returns true when the command asks for a CPU reset. */
static bool command(struct i8042 *k, uint8_t cmd)
{
	k->status |= I8042_STR_CMDDAT;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		reply(k, k->ctr);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPORT:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		k->pending_cmd = cmd;
		break;
	/* a real controller keeps the ports' state in the configuration byte, where Linux checks it */
	case I8042_CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_READ_OUTPORT:
		reply(k, k->outport);
		break;
	case I8042_CMD_SELF_TEST:
		reply(k, I8042_SELF_TEST_OK);
		break;
	case I8042_CMD_KBD_TEST:
	case I8042_CMD_AUX_TEST:
		reply(k, 0x00); /* interface OK */
		break;
	case I8042_CMD_RESET:
		return true;
	default:
		break; /* enable/disable and the rest: accepted, nothing attached */
	}
	return false;
}

/* A byte on the data port: the argument of a pending command, else for the (absent) keyboard. */
static bool data(struct i8042 *k, uint8_t byte)
{
	uint8_t cmd = k->pending_cmd;

	k->status &= ~I8042_STR_CMDDAT;
	k->pending_cmd = 0;
	if (cmd == I8042_CMD_WRITE_CTR) {
		k->ctr = byte;
	} else if (cmd == I8042_CMD_WRITE_OUTPORT) {
		k->outport = byte;
		return !(byte & I8042_OUTPORT_RESET_N);
	} else if (cmd == I8042_CMD_KBD_LOOP || cmd == I8042_CMD_AUX_LOOP) {
		reply_from(k, byte, cmd == I8042_CMD_AUX_LOOP);
	}
	/* I8042_CMD_AUX_SEND and bytes for the keyboard: nothing is attached to hear them */
	return false;
}

int i8042_pio(void *dev, uint16_t port, bool is_write, uint8_t *d, unsigned size)
{
	struct i8042 *k = dev;
	bool reset = false;

	if (size != 1 || (port != I8042_DATA_PORT && port != I8042_COMMAND_PORT))
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	if (port == I8042_COMMAND_PORT && is_write)
		reset = command(k, *d);
	else if (port == I8042_COMMAND_PORT)
		*d = k->status;
	else if (is_write)
		reset = data(k, *d);
	else {
		*d = k->out;
		k->status &= (uint8_t)~(I8042_STR_OBF | I8042_STR_AUXDATA);
	}
	if (reset)
		k->nr_resets++;
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	/* outside the lock: the VMM may stop every vCPU, this one included */
	if (reset && k->reset)
		k->reset(k->opaque);
	return 0;
}

json_t *i8042_save(struct i8042 *k)
{
	json_t *s;

	pthread_mutex_lock(&k->lock);
	s = json_pack("{s:i, s:i, s:i, s:i, s:i}", "status", k->status, "ctr", k->ctr, "outport", k->outport, "out",
		      k->out, "pending_cmd", k->pending_cmd);
	pthread_mutex_unlock(&k->lock);
	return s;
}

int i8042_restore(struct i8042 *k, const json_t *state)
{
	int status, ctr, outport, out, pending;

	if (json_unpack((json_t *)state, "{s:i, s:i, s:i, s:i, s:i}", "status", &status, "ctr", &ctr, "outport",
			&outport, "out", &out, "pending_cmd", &pending) ||
	    (status | ctr | outport | out | pending) & ~0xff)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	k->status = (uint8_t)status;
	k->ctr = (uint8_t)ctr;
	k->outport = (uint8_t)outport;
	k->out = (uint8_t)out;
	k->pending_cmd = (uint8_t)pending;
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}
