/* SPDX-License-Identifier: MIT */
/* The debug-exit port (device to be wired). */
#include <criterion/criterion.h>
#include <errno.h>
#include "dev/debug_exit.h"
#include "x86/layout.h"

static struct debug_exit d;
static uint32_t status;
static unsigned nr_exits;

static void on_exit_port(void *opaque, uint32_t v)
{
	cr_assert_eq(opaque, &d);
	status = v;
	nr_exits++;
}

static void setup(void)
{
	nr_exits = 0;
	status = 0xdead;
	debug_exit_init(&d, X86_PORT_DEBUG_EXIT, on_exit_port, &d);
}

TestSuite(debug_exit, .init = setup);

Test(debug_exit, writes_of_each_size_end_with_their_value)
{
	uint8_t b = 42;
	uint16_t w = 0x1234;
	uint32_t l = 0x89abcdef;

	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT, true, &b, 1), 0);
	cr_assert_eq(status, 42);
	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT, true, (uint8_t *)&w, 2), 0);
	cr_assert_eq(status, 0x1234);
	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT, true, (uint8_t *)&l, 4), 0);
	cr_assert_eq(status, 0x89abcdef);
	cr_assert_eq(nr_exits, 3);
}

Test(debug_exit, reads_float_high)
{
	uint32_t v = 0;

	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT, false, (uint8_t *)&v, 4), 0);
	cr_assert_eq(v, 0xffffffff);
	cr_assert_eq(nr_exits, 0);
}

Test(debug_exit, bad_accesses_are_refused)
{
	uint8_t v[4] = { 1, 2, 3, 4 };

	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT, true, v, 3), -EINVAL);
	cr_assert_eq(debug_exit_pio(&d, X86_PORT_DEBUG_EXIT + 1, true, v, 1), -EINVAL);
	cr_assert_eq(nr_exits, 0);
}
