/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz target's seed corpus (fuzz/corpus/TARGET) and every past
 * finding (fuzz/regress/TARGET) through its LLVMFuzzerTestOneInput(), under
 * make check and the sanitizer build: a fixed finding stays fixed without
 * clang or libFuzzer. Built once per target with FUZZ_TARGET set.
 */
#include "config.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

/* The whole file at path (an empty file gives a 1-byte buffer and *len 0), or NULL. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;

	if (f && !fseek(f, 0, SEEK_END) && (size = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
	    (data = malloc((size_t)size + 1)) && fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		data = NULL;
	}
	if (data)
		*len = (size_t)size;
	if (f)
		fclose(f);
	return data;
}

static unsigned replay_dir(const char *kind)
{
	char dir[512];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s/%s", FUZZ_DIR, kind, FUZZ_TARGET);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[1024];
		uint8_t *data;
		size_t len = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = slurp(path, &len);
		cr_assert_not_null(data, "cannot read %s", path);
		cr_log_info("%s", path);
		LLVMFuzzerTestOneInput(data, len); /* a finding aborts: Criterion reports the crash and the file above */
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

Test(fuzz_corpus, seeds_and_past_findings_run_clean, .timeout = 300)
{
	int argc = 1;
	char *args[] = { "corpus_test", NULL }, **argv = args;

	cr_assert_eq(LLVMFuzzerInitialize(&argc, &argv), 0);
	cr_assert_gt(replay_dir("corpus"), 0, "no seeds in %s/corpus/%s", FUZZ_DIR, FUZZ_TARGET);
	replay_dir("regress");
}
