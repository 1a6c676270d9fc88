/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "error.h"

static __thread char last_error[512];

const char *vmm_last_error(void)
{
	return last_error;
}

int vmm_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

void vmm_error_prefix(const char *fmt, ...)
{
	char buf[sizeof(last_error)];
	size_t used, rest, prev;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	used = (size_t)n < sizeof(buf) - 1 ? (size_t)n : sizeof(buf) - 1;
	if (used + 2 < sizeof(buf)) {
		memcpy(buf + used, ": ", 2);
		used += 2;
		rest = sizeof(buf) - 1 - used;
		prev = strnlen(last_error, rest);
		memcpy(buf + used, last_error, prev);
		used += prev;
	}
	buf[used] = '\0';
	memcpy(last_error, buf, used + 1);
}

void vmm_clear_error(void)
{
	last_error[0] = '\0';
}
