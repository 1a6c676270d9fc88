/* SPDX-License-Identifier: MIT */
#include "config.h" /* _GNU_SOURCE: memfd_create */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"

uint64_t pattern_word(uint64_t page_idx, uint32_t gen, uint32_t seed, unsigned word)
{
	uint64_t x = (page_idx << 24) ^ ((uint64_t)gen << 12) ^ ((uint64_t)seed << 40) ^ word;

	/* splitmix64 finaliser: neighbouring words and pages differ in every byte */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void pattern_fill_page(void *page, uint64_t page_idx, uint32_t gen, uint32_t seed)
{
	uint64_t *w = page;

	for (unsigned i = 0; i < 4096 / 8; i++)
		w[i] = pattern_word(page_idx, gen, seed, i);
}

bool pattern_check_page(const void *page, uint64_t page_idx, uint32_t gen, uint32_t seed)
{
	const uint64_t *w = page;

	for (unsigned i = 0; i < 4096 / 8; i++)
		if (w[i] != pattern_word(page_idx, gen, seed, i))
			return false;
	return true;
}

void pattern_fill(void *base, uint64_t first, uint64_t nr_pages, uint32_t gen, uint32_t seed)
{
	for (uint64_t i = 0; i < nr_pages; i++)
		pattern_fill_page((char *)base + i * 4096, first + i, gen, seed);
}

uint64_t pattern_check(const void *base, uint64_t first, uint64_t nr_pages, uint32_t gen, uint32_t seed)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < nr_pages; i++)
		bad += !pattern_check_page((const char *)base + i * 4096, first + i, gen, seed);
	return bad;
}

int child_fail(int reason_fd, int status, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(reason_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		return status;
	return status;
}

int run_in_child(child_fn fn, void *arg, char *reason, size_t reason_len)
{
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		_exit(fn(arg, pfd[1]));
	}
	close(pfd[1]);
	n = read(pfd[0], reason, reason_len - 1);
	reason[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

unsigned argv_append_va(const char **argv, unsigned size, unsigned n, va_list ap)
{
	while (n < size - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	argv[n] = NULL;
	return n;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct thpvm_memmap *fix_map;

void map_fixture_init(void)
{
	cr_assert_eq(thpvm_memmap_create(&fix_map), 0);
}

void map_fixture_fini(void)
{
	if (fix_map)
		thpvm_memmap_destroy(fix_map);
	fix_map = NULL;
}

bool host_thp_allowed(void)
{
	struct thpvm_host_thp host;
	struct thpvm_region_config cfg = { .gpa = 0, .size_bytes = 2 * MIB };
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_region_info info;

	thpvm_host_thp_read(&host);
	if (thpvm_memmap_create(&map))
		return false;
	if (thpvm_memmap_add(map, &cfg, &r)) {
		thpvm_memmap_destroy(map);
		return false;
	}
	thpvm_region_get_info(r, &info);
	thpvm_memmap_destroy(map);
	return info.thp_reason == THPVM_THP_ELIGIBLE;
}

int count_vmas(uint64_t size_bytes)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long s, e;
	int n = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%lx-%lx%*[^\n]", &s, &e) == 2)
		n += e - s >= size_bytes && e - s <= size_bytes + 2 * MIB + 4 * 4096;
	fclose(f);
	return n;
}

const char *vma_prot(const void *addr, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long s, e;
	char prot[8];

	buf[0] = '\0';
	if (!f)
		return buf;
	while (fscanf(f, "%lx-%lx %7s%*[^\n]", &s, &e, prot) == 3)
		if ((unsigned long)addr >= s && (unsigned long)addr < e) {
			snprintf(buf, len, "%s", prot);
			break;
		}
	fclose(f);
	return buf;
}

double test_time_scale(void)
{
	static double scale;
	const char *s;
	char *end;

	if (scale > 0)
		return scale;
	s = getenv("THPVM_TEST_TIME_SCALE");
	scale = s ? strtod(s, &end) : 1;
	if (!s || end == s || *end || !(scale >= 1 && scale <= 1000))
		scale = 1;
	return scale;
}

int output_fd_create(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, O_APPEND)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
