/* SPDX-License-Identifier: MIT */
/* Payload headers: what is a payload, and every way a file can fail to be one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "machine/payload.h"
#include "util/error.h"
#include "x86/layout.h"

#define LOAD X86_PAYLOAD_IMAGE_GPA
#define FILE_SIZE 512

static uint8_t buf[FILE_SIZE];

/* A minimal valid payload: header, code at 0x80, name at 0x100, keys at 0x120. */
static struct payload_header *good(void)
{
	struct payload_header *h = (void *)buf;

	memset(buf, 0, sizeof(buf));
	h->magic = PAYLOAD_MAGIC;
	h->abi_version = PAYLOAD_ABI_VERSION;
	h->header_size = PH_SIZE;
	h->load_gpa = LOAD;
	h->entry_gpa = LOAD + 0x80;
	h->file_end_gpa = LOAD + FILE_SIZE;
	h->mem_end_gpa = LOAD + FILE_SIZE + 4096;
	h->name_gpa = LOAD + 0x100;
	h->args_gpa = LOAD + 0x120;
	strcpy((char *)buf + 0x100, "unit");
	memcpy(buf + 0x120, "mode\0seed\0\0", 11);
	return h;
}

static void refused(int err, enum payload_image_result result, const char *msg)
{
	struct payload_image img;

	cr_assert_eq(payload_image_parse(buf, FILE_SIZE, &img), err, "%s", vmm_last_error());
	cr_assert_eq(img.result, result, "result %s, want %s", payload_image_result_str(img.result),
		     payload_image_result_str(result));
	cr_assert(strstr(vmm_last_error(), msg), "'%s' lacks '%s'", vmm_last_error(), msg);
}

Test(payload_image, a_valid_header_is_parsed)
{
	struct payload_image img;

	good();
	cr_assert_eq(payload_image_parse(buf, FILE_SIZE, &img), 0, "%s", vmm_last_error());
	cr_assert_str_eq(img.name, "unit");
	cr_assert_eq(img.entry_gpa, LOAD + 0x80);
	cr_assert_eq(img.mem_size, FILE_SIZE + 4096);
	cr_assert_eq(img.file_size, FILE_SIZE);
	cr_assert(payload_image_accepts(&img, "mode"));
	cr_assert(payload_image_accepts(&img, "seed"));
	cr_assert(!payload_image_accepts(&img, "mod"));
	cr_assert(!payload_image_accepts(&img, "colour"));
	good()->args_gpa = 0;
	cr_assert_eq(payload_image_parse(buf, FILE_SIZE, &img), 0);
	cr_assert(payload_image_accepts(&img, "anything"), "no list: any key");
}

Test(payload_image, short_or_foreign_files_are_not_payloads)
{
	struct payload_image img;

	good();
	cr_assert_eq(payload_image_parse(buf, 20, &img), -ENOEXEC);
	cr_assert_eq(img.result, PAYLOAD_IMAGE_SHORT);
	cr_assert(strstr(vmm_last_error(), "shorter than the 80-byte payload header"));
	cr_assert_eq(payload_image_parse(buf, 4, &img), -ENOEXEC);
	cr_assert(strstr(vmm_last_error(), "no THPVMPL magic"));
	memcpy(buf, "\x7f" "ELF", 4);
	refused(-ENOEXEC, PAYLOAD_IMAGE_NO_MAGIC, "no THPVMPL magic");
}

