/* SPDX-License-Identifier: MIT */
/* The monotonic clock in the units the VMM counts in: timings, deadlines, rate limits. */
#ifndef THPVM_VMM_CLOCK_H
#define THPVM_VMM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t util_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* signed: deadlines in ms use -1 for none, and a time left may be negative */
static inline int64_t util_mono_ms(void)
{
	return (int64_t)(util_mono_ns() / 1000000);
}

#endif
