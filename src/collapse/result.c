/* SPDX-License-Identifier: MIT */
/* Strings and errnos of the collapse pipeline's X-macro lists, declared once in collapse.h. */
#include <errno.h>
#include "collapse_internal.h"

static const char *const mode_str[] = { THPVM_COLLAPSE_MODES(THPVM_RESULT_STR_ITEM) };
static const char *const engine_str[] = { THPVM_COLLAPSE_ENGINES(THPVM_RESULT_STR_ITEM) };
static const char *const inject_name[] = { THPVM_COLLAPSE_INJECTS(THPVM_RESULT_NAME_ITEM) };

THPVM_RESULT_LOOKUPS(THPVM_EXPORT, thpvm_collapse_result, enum thpvm_collapse_result, THPVM_COLLAPSE_RESULTS,
		     THPVM_NR_COLLAPSE_RESULTS, "THPVM_COLLAPSE_UNKNOWN", EINVAL)

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
