/* SPDX-License-Identifier: MIT */
/* The i8042 controller's reset paths, replies, port bits, loopbacks and interrupt lines. */
#include <criterion/criterion.h>
#include <errno.h>
#include "dev/i8042.h"

static struct i8042 k;
static unsigned nr_resets;

static void on_reset(void *opaque)
{
	cr_assert_eq(opaque, &k);
	nr_resets++;
}

static void setup(void)
{
	nr_resets = 0;
	i8042_init(&k, on_reset, &k);
}

static void teardown(void)
{
	i8042_destroy(&k);
}

TestSuite(i8042, .init = setup, .fini = teardown);

static void outb(uint16_t port, uint8_t v)
{
	cr_assert_eq(i8042_pio(&k, port, true, &v, 1), 0);
}

static uint8_t inb(uint16_t port)
{
	uint8_t v = 0xaa;

	cr_assert_eq(i8042_pio(&k, port, false, &v, 1), 0);
	return v;
}

Test(i8042, reset_command_resets_once)
{
	/* Linux's reboot=k: wait for the input buffer to drain, then 0xfe */
	cr_assert_eq(inb(I8042_COMMAND_PORT) & 0x02, 0, "input buffer empty");
	outb(I8042_COMMAND_PORT, I8042_CMD_RESET);
	cr_assert_eq(nr_resets, 1);
}

Test(i8042, output_port_reset_line)
{
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_OUTPORT);
	outb(I8042_DATA_PORT, 0x03);
	cr_assert_eq(nr_resets, 0, "reset line kept high");
	outb(I8042_COMMAND_PORT, I8042_CMD_READ_OUTPORT);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x03);
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_OUTPORT);
	outb(I8042_DATA_PORT, 0x02);
	cr_assert_eq(nr_resets, 1, "bit 0 low pulls the CPU reset");
}

Test(i8042, controller_replies)
{
	uint8_t st = inb(I8042_COMMAND_PORT);

	cr_assert(st & I8042_STR_SYSFLAG);
	cr_assert(st & I8042_STR_UNLOCKED, "no keylock");
	cr_assert(!(st & I8042_STR_OBF));
	outb(I8042_COMMAND_PORT, I8042_CMD_SELF_TEST);
	cr_assert(inb(I8042_COMMAND_PORT) & I8042_STR_OBF);
	cr_assert_eq(inb(I8042_DATA_PORT), I8042_SELF_TEST_OK);
	cr_assert(!(inb(I8042_COMMAND_PORT) & I8042_STR_OBF), "reading the data port empties the buffer");
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, 0x61);
	outb(I8042_COMMAND_PORT, I8042_CMD_READ_CTR);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x61);
	outb(I8042_COMMAND_PORT, I8042_CMD_KBD_TEST);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x00);
	outb(I8042_DATA_PORT, 0xff); /* a keyboard reset to no keyboard: ignored */
	cr_assert_eq(nr_resets, 0);
}

Test(i8042, save_and_restore)
{
	struct i8042 copy;
	json_t *s;
	uint8_t v;

	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, 0x47);
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_OUTPORT); /* pending: the data byte comes after restore */
	s = i8042_save(&k);
	i8042_init(&copy, on_reset, &k);
	cr_assert_eq(i8042_restore(&copy, s), 0);
	v = 0x00;
	cr_assert_eq(i8042_pio(&copy, I8042_DATA_PORT, true, &v, 1), 0);
	cr_assert_eq(nr_resets, 1, "the pending output-port write survived");
	v = I8042_CMD_READ_CTR;
	cr_assert_eq(i8042_pio(&copy, I8042_COMMAND_PORT, true, &v, 1), 0);
	cr_assert_eq(i8042_pio(&copy, I8042_DATA_PORT, false, &v, 1), 0);
	cr_assert_eq(v, 0x47);
	i8042_destroy(&copy);
	json_object_set_new(s, "ctr", json_string("x"));
	cr_assert_eq(i8042_restore(&k, s), -EINVAL);
	json_decref(s);
}

