/* SPDX-License-Identifier: MIT */
/*
 * The VMM's one-line error messages, like libthpvm's thpvm_last_error():
 * a failing function records what went wrong on this thread and returns
 * -errno; the command line prints it with cli_error().
 */
#ifndef THPVM_VMM_ERROR_H
#define THPVM_VMM_ERROR_H

/* Message of the last failure on this thread ("" when none). */
const char *vmm_last_error(void);
/* Records a message; returns err (a negative errno) so callers can `return vmm_fail(-EINVAL, ...)`. */
__attribute__((format(printf, 2, 3))) int vmm_fail(int err, const char *fmt, ...);
/* Prefixes the current message: "what: <previous message>". */
__attribute__((format(printf, 1, 2))) void vmm_error_prefix(const char *fmt, ...);
void vmm_clear_error(void);

#endif
