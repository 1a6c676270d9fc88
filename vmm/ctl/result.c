/* SPDX-License-Identifier: MIT */
/* The control path's results: strings, errnos, wire codes, one-line messages. */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ctl.h"

static const char *const result_str[] = { CTL_RESULTS(THPVM_RESULT_STR_ITEM) };
static const char *const result_name[] = { CTL_RESULTS(THPVM_RESULT_NAME_ITEM) };
static const int result_errno[] = { CTL_RESULTS(THPVM_RESULT_ERRNO_ITEM) };

/* Wire codes derived from the names, so the list stays declared once; filled at load time. */
#define CODE_MAX 32
static char result_code[CTL_NR_RESULTS][CODE_MAX];

__attribute__((constructor)) static void result_codes_init(void)
{
	for (unsigned r = 0; r < CTL_NR_RESULTS; r++) {
		const char *name = result_name[r] + strlen("CTL_");
		unsigned i;

		for (i = 0; name[i] && i < CODE_MAX - 1; i++)
			result_code[r][i] = (char)tolower((unsigned char)name[i]);
		result_code[r][i] = '\0';
	}
}

const char *ctl_result_str(enum ctl_result res)
{
	return (unsigned)res < CTL_NR_RESULTS ? result_str[res] : "unknown result";
}

const char *ctl_result_code(enum ctl_result res)
{
	return (unsigned)res < CTL_NR_RESULTS ? result_code[res] : "internal";
}

int ctl_result_errno(enum ctl_result res)
{
	return (unsigned)res < CTL_NR_RESULTS ? result_errno[res] : EPROTO;
}

enum ctl_result ctl_result_from_code(const char *code)
{
	for (unsigned r = 0; code && r < CTL_NR_RESULTS; r++)
		if (!strcmp(code, result_code[r]))
			return (enum ctl_result)r;
	return CTL_NR_RESULTS;
}

static void fail_v(struct ctl_error *err, enum ctl_result res, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->result = res;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	/* messages quote client input: keep them one printable line */
	for (char *p = err->message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

json_t *ctl_fail(struct ctl_error *err, enum ctl_result res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(err, res, fmt, ap);
	va_end(ap);
	return NULL;
}

int ctl_fail_errno(struct ctl_error *err, enum ctl_result res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(err, res, fmt, ap);
	va_end(ap);
	return -ctl_result_errno(res);
}
