/* SPDX-License-Identifier: MIT */
/* Payload files: finding them, reading them, and refusing anything that is not one. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "payload.h"
#include "util/util.h"
#include "util/error.h"
#include "x86/layout.h"
#include "config.h"

_Static_assert(PAYLOAD_LOAD_GPA == X86_PAYLOAD_IMAGE_GPA, "the ABI's load address is the layout's image address");

#ifndef THPVM_PAYLOAD_INSTALL_DIR
#define THPVM_PAYLOAD_INSTALL_DIR "/usr/local/lib/thpvm/payloads"
#endif

THPVM_RESULT_LOOKUPS(, payload_image_result, enum payload_image_result, PAYLOAD_IMAGE_RESULTS,
		     PAYLOAD_NR_IMAGE_RESULTS, "PAYLOAD_IMAGE_UNKNOWN", EINVAL)

/* Records result in img and the detailed one-line message; returns its -errno. */
__attribute__((format(printf, 3, 4))) static int image_fail(struct payload_image *img, enum payload_image_result result,
							    const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	img->result = result;
	return vmm_fail(-payload_image_result_errno(result), "%s", msg);
}

/* An address the header gives must point inside the file. */
static bool in_file(const struct payload_image *img, uint64_t gpa)
{
	return gpa >= img->load_gpa && gpa - img->load_gpa < img->file_size;
}

int payload_image_parse(const void *buf, size_t len, struct payload_image *img)
{
	struct payload_header h;
	const char *name;
	size_t max_name;

	memset(img, 0, sizeof(*img));
	/* the magic first: a foreign file is "not a payload" whatever its size */
	if (len < sizeof(h.magic) || memcmp(buf, &(uint64_t){ PAYLOAD_MAGIC }, sizeof(h.magic)))
		return image_fail(img, PAYLOAD_IMAGE_NO_MAGIC, "not a thpvm payload: no THPVMPL magic at offset 0 (see docs/payload-abi.md)");
	if (len < sizeof(h))
		return image_fail(img, PAYLOAD_IMAGE_SHORT, "not a thpvm payload: %zu bytes, shorter than the %zu-byte payload header", len,
				sizeof(h));
	memcpy(&h, buf, sizeof(h));
	if (h.abi_version != PAYLOAD_ABI_VERSION)
		return image_fail(img, PAYLOAD_IMAGE_VERSION, "payload ABI version %u, this thpvm speaks version %u", h.abi_version,
				PAYLOAD_ABI_VERSION);
	if (h.header_size != PH_SIZE)
		return image_fail(img, PAYLOAD_IMAGE_HEADER_SIZE, "payload header size %u, expected %u", h.header_size, PH_SIZE);
	if (h.load_gpa != X86_PAYLOAD_IMAGE_GPA)
		return image_fail(img, PAYLOAD_IMAGE_LOAD_GPA, "payload linked for 0x%llx, payloads load at 0x%llx",
				(unsigned long long)h.load_gpa, (unsigned long long)X86_PAYLOAD_IMAGE_GPA);
	if (len > X86_PAYLOAD_IMAGE_MAX)
		return image_fail(img, PAYLOAD_IMAGE_TOO_LARGE, "payload too large: %zu bytes, the image area holds %llu", len,
				(unsigned long long)X86_PAYLOAD_IMAGE_MAX);
	if (h.file_end_gpa < h.load_gpa || h.file_end_gpa - h.load_gpa != len)
		return image_fail(img, PAYLOAD_IMAGE_SIZE_MISMATCH, "payload truncated or padded: header says %lld bytes, file has %zu",
				(long long)(h.file_end_gpa - h.load_gpa), len);
	if (h.mem_end_gpa < h.file_end_gpa)
		return image_fail(img, PAYLOAD_IMAGE_BAD_ADDRESS, "payload header: memory end before file end");
	if (h.mem_end_gpa - h.load_gpa > X86_PAYLOAD_IMAGE_MAX)
		return image_fail(img, PAYLOAD_IMAGE_TOO_LARGE, "payload too large: %llu bytes with bss, the image area holds %llu",
				(unsigned long long)(h.mem_end_gpa - h.load_gpa), (unsigned long long)X86_PAYLOAD_IMAGE_MAX);
	if (h.flags & ~PAYLOAD_F_ALL)
		return image_fail(img, PAYLOAD_IMAGE_BAD_FLAGS, "payload header: unknown flags 0x%x", h.flags & ~PAYLOAD_F_ALL);
	img->data = buf;
	img->file_size = len;
	img->load_gpa = h.load_gpa;
	img->entry_gpa = h.entry_gpa;
	img->mem_size = h.mem_end_gpa - h.load_gpa;
	img->flags = h.flags;
	if (!in_file(img, h.entry_gpa) || h.entry_gpa - h.load_gpa < sizeof(h))
		return image_fail(img, PAYLOAD_IMAGE_BAD_ADDRESS, "payload entry point 0x%llx is outside its code", (unsigned long long)h.entry_gpa);
	if (!in_file(img, h.name_gpa))
		return image_fail(img, PAYLOAD_IMAGE_BAD_ADDRESS, "payload header: name outside the file");
	name = (const char *)buf + (h.name_gpa - h.load_gpa);
	max_name = len - (h.name_gpa - h.load_gpa);
	if (max_name > sizeof(img->name))
		max_name = sizeof(img->name);
	if (strnlen(name, max_name) == max_name)
		return image_fail(img, PAYLOAD_IMAGE_UNTERMINATED, "payload header: name not terminated");
	strcpy(img->name, name);
	if (h.args_gpa) {
		const char *k;
		size_t left;

		if (!in_file(img, h.args_gpa))
			return image_fail(img, PAYLOAD_IMAGE_BAD_ADDRESS, "payload header: argument list outside the file");
		k = (const char *)buf + (h.args_gpa - h.load_gpa);
		left = len - (h.args_gpa - h.load_gpa);
		img->arg_keys = k;
		/* the list ends with an empty key, inside the file */
		for (;;) {
			size_t n = strnlen(k, left);

			if (n == left)
				return image_fail(img, PAYLOAD_IMAGE_UNTERMINATED, "payload header: argument list not terminated");
			if (!n)
				break;
			k += n + 1;
			left -= n + 1;
		}
	}
	return 0;
}

