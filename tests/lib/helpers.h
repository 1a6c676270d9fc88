/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: per-page index patterns, child processes, host checks.
 * tests/lib holds every helper more than one folder of tests uses: this,
 * require.h (REQUIRE_KVM, REQUIRE_THP), ctl_helpers (a control server with
 * test commands, raw socket clients, the ctl suites' fixture) and
 * linux_helpers (synthetic bzImage, ELF and PVH kernels, temp files).
 */
#ifndef THPVM_TEST_HELPERS_H
#define THPVM_TEST_HELPERS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/*
 * Per-page index pattern: every 8-byte word of a page encodes the page's
 * index, a generation and a seed, so a page that landed at the wrong place,
 * a stale page or a torn page are all told apart.
 */
uint64_t pattern_word(uint64_t page_idx, uint32_t gen, uint32_t seed, unsigned word);
void pattern_fill_page(void *page, uint64_t page_idx, uint32_t gen, uint32_t seed);
bool pattern_check_page(const void *page, uint64_t page_idx, uint32_t gen, uint32_t seed);
void pattern_fill(void *base, uint64_t first_page_idx, uint64_t nr_pages, uint32_t gen, uint32_t seed);
/* Number of pages that do not hold the pattern. */
uint64_t pattern_check(const void *base, uint64_t first_page_idx, uint64_t nr_pages, uint32_t gen, uint32_t seed);

/*
 * Runs fn in a forked child and returns its exit status (or 128 + signal).
 * The child writes a one-line reason for a failure to the pipe fd passed in;
 * child_reason() returns it.
 */
typedef int (*child_fn)(void *arg, int reason_fd);
int run_in_child(child_fn fn, void *arg, char *reason, size_t reason_len);
/* In a child: write a reason line and return status. */
int child_fail(int reason_fd, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * For variadic wrappers that run a program with the NULL-terminated
 * const char * arguments of ap: appends them to argv, whose first n
 * entries are already set, keeping at most size - 1 entries in all, then
 * NULL-terminates argv. Returns its number of entries (the index of the
 * NULL).
 */
unsigned argv_append_va(const char **argv, unsigned size, unsigned n, va_list ap);

/* Sleeps ms milliseconds (not scaled: a polling interval, not a limit). */
void sleep_ms(unsigned ms);

/*
 * In a forked child that execs thpvm: die with the test. Criterion kills a
 * test that times out; without this its thpvm would run on, orphaned.
 */
static inline void die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * Time limits: THPVM_TEST_TIME_SCALE (default 1, the nested lab sets it)
 * multiplies every Criterion time limit (tests/lib/main.c) and the bounded
 * waits inside tests, which use test_secs()/test_ms() for them.
 */
double test_time_scale(void);
static inline double test_secs(double secs)
{
	return secs * test_time_scale();
}
static inline unsigned test_ms(unsigned ms)
{
	return (unsigned)(ms * test_time_scale());
}
/* a scaled limit in ns, for vm_wait() and friends */
static inline uint64_t test_ns(double secs)
{
	return (uint64_t)(test_secs(secs) * 1e9);
}

/*
 * A memfd to catch a child's stdout or stderr, opened O_APPEND: a child's
 * threads (vCPUs, payload threads) share one file offset, and a memfd,
 * unlike a regular file, does not serialise it, so two concurrent writes
 * could land at the same offset and one line vanish. -errno on failure.
 */
int output_fd_create(const char *name);

/*
 * The suites' guest memory map: map_fixture_init() (.init) makes fix_map an
 * empty map (linux_fixture_init() one with RAM, or a test its own);
 * map_fixture_fini() (.fini) destroys it.
 */
struct thpvm_memmap;
extern struct thpvm_memmap *fix_map;
void map_fixture_init(void);
void map_fixture_fini(void);

/* Whether the host would give this process 2 MiB THP for MADV_HUGEPAGE memory. */
bool host_thp_allowed(void);
/*
 * syscall_deny.c: makes syscall nr fail with err in this process and every
 * child it forks from now on, for good (a seccomp filter, after
 * PR_SET_NO_NEW_PRIVS): call it in a forked child (run_in_child()). Returns
 * 0 or -errno.
 */
int syscall_deny(long nr, int err);
/* 0 when this process may set up io_uring, else the errno io_uring_setup gives (ENOSYS, EPERM, ...). */
int host_io_uring_error(void);
/*
 * Number of VMAs in /proc/self/maps of a size a region of size_bytes could
 * leave behind: its mapping or its reservation (size + 2 MiB slack + guards).
 */
int count_vmas(uint64_t size_bytes);
/* Protection string ("rw-p", "---p") of the VMA holding addr, or "" */
const char *vma_prot(const void *addr, char *buf, size_t len);

#endif