Test(i8042, bad_accesses_are_refused)
{
	uint8_t v[4] = { 0 };

	cr_assert_eq(i8042_pio(&k, I8042_COMMAND_PORT, true, v, 2), -EINVAL);
	cr_assert_eq(i8042_pio(&k, 0x61, false, v, 1), -EINVAL);
	cr_assert_eq(nr_resets, 0);
}

static unsigned irq_level[16], irq_changes;

static void on_irq(void *opaque, unsigned irq, bool level)
{
	cr_assert_eq(opaque, &k);
	cr_assert(irq == I8042_KBD_IRQ || irq == I8042_AUX_IRQ, "IRQ %u", irq);
	cr_assert_neq(irq_level[irq], (unsigned)level, "the line is driven only when it changes");
	irq_level[irq] = level;
	irq_changes++;
}

static uint8_t read_ctr(void)
{
	outb(I8042_COMMAND_PORT, I8042_CMD_READ_CTR);
	return inb(I8042_DATA_PORT);
}

Test(i8042, port_enable_and_disable_live_in_the_configuration_byte)
{
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_DISABLE);
	cr_assert(read_ctr() & I8042_CTR_AUXDIS, "Linux's AUX toggle test reads it back at once");
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_ENABLE);
	cr_assert_not(read_ctr() & I8042_CTR_AUXDIS);
	outb(I8042_COMMAND_PORT, I8042_CMD_KBD_DISABLE);
	cr_assert(read_ctr() & I8042_CTR_KBDDIS);
	outb(I8042_COMMAND_PORT, I8042_CMD_KBD_ENABLE);
	cr_assert_not(read_ctr() & I8042_CTR_KBDDIS);
}

Test(i8042, loopback_commands_return_the_byte_as_keyboard_or_aux_data)
{
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_LOOP);
	outb(I8042_DATA_PORT, 0x5a);
	cr_assert_eq(inb(I8042_COMMAND_PORT) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_AUXDATA);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x5a, "Linux's AUX loop test");
	cr_assert_not(inb(I8042_COMMAND_PORT) & (I8042_STR_OBF | I8042_STR_AUXDATA));
	outb(I8042_COMMAND_PORT, I8042_CMD_KBD_LOOP);
	outb(I8042_DATA_PORT, 0x1c);
	cr_assert_eq(inb(I8042_COMMAND_PORT) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	cr_assert_eq(inb(I8042_DATA_PORT), 0x1c);
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_SEND);
	outb(I8042_DATA_PORT, 0xf2); /* to the absent mouse: no answer */
	cr_assert_not(inb(I8042_COMMAND_PORT) & I8042_STR_OBF);
	cr_assert_eq(nr_resets, 0);
}

Test(i8042, a_full_output_buffer_raises_the_enabled_line)
{
	i8042_set_irq(&k, on_irq, &k);
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, I8042_CTR_KBDINT | I8042_CTR_AUXINT);
	cr_assert_eq(irq_changes, 0);
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_LOOP);
	outb(I8042_DATA_PORT, 0xa5);
	cr_assert_eq(irq_level[I8042_AUX_IRQ], 1, "AUX data: IRQ 12 (Linux's AUX IRQ test)");
	cr_assert_eq(irq_level[I8042_KBD_IRQ], 0);
	cr_assert_eq(inb(I8042_DATA_PORT), 0xa5);
	cr_assert_eq(irq_level[I8042_AUX_IRQ], 0, "reading the data lowers it");
	outb(I8042_COMMAND_PORT, I8042_CMD_SELF_TEST);
	cr_assert_eq(irq_level[I8042_KBD_IRQ], 1, "a controller reply is keyboard data: IRQ 1");
	cr_assert_eq(inb(I8042_DATA_PORT), I8042_SELF_TEST_OK);
	cr_assert_eq(irq_level[I8042_KBD_IRQ], 0);
	outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CTR);
	outb(I8042_DATA_PORT, 0);
	outb(I8042_COMMAND_PORT, I8042_CMD_AUX_LOOP);
	outb(I8042_DATA_PORT, 0x01);
	cr_assert_eq(irq_level[I8042_AUX_IRQ], 0, "interrupts off in the configuration byte: no line");
	cr_assert_eq(irq_changes, 4);
}
