/* SPDX-License-Identifier: MIT */
/* --arg KEY=VALUE: parsed into the boot info's form, refused with a reason otherwise. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "machine/payload.h"
#include "util/error.h"
#include "util/util.h"

Test(payload_args, values_keep_their_text_and_numbers_are_parsed)
{
	struct payload_args a = { 0 };
	const struct payload_arg *x;

	cr_assert_eq(payload_args_add(&a, "mode=fill+verify"), 0);
	cr_assert_eq(payload_args_add(&a, "seed=7"), 0);
	cr_assert_eq(payload_args_add(&a, "size=64M"), 0);
	cr_assert_eq(payload_args_add(&a, "mask=0xff"), 0);
	cr_assert_eq(payload_args_add(&a, "empty="), 0);
	cr_assert_eq(a.nr, 5);
	x = payload_args_find(&a, "mode");
	cr_assert_str_eq(x->str, "fill+verify");
	cr_assert_eq(x->is_num, 0);
	x = payload_args_find(&a, "seed");
	cr_assert(x->is_num);
	cr_assert_eq(x->num, 7);
	cr_assert_eq(payload_args_find(&a, "size")->num, 64ULL << 20);
	cr_assert_str_eq(payload_args_find(&a, "size")->str, "64M");
	cr_assert_eq(payload_args_find(&a, "mask")->num, 255);
	cr_assert_eq(payload_args_find(&a, "empty")->is_num, 0);
	cr_assert_null(payload_args_find(&a, "missing"));
}

Test(payload_args, malformed_arguments_are_refused)
{
	struct payload_args a = { 0 };
	char longkey[64], longval[128];

	cr_assert_eq(payload_args_add(&a, "novalue"), -EINVAL);
	cr_assert(strstr(vmm_last_error(), "expected KEY=VALUE"));
	cr_assert_eq(payload_args_add(&a, "=1"), -EINVAL);
	cr_assert(strstr(vmm_last_error(), "empty key"));
	cr_assert_eq(payload_args_add(&a, "Seed=1"), -EINVAL);
	cr_assert_eq(payload_args_add(&a, "se-ed=1"), -EINVAL);
	memset(longkey, 'k', 40);
	strcpy(longkey + 40, "=1");
	cr_assert_eq(payload_args_add(&a, longkey), -EINVAL);
	cr_assert(strstr(vmm_last_error(), "key longer than 31"));
	strcpy(longval, "k=");
	memset(longval + 2, 'v', 70);
	longval[72] = '\0';
	cr_assert_eq(payload_args_add(&a, longval), -EINVAL);
	cr_assert(strstr(vmm_last_error(), "value longer than 63"));
	cr_assert_eq(payload_args_add(&a, "k=a\tb"), -EINVAL);
	cr_assert_eq(a.nr, 0, "nothing was added");
	cr_assert_eq(payload_args_add(&a, "k=1"), 0);
	cr_assert_eq(payload_args_add(&a, "k=2"), -EEXIST);
	cr_assert(strstr(vmm_last_error(), "--arg k given twice"));
}

Test(payload_args, at_most_the_abi_limit)
{
	struct payload_args a = { 0 };
	char kv[32];

	for (int i = 0; i < PAYLOAD_MAX_ARGS; i++) {
		snprintf(kv, sizeof(kv), "k%d=%d", i, i);
		cr_assert_eq(payload_args_add(&a, kv), 0);
	}
	cr_assert_eq(payload_args_add(&a, "one_more=1"), -E2BIG);
}

Test(payload_args, keys_the_payload_does_not_take_are_refused)
{
	static const char keys[] = "mode\0seed\0";
	struct payload_image img = { .name = "unit", .arg_keys = keys };
	struct payload_args a = { 0 };

	cr_assert_eq(payload_args_add(&a, "seed=1"), 0);
	cr_assert_eq(payload_args_check(&a, &img), 0);
	cr_assert_eq(payload_args_add(&a, "colour=red"), 0);
	cr_assert_eq(payload_args_check(&a, &img), -EINVAL);
	cr_assert_str_eq(vmm_last_error(), "payload 'unit' takes no argument 'colour' (it takes: mode, seed)");
	img.arg_keys = NULL;
	cr_assert_eq(payload_args_check(&a, &img), 0, "a payload without a list takes any key");
}

/* Numbers are decimal unless they start with 0x: a leading 0 is not octal (it made 0512M 330 MiB, 010 eight). */
Test(payload_args, numbers_are_decimal_with_or_without_leading_zeros_and_hex_after_0x)
{
	static const struct {
		const char *str;
		int ret;
		uint64_t size; /* parse_size's value where ret is 0 */
	} sizes[] = {
		{ "0512M", 0, 512ULL << 20 }, { "010", 0, 10 }, { "08M", 0, 8ULL << 20 }, { "0", 0, 0 },
		{ "0x200000", 0, 2ULL << 20 }, { "0X10k", 0, 16ULL << 10 }, { "0x", -EINVAL, 0 }, { "0xg", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 }, { " 1", -EINVAL, 0 }, { "+1", -EINVAL, 0 }, { "1.5G", -EINVAL, 0 },
		{ "99999999999999999999", -ERANGE, 0 }, { "16777216T", -ERANGE, 0 },
	};
	struct payload_args a = { 0 };
	uint64_t v;

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		v = 12345;
		cr_assert_eq(parse_size(sizes[i].str, &v), sizes[i].ret, "parse_size('%s')", sizes[i].str);
		cr_assert_eq(v, sizes[i].ret ? 12345 : sizes[i].size, "parse_size('%s') gave %llu", sizes[i].str,
			     (unsigned long long)v);
	}
	cr_assert_eq(parse_uint("010", 1, 64, &v), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(parse_uint("0100", 1, 64, &v), -ERANGE, "0100 is a hundred, not 64");
	cr_assert_eq(parse_uint("0x40", 1, 64, &v), 0);
	cr_assert_eq(v, 64);
	cr_assert_eq(parse_uint("09", 1, 64, &v), 0);
	cr_assert_eq(v, 9);
	/* --arg values go through the same parser */
	cr_assert_eq(payload_args_add(&a, "size=0512M"), 0);
	cr_assert_eq(payload_args_find(&a, "size")->num, 512ULL << 20);
}