bool payload_image_accepts(const struct payload_image *img, const char *key)
{
	if (!img->arg_keys)
		return true;
	for (const char *k = img->arg_keys; *k; k += strlen(k) + 1)
		if (!strcmp(k, key))
			return true;
	return false;
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

static bool try_dir(const char *dir, const char *name, char *path, size_t len)
{
	size_t n = strlen(name);

	if (!dir || !*dir)
		return false;
	if (n > 4 && !strcmp(name + n - 4, ".bin"))
		snprintf(path, len, "%s/%s", dir, name);
	else
		snprintf(path, len, "%s/%s.bin", dir, name);
	return is_file(path);
}

int payload_resolve(const char *name_or_path, char *path, size_t len)
{
	char build_dir[PATH_MAX + 16] = "";
	const char *env = getenv("THPVM_PAYLOAD_DIR");

	if (!name_or_path || !*name_or_path)
		return vmm_fail(-EINVAL, "--payload needs a name or a path");
	if (strchr(name_or_path, '/')) {
		snprintf(path, len, "%s", name_or_path);
		if (!is_file(path))
			return vmm_fail(-ENOENT, "payload '%s': %s", name_or_path,
					access(path, F_OK) ? strerror(errno) : "not a regular file");
		return 0;
	}
	if (!cli_build_dir(build_dir, sizeof(build_dir) - 8))
		strcat(build_dir, "/guests");
	if (try_dir(env, name_or_path, path, len) || try_dir(build_dir, name_or_path, path, len) ||
	    try_dir(THPVM_PAYLOAD_INSTALL_DIR, name_or_path, path, len))
		return 0;
	return vmm_fail(-ENOENT, "payload '%s' not found (looked for %s.bin in %s%s%s, %s; give a path with a '/' for a file)",
			name_or_path, name_or_path, env && *env ? env : "", env && *env ? ", " : "",
			build_dir[0] ? build_dir : "(no build tree)", THPVM_PAYLOAD_INSTALL_DIR);
}

int payload_image_load(const char *name_or_path, struct payload_image *img)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd, ret;

	memset(img, 0, sizeof(*img));
	if ((ret = payload_resolve(name_or_path, path, sizeof(path)))) {
		img->result = PAYLOAD_IMAGE_NOT_FOUND;
		return ret;
	}
	img->result = PAYLOAD_IMAGE_UNREADABLE;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_fail(-errno, "payload %s: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return vmm_fail(ret, "payload %s: %s", path, strerror(-ret));
	}
	/* refuse before reading: a huge file is not a payload */
	if ((uint64_t)st.st_size > X86_PAYLOAD_IMAGE_MAX) {
		close(fd);
		return image_fail(img, PAYLOAD_IMAGE_TOO_LARGE, "payload %s too large: %lld bytes, the image area holds %llu", path,
				(long long)st.st_size, (unsigned long long)X86_PAYLOAD_IMAGE_MAX);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return vmm_fail(-ENOMEM, "out of memory for payload %s", path);
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return image_fail(img, PAYLOAD_IMAGE_UNREADABLE, "payload %s: short read", path);
	}
	if ((ret = payload_image_parse(buf, (size_t)n, img))) {
		vmm_error_prefix("%s", path);
		free(buf);
		img->data = NULL;
		return ret;
	}
	img->owned = buf;
	img->path = strdup(path);
	return 0;
}

void payload_image_free(struct payload_image *img)
{
	free(img->owned);
	free(img->path);
	memset(img, 0, sizeof(*img));
}
