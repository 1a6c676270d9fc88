/* SPDX-License-Identifier: MIT */
/* Strings and errnos of the collapse pipeline's X-macro lists, declared once in collapse.h. */
#include <errno.h>
#include "collapse_internal.h"

static const char *const result_str[] = { THPVM_COLLAPSE_RESULTS(THPVM_RESULT_STR_ITEM) };
static const char *const result_name[] = { THPVM_COLLAPSE_RESULTS(THPVM_RESULT_NAME_ITEM) };
static const int result_errno[] = { THPVM_COLLAPSE_RESULTS(THPVM_RESULT_ERRNO_ITEM) };
static const char *const mode_str[] = { THPVM_COLLAPSE_MODES(THPVM_RESULT_STR_ITEM) };
static const char *const engine_str[] = { THPVM_COLLAPSE_ENGINES(THPVM_RESULT_STR_ITEM) };
static const char *const inject_name[] = { THPVM_COLLAPSE_INJECTS(THPVM_RESULT_NAME_ITEM) };

THPVM_EXPORT const char *thpvm_collapse_result_str(enum thpvm_collapse_result result)
{
	return (unsigned)result < THPVM_NR_COLLAPSE_RESULTS ? result_str[result] : "unknown result";
}

THPVM_EXPORT const char *thpvm_collapse_result_name(enum thpvm_collapse_result result)
{
	return (unsigned)result < THPVM_NR_COLLAPSE_RESULTS ? result_name[result] : "THPVM_COLLAPSE_UNKNOWN";
}

THPVM_EXPORT int thpvm_collapse_result_errno(enum thpvm_collapse_result result)
{
	return (unsigned)result < THPVM_NR_COLLAPSE_RESULTS ? result_errno[result] : EINVAL;
}

THPVM_EXPORT const char *thpvm_collapse_mode_str(enum thpvm_collapse_mode mode)
{
	return (unsigned)mode < THPVM_NR_COLLAPSE_MODES ? mode_str[mode] : "unknown";
}

THPVM_EXPORT const char *thpvm_collapse_engine_str(enum thpvm_collapse_engine engine)
{
	return (unsigned)engine < THPVM_NR_COLLAPSE_ENGINES ? engine_str[engine] : "unknown";
}

const char *collapse_inject_name(enum thpvm_collapse_inject what)
{
	return (unsigned)what < THPVM_NR_COLLAPSE_INJECTS ? inject_name[what] : "unknown";
}
