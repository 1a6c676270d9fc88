/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a payload image (docs/payload-abi.md) through the parser
 * thpvm run uses, then the questions the VMM asks of an accepted one.
 */
#include "config.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "machine/payload.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payload_image img;
	/* a copy of exactly size bytes, so ASan sees any read past the file */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (!payload_image_parse(buf, size, &img)) {
		/* what the parser promises of an image it accepts */
		FUZZ_CHECK(img.entry_gpa >= img.load_gpa && img.entry_gpa - img.load_gpa < img.file_size);
		FUZZ_CHECK(img.mem_size >= img.file_size);
		FUZZ_CHECK(strnlen(img.name, sizeof(img.name)) < sizeof(img.name));
		(void)payload_image_accepts(&img, "seed");
		(void)payload_image_accepts(&img, "");
	} else {
		FUZZ_CHECK(vmm_last_error()[0] != '\0');
	}
	free(buf);
	return 0;
}
