/* SPDX-License-Identifier: MIT */
/* The payload machine's state, shared by its setup and its port device. */
#ifndef THPVM_PAYLOAD_INTERNAL_H
#define THPVM_PAYLOAD_INTERNAL_H

#include <pthread.h>
#include "payload.h"
#include "dev/iobus.h"

struct payload {
	struct device dev;              /* the payload port device; dev.opaque == this */
	struct vm *vm;
	struct payload_layout layout;
	struct payload_boot_info *boot_info;   /* in guest RAM */
	FILE *out;
	bool quiet_results;
	unsigned nr_cpus;
	pthread_mutex_t lock;           /* results and output */
	struct payload_result *results;
	unsigned nr_results;
	unsigned cap_results;
};

#endif
