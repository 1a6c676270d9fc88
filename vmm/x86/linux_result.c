/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <thpvm/result.h>
#include "linux_internal.h"


static __thread enum linux_result last_result;
static __thread char last_error[512];

THPVM_RESULT_LOOKUPS(, linux_result, enum linux_result, LINUX_LOAD_RESULTS, LINUX_NR_LOAD_RESULTS,
		     "LINUX_LOAD_UNKNOWN", EINVAL)

enum linux_result linux_last_result(void)
{
	return last_result;
}

const char *linux_last_error(void)
{
	return last_error;
}

int linux_fail(enum linux_result result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_result = result;
	return -linux_result_errno(result);
}

void linux_clear_error(void)
{
	last_result = LINUX_LOAD_OK;
	last_error[0] = '\0';
}
