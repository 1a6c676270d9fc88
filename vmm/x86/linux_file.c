/* SPDX-License-Identifier: MIT */
/* Kernel and initrd files, and copies into guest memory that may span regions. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "layout.h"
#include "linux_internal.h"

int linux_file_open(struct linux_file *f, const char *what, const char *path)
{
	struct stat st;

	f->fd = -1;
	f->what = what;
	f->path = path;
	f->size_bytes = 0;
	if (!path || !*path)
		return linux_fail(LINUX_LOAD_BAD_CONFIG, "%s: no file name given", what);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		int err = errno;

		return linux_fail(err == ENOENT || err == ENOTDIR ? LINUX_LOAD_FILE_MISSING : LINUX_LOAD_FILE_UNREADABLE,
				  "%s '%s': cannot open: %s", what, path, strerror(err));
	}
	if (fstat(f->fd, &st)) {
		int err = errno;

		linux_file_close(f);
		return linux_fail(LINUX_LOAD_FILE_UNREADABLE, "%s '%s': cannot stat: %s", what, path, strerror(err));
	}
	if (!S_ISREG(st.st_mode)) {
		linux_file_close(f);
		return linux_fail(LINUX_LOAD_FILE_NOT_REGULAR, "%s '%s': not a regular file (%s)", what, path,
				  S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
	}
	if (st.st_size == 0) {
		linux_file_close(f);
		return linux_fail(LINUX_LOAD_FILE_EMPTY, "%s '%s': file is empty", what, path);
	}
	f->size_bytes = (uint64_t)st.st_size;
	return 0;
}

void linux_file_close(struct linux_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

int linux_file_read(const struct linux_file *f, uint64_t offset, void *buf, uint64_t size)
{
	uint8_t *p = buf;
	uint64_t done = 0;

	if (offset > f->size_bytes || size > f->size_bytes - offset)
		return linux_fail(LINUX_LOAD_TRUNCATED,
				  "%s '%s': truncated: needs %llu bytes at offset 0x%llx, the file has %llu", f->what,
				  f->path, (unsigned long long)size, (unsigned long long)offset,
				  (unsigned long long)f->size_bytes);
	while (done < size) {
		ssize_t n = pread(f->fd, p + done, size - done, (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return linux_fail(LINUX_LOAD_FILE_READ_FAILED, "%s '%s': read failed at offset 0x%llx: %s",
					  f->what, f->path, (unsigned long long)(offset + done), strerror(errno));
		if (n == 0) /* the file shrank under us */
			return linux_fail(LINUX_LOAD_TRUNCATED, "%s '%s': truncated: end of file at offset 0x%llx",
					  f->what, f->path, (unsigned long long)(offset + done));
		done += (uint64_t)n;
	}
	return 0;
}

/* The host address of gpa and how many bytes from there lie in the same region (at most size). */
static void *guest_chunk(const struct thpvm_memmap *map, uint64_t gpa, uint64_t size, uint64_t *chunk)
{
	struct thpvm_region *region = thpvm_memmap_find(map, gpa);
	struct thpvm_region_info info;

	if (!region)
		return NULL;
	thpvm_region_get_info(region, &info);
	*chunk = info.gpa + info.size_bytes - gpa;
	if (*chunk > size)
		*chunk = size;
	return (uint8_t *)info.hva + (gpa - info.gpa);
}

int linux_file_to_guest(const struct linux_file *f, uint64_t offset, struct thpvm_memmap *map, uint64_t gpa,
			uint64_t size)
{
	while (size) {
		uint64_t chunk;
		void *hva = guest_chunk(map, gpa, size, &chunk);
		int ret;

		if (!hva)
			return linux_fail(LINUX_LOAD_GUEST_WRITE, "%s '%s': guest address 0x%llx is not RAM", f->what,
					  f->path, (unsigned long long)gpa);
		ret = linux_file_read(f, offset, hva, chunk);
		if (ret)
			return ret;
		offset += chunk;
		gpa += chunk;
		size -= chunk;
	}
	return 0;
}

static int guest_copy(struct thpvm_memmap *map, uint64_t gpa, const void *src, uint64_t size, const char *what)
{
	const uint8_t *s = src;

	while (size) {
		uint64_t chunk;
		void *hva = guest_chunk(map, gpa, size, &chunk);

		if (!hva)
			return linux_fail(LINUX_LOAD_GUEST_WRITE, "%s at guest address 0x%llx: not RAM", what,
					  (unsigned long long)gpa);
		if (s) {
			memcpy(hva, s, chunk);
			s += chunk;
		} else {
			memset(hva, 0, chunk);
		}
		gpa += chunk;
		size -= chunk;
	}
	return 0;
}

int linux_guest_write(struct thpvm_memmap *map, uint64_t gpa, const void *src, uint64_t size, const char *what)
{
	return guest_copy(map, gpa, src, size, what);
}

int linux_guest_zero(struct thpvm_memmap *map, uint64_t gpa, uint64_t size, const char *what)
{
	return guest_copy(map, gpa, NULL, size, what);
}

uint64_t linux_ram_end(const struct thpvm_memmap *map, uint64_t gpa)
{
	struct thpvm_region *region;

	while (gpa < X86_MMIO_HOLE_GPA && (region = thpvm_memmap_find(map, gpa))) {
		struct thpvm_region_info info;

		thpvm_region_get_info(region, &info);
		if (info.flags & THPVM_REGION_F_NOHUGE)
			break; /* device memory or ROM is not RAM */
		gpa = info.gpa + info.size_bytes;
	}
	return gpa < X86_MMIO_HOLE_GPA ? gpa : X86_MMIO_HOLE_GPA;
}
