/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares. A target is one
 * LLVMFuzzerTestOneInput(); libFuzzer drives it under `make fuzz`, and
 * fuzz/corpus_test.c replays the seed corpus and every past finding
 * through it under `make check`.
 */
#ifndef THPVM_FUZZ_H
#define THPVM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Once per process, before the first input; targets that need no set-up do not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The sanitizers' report line, where they are linked in: it reaches libFuzzer's log when the target's stderr is closed. */
extern void __sanitizer_report_error_summary(const char *summary) __attribute__((weak));

/* A promise the code under test broke: a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                                              \
	do {                                                                                          \
		if (!(cond)) {                                                                        \
			const char *what_ = __FILE__ ":" FUZZ_STR(__LINE__) ": fuzz check failed: " #cond; \
			fprintf(stderr, "%s\n", what_);                                               \
			if (__sanitizer_report_error_summary)                                         \
				__sanitizer_report_error_summary(what_);                              \
			abort();                                                                      \
		}                                                                                     \
	} while (0)
#define FUZZ_STR(x) FUZZ_STR_(x)

#define FUZZ_MAX_ARGS 64

/*
 * A command line from fuzz data: argv0, then the data's NUL-separated
 * arguments (at most FUZZ_MAX_ARGS), each its own allocation so ASan sees a
 * read past any one of them; argv holds FUZZ_MAX_ARGS + 2 entries and ends
 * with NULL. Returns argc; fuzz_argv_free() frees what it made.
 */
static inline int fuzz_argv(const uint8_t *data, size_t size, char *argv0, char **argv)
{
	char *buf = malloc(size + 1), *p;
	int argc = 0;

	argv[argc++] = argv0;
	if (buf) {
		memcpy(buf, data, size);
		buf[size] = '\0';
		for (p = buf; p <= buf + size && argc <= FUZZ_MAX_ARGS; p += strlen(p) + 1)
			argv[argc++] = strdup(p);
		free(buf);
	}
	argv[argc] = NULL;
	return argc;
}

static inline void fuzz_argv_free(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		free(argv[i]);
}
#define FUZZ_STR_(x) #x

#endif
