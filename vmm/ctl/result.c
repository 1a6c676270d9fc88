/* SPDX-License-Identifier: MIT */
/* The control path's results: strings, errnos, wire codes, one-line messages. */
#include "config.h"
#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

THPVM_RESULT_LOOKUPS(, ctl_result, enum ctl_result, CTL_RESULTS, CTL_NR_RESULTS, "CTL_INTERNAL", EPROTO)

/* Wire codes derived from the names, so the list stays declared once; filled at load time. */
#define CODE_MAX 32
static char result_code[CTL_NR_RESULTS][CODE_MAX];

__attribute__((constructor)) static void result_codes_init(void)
{
	for (unsigned r = 0; r < CTL_NR_RESULTS; r++) {
		const char *name = ctl_result_name((enum ctl_result)r) + strlen("CTL_");
		unsigned i;

		for (i = 0; name[i] && i < CODE_MAX - 1; i++)
			result_code[r][i] = (char)tolower((unsigned char)name[i]);
		result_code[r][i] = '\0';
	}
}

const char *ctl_result_code(enum ctl_result res)
{
	return (unsigned)res < CTL_NR_RESULTS ? result_code[res] : "internal";
}

enum ctl_result ctl_result_from_code(const char *code)
{
	for (unsigned r = 0; code && r < CTL_NR_RESULTS; r++)
		if (!strcmp(code, result_code[r]))
			return (enum ctl_result)r;
	return CTL_NR_RESULTS;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF), 0 if none. */
static unsigned utf8_seq_len(const unsigned char *s)
{
	unsigned len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void ctl_message_clean(char *msg)
{
	/*
	 * Messages quote client input and are cut to fit: keep them one printable
	 * line of valid UTF-8, or JSON cannot carry them and the client gets no
	 * reply at all. A control byte or a byte of a broken (or cut) sequence
	 * becomes '?'.
	 */
	for (unsigned char *p = (unsigned char *)msg; *p;) {
		unsigned len = utf8_seq_len(p);

		if (!len || *p < 0x20 || *p == 0x7f) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

static void fail_v(struct ctl_error *err, enum ctl_result res, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->result = res;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	ctl_message_clean(err->message);
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
