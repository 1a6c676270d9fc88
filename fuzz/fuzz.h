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
#define FUZZ_STR_(x) #x

#endif
