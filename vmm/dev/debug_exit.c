/* SPDX-License-Identifier: MIT */
/* The debug-exit port (legacy_dev.h; wired in debug_exit_dev.c). */
#include <errno.h>
#include <string.h>
#include "debug_exit.h"

void debug_exit_init(struct debug_exit *d, uint16_t port, debug_exit_fn exit_fn, void *opaque)
{
	d->port = port;
	d->exit = exit_fn;
	d->opaque = opaque;
}

int debug_exit_pio(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	struct debug_exit *d = dev;
	uint32_t v = 0;

	if ((size != 1 && size != 2 && size != 4) || port != d->port)
		return -EINVAL;
	if (!is_write) {
		memset(data, 0xff, size);
		return 0;
	}
	memcpy(&v, data, size); /* x86 is little-endian: the low bytes are the value */
	if (d->exit)
		d->exit(d->opaque, v);
	return 0;
}
