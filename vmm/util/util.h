/* SPDX-License-Identifier: MIT */
/*
 * vmm/util/: what every layer of the VMM may use and nothing else: sizes and
 * numbers from text, the one-line error on stderr (util.c), the VMM's last
 * error (error.h). Calls nothing of the VMM.
 */
#ifndef THPVM_VMM_UTIL_H
#define THPVM_VMM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses "512M", "1G", "4096", "2m", "0x200000"; powers of 1024; decimal
 * unless "0x" (a leading 0 is not octal). Returns 0 or -EINVAL / -ERANGE.
 */
int parse_size(const char *str, uint64_t *out);
/* Parses an unsigned integer in [min, max], decimal or "0x" hexadecimal. */
int parse_uint(const char *str, uint64_t min, uint64_t max, uint64_t *out);
/* Formats bytes as "1 GiB", "64 MiB", "12 KiB" into buf. */
const char *format_size(uint64_t bytes, char *buf, unsigned len);

/*
 * The build tree this thpvm runs from (the directory holding vmm/thpvm; a
 * libtool build runs vmm/.libs/thpvm), into buf. -ENOENT when this thpvm
 * is not in a build tree (installed).
 */
int cli_build_dir(char *buf, size_t len);

/* Prints "thpvm: <msg>" on stderr, one line. */
__attribute__((format(printf, 1, 2))) void cli_error(const char *fmt, ...);

#endif
