/* SPDX-License-Identifier: MIT */
#ifndef THPVM_RESULT_H
#define THPVM_RESULT_H

/*
 * Every pipeline declares its results once, as an X-macro list of
 * X(NAME, ERRNO, "what happened"), in the style of khugepaged's SCAN_*
 * codes. The same list yields the enum, the strings and the errno, so a
 * result can never be added to one and forgotten in another.
 *
 * Public functions still return 0 or -errno; the precise result of the last
 * failure on this thread, with a message naming the problem, is available
 * from thpvm_last_error().
 */

#define THPVM_RESULT_ENUM_ITEM(name, err, str) name,
#define THPVM_RESULT_STR_ITEM(name, err, str) [name] = str,
#define THPVM_RESULT_NAME_ITEM(name, err, str) [name] = #name,
#define THPVM_RESULT_ERRNO_ITEM(name, err, str) [name] = err,

/*
 * A list's enum, ending with NR (the count), and the prototypes of its three
 * lookups, declared once: what THPVM_RESULT_LOOKUPS() defines. For the
 * VMM's own lists; libthpvm's public headers spell theirs out.
 */
#define THPVM_RESULT_DECLARE(PREFIX, TYPE, LIST, NR)                                         \
	TYPE { LIST(THPVM_RESULT_ENUM_ITEM) NR };                                            \
	const char *PREFIX##_str(TYPE r);                                                    \
	const char *PREFIX##_name(TYPE r);                                                   \
	int PREFIX##_errno(TYPE r)

/*
 * A list's three lookups, written once: PREFIX_str(), PREFIX_name() and
 * PREFIX_errno() of a value of TYPE, from LIST's NR entries; a value
 * outside them gets "unknown result", UNKNOWN_NAME and UNKNOWN_ERRNO. ATTR
 * goes before each function (e.g. an export attribute, or nothing).
 */
#define THPVM_RESULT_LOOKUPS(ATTR, PREFIX, TYPE, LIST, NR, UNKNOWN_NAME, UNKNOWN_ERRNO)       \
	static const char *const PREFIX##_strs[] = { LIST(THPVM_RESULT_STR_ITEM) };         \
	static const char *const PREFIX##_names[] = { LIST(THPVM_RESULT_NAME_ITEM) };       \
	static const int PREFIX##_errnos[] = { LIST(THPVM_RESULT_ERRNO_ITEM) };             \
	ATTR const char *PREFIX##_str(TYPE r)                                                \
	{                                                                                    \
		return (unsigned)r < (NR) ? PREFIX##_strs[r] : "unknown result";             \
	}                                                                                    \
	ATTR const char *PREFIX##_name(TYPE r)                                               \
	{                                                                                    \
		return (unsigned)r < (NR) ? PREFIX##_names[r] : (UNKNOWN_NAME);              \
	}                                                                                    \
	ATTR int PREFIX##_errno(TYPE r)                                                      \
	{                                                                                    \
		return (unsigned)r < (NR) ? PREFIX##_errnos[r] : (UNKNOWN_ERRNO);            \
	}

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Message of the last failed libthpvm call on this thread: one line naming
 * the problem (e.g. "region 'ram' [0x0, 0x4000000) overlaps region 'low'
 * [0x0, 0x200000)"). Empty string when nothing failed yet.
 */
const char *thpvm_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
