/* SPDX-License-Identifier: MIT */
/*
 * The debug-exit port (0x501, like QEMU's
 * isa-debug-exit) through which a guest ends thpvm with a status: a 1-, 2-
 * or 4-byte write of value v calls exit(opaque, v). QEMU turns v into the
 * process status (v << 1) | 1; thpvm reports v itself and the VMM decides
 * its exit code (docs/linux-boot.md). Reads return 0xff bytes, as for a
 * port nothing decodes. No state to save: the VM is over once it fires.
 */
#ifndef THPVM_DEV_DEBUG_EXIT_H
#define THPVM_DEV_DEBUG_EXIT_H

#include "legacy_dev.h"

/* The guest wrote its exit status. */
typedef void (*debug_exit_fn)(void *opaque, uint32_t status);

struct debug_exit {
	uint16_t port;
	debug_exit_fn exit;
	void *opaque;
};

void debug_exit_init(struct debug_exit *d, uint16_t port, debug_exit_fn exit_fn, void *opaque);
/* legacy_pio_fn for [port, port + 4). No lock: no state. */
int debug_exit_pio(void *dev, uint16_t port, bool is_write, uint8_t *data, unsigned size);

#endif