Test(payload_image, inconsistent_headers_are_refused)
{
	good()->abi_version = 2;
	refused(-ENOEXEC, PAYLOAD_IMAGE_VERSION, "ABI version 2");
	good()->header_size = 64;
	refused(-ENOEXEC, PAYLOAD_IMAGE_HEADER_SIZE, "header size 64");
	good()->load_gpa = 0x100000;
	refused(-ENOEXEC, PAYLOAD_IMAGE_LOAD_GPA, "linked for 0x100000");
	good()->file_end_gpa = LOAD + FILE_SIZE + 100;
	refused(-ENOEXEC, PAYLOAD_IMAGE_SIZE_MISMATCH, "truncated or padded");
	good()->mem_end_gpa = LOAD + 10;
	refused(-ENOEXEC, PAYLOAD_IMAGE_BAD_ADDRESS, "memory end before file end");
	good()->entry_gpa = LOAD + FILE_SIZE;
	refused(-ENOEXEC, PAYLOAD_IMAGE_BAD_ADDRESS, "entry point");
	good()->entry_gpa = LOAD + 8;
	refused(-ENOEXEC, PAYLOAD_IMAGE_BAD_ADDRESS, "entry point");
	good()->name_gpa = LOAD + FILE_SIZE + 8;
	refused(-ENOEXEC, PAYLOAD_IMAGE_BAD_ADDRESS, "name outside");
	good()->flags = 0x80;
	refused(-ENOEXEC, PAYLOAD_IMAGE_BAD_FLAGS, "unknown flags 0x80");
	good();
	memset(buf + 0x100, 'x', FILE_SIZE - 0x100);
	refused(-ENOEXEC, PAYLOAD_IMAGE_UNTERMINATED, "not terminated");
}

Test(payload_image, unterminated_argument_list_is_refused)
{
	good()->args_gpa = LOAD + FILE_SIZE - 4;
	memcpy(buf + FILE_SIZE - 4, "abcd", 4);
	refused(-ENOEXEC, PAYLOAD_IMAGE_UNTERMINATED, "argument list not terminated");
}

Test(payload_image, oversized_images_are_refused)
{
	good()->mem_end_gpa = LOAD + X86_PAYLOAD_IMAGE_MAX + 4096;
	refused(-EFBIG, PAYLOAD_IMAGE_TOO_LARGE, "too large");
}

Test(payload_image, the_built_payloads_are_valid)
{
	static const char *const names[] = { "selftest", "triplefault", "tlbbench", "memtest" };

	setenv("THPVM_PAYLOAD_DIR", THPVM_BUILD_DIR "/guests", 1);
	for (unsigned i = 0; i < 4; i++) {
		struct payload_image img;

		cr_assert_eq(payload_image_load(names[i], &img), 0, "%s", vmm_last_error());
		cr_assert_str_eq(img.name, names[i]);
		cr_assert_eq(img.load_gpa, X86_PAYLOAD_IMAGE_GPA);
		cr_assert(img.mem_size >= img.file_size);
		cr_assert_eq(!!(img.flags & PAYLOAD_F_NO_IDT), i == 1, "only triplefault runs without an IDT");
		payload_image_free(&img);
	}
}

Test(payload_image, names_resolve_and_paths_are_taken_as_given)
{
	char path[4096];

	setenv("THPVM_PAYLOAD_DIR", THPVM_BUILD_DIR "/guests", 1);
	cr_assert_eq(payload_resolve("memtest", path, sizeof(path)), 0);
	cr_assert_str_eq(path, THPVM_BUILD_DIR "/guests/memtest.bin");
	cr_assert_eq(payload_resolve("memtest.bin", path, sizeof(path)), 0);
	cr_assert_str_eq(path, THPVM_BUILD_DIR "/guests/memtest.bin");
	cr_assert_eq(payload_resolve("nope", path, sizeof(path)), -ENOENT);
	{
		struct payload_image img;

		cr_assert_eq(payload_image_load("nope", &img), -ENOENT);
		cr_assert_eq(img.result, PAYLOAD_IMAGE_NOT_FOUND);
	}
	cr_assert(strstr(vmm_last_error(), "payload 'nope' not found"));
	cr_assert_eq(payload_resolve("/nonexistent.bin", path, sizeof(path)), -ENOENT);
	cr_assert_eq(payload_resolve(THPVM_BUILD_DIR "/guests", path, sizeof(path)), -ENOENT, "a directory");
	cr_assert(strstr(vmm_last_error(), "not a regular file"));
}
