/* SPDX-License-Identifier: MIT */
/* --arg KEY=VALUE: checked here, so a payload only ever sees well-formed arguments. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "payload.h"
#include "util/util.h"
#include "util/error.h"

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int payload_args_add(struct payload_args *args, const char *kv)
{
	const char *eq = strchr(kv, '=');
	struct payload_arg *a;
	size_t klen, vlen;
	char key[PAYLOAD_ARG_KEY_MAX];

	if (!eq)
		return vmm_fail(-EINVAL, "--arg '%s': expected KEY=VALUE", kv);
	klen = (size_t)(eq - kv);
	vlen = strlen(eq + 1);
	if (!klen)
		return vmm_fail(-EINVAL, "--arg '%s': empty key", kv);
	if (klen >= PAYLOAD_ARG_KEY_MAX)
		return vmm_fail(-EINVAL, "--arg '%s': key longer than %d characters", kv, PAYLOAD_ARG_KEY_MAX - 1);
	for (size_t i = 0; i < klen; i++)
		if (!key_char(kv[i]))
			return vmm_fail(-EINVAL, "--arg '%s': keys use a-z, 0-9 and _", kv);
	if (vlen >= PAYLOAD_ARG_STR_MAX)
		return vmm_fail(-EINVAL, "--arg '%s': value longer than %d characters", kv, PAYLOAD_ARG_STR_MAX - 1);
	for (size_t i = 0; i < vlen; i++)
		if (!isprint((unsigned char)eq[1 + i]))
			return vmm_fail(-EINVAL, "--arg '%.*s': value has a non-printable character", (int)klen, kv);
	memcpy(key, kv, klen);
	key[klen] = '\0';
	if (payload_args_find(args, key))
		return vmm_fail(-EEXIST, "--arg %s given twice", key);
	if (args->nr >= PAYLOAD_MAX_ARGS)
		return vmm_fail(-E2BIG, "more than %d --arg", PAYLOAD_MAX_ARGS);
	a = &args->args[args->nr];
	memset(a, 0, sizeof(*a));
	memcpy(a->key, key, klen + 1);
	memcpy(a->str, eq + 1, vlen + 1);
	a->is_num = vlen && !parse_size(a->str, &a->num);
	if (!a->is_num)
		a->num = 0;
	args->nr++;
	return 0;
}

const struct payload_arg *payload_args_find(const struct payload_args *args, const char *key)
{
	for (unsigned i = 0; args && i < args->nr; i++)
		if (!strcmp(args->args[i].key, key))
			return &args->args[i];
	return NULL;
}

int payload_args_check(const struct payload_args *args, const struct payload_image *img)
{
	for (unsigned i = 0; args && i < args->nr; i++) {
		char list[256] = "";
		size_t n = 0;

		if (payload_image_accepts(img, args->args[i].key))
			continue;
		for (const char *k = img->arg_keys; *k && n < sizeof(list) - 1; k += strlen(k) + 1)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", k);
		return vmm_fail(-EINVAL, "payload '%s' takes no argument '%s' (it takes: %s)", img->name, args->args[i].key,
				n ? list : "none");
	}
	return 0;
}
