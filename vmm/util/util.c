/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

/*
 * A number as users write one: decimal, or hexadecimal after "0x". Never
 * octal: base 0 read "0512M" as 330 MiB and "010" as 8. -EINVAL when str
 * does not start with a digit, -ERANGE when the value overflows.
 */
static int parse_ull(const char *str, unsigned long long *val, char **end)
{
	bool hex = str[0] == '0' && (str[1] == 'x' || str[1] == 'X');

	if (!isdigit((unsigned char)*str) || (hex && !isxdigit((unsigned char)str[2])))
		return -EINVAL;
	errno = 0;
	*val = strtoull(hex ? str + 2 : str, end, hex ? 16 : 10);
	return errno ? -ERANGE : 0;
}

int parse_size(const char *str, uint64_t *out)
{
	unsigned long long val;
	unsigned shift = 0;
	char *end;
	int ret;

	if (!str)
		return -EINVAL;
	if ((ret = parse_ull(str, &val, &end)))
		return ret;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	case 't': shift = 40; end++; break;
	default: return -EINVAL;
	}
	/* accept "1G", "1GB", "1GiB" */
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && val > (~0ULL >> shift))
		return -ERANGE;
	*out = (uint64_t)val << shift;
	return 0;
}

int parse_uint(const char *str, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long val;
	char *end;

	if (!str || parse_ull(str, &val, &end) || *end)
		return -EINVAL;
	if (val < min || val > max)
		return -ERANGE;
	*out = val;
	return 0;
}

const char *format_size(uint64_t bytes, char *buf, unsigned len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;
	double v = (double)bytes;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%llu %s", (unsigned long long)v, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("thpvm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_build_dir(char *buf, size_t len)
{
	char exe[4096], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	/* libtool runs build-tree binaries from .libs/ */
	slash = strrchr(exe, '/');
	if (slash && !strcmp(slash, "/.libs")) {
		*slash = '\0';
		slash = strrchr(exe, '/');
	}
	if (!slash || strcmp(slash, "/vmm"))
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s", exe) >= len)
		return -ENAMETOOLONG;
	return 0;
}
