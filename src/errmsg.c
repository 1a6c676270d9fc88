/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include "internal.h"

static __thread char last_error[512];


THPVM_EXPORT const char *thpvm_last_error(void)
{
	return last_error;
}

void thpvm_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void thpvm_clear_error(void)
{
	last_error[0] = '\0';
}

THPVM_RESULT_LOOKUPS(THPVM_EXPORT, thpvm_map_result, enum thpvm_map_result, THPVM_MAP_RESULTS, THPVM_NR_MAP_RESULTS,
		     "THPVM_MAP_UNKNOWN", EINVAL)

enum thpvm_map_result map_error(enum thpvm_map_result result, const char *fmt, ...)
{
	char detail[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	thpvm_set_error("%s: %s", thpvm_map_result_str(result), detail);
	return result;
}
