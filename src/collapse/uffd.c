/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd that write-protects an extent while copy-and-remap copies
 * it. A writer that touches a protected page sleeps in the kernel (its
 * write is not lost, only delayed) until the new page is in place and
 * UFFDIO_WAKE lets it retry there. The fault-handler thread reads each
 * fault event as it arrives, so the time from the fault to the wake can be
 * measured (the writer's stall).
 *
 * Not UFFD_USER_MODE_ONLY: with it KVM_RUN fails with EFAULT on a protected
 * page instead of sleeping (host-facts.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include "collapse_internal.h"
#include "../kernel_compat.h"

/* Linux 6.4: write-protect pages that are not populated yet (markers), so no write slips past. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
/* Linux 5.19: write-protect shmem and hugetlbfs too (a snapshot in a memfd mapped private) */
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static int uffd_new(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int dev;

	/* vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE: /dev/userfaultfd may still be ours */
	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	return fd;
}

static bool pretend_no_wp_unpopulated;

THPVM_EXPORT void thpvm_collapse_uffd_wp_unpopulated_enable(bool enable)
{
	pretend_no_wp_unpopulated = !enable;
}

static void read_events(struct collapse_uffd *u, bool unseen)
{
	struct uffd_msg msg[16];
	ssize_t n;

	while ((n = read(u->fd, msg, sizeof(msg))) > 0) {
		uint64_t now = monotonic_ns();

		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			if (u->nr_pending == UFFD_PENDING_MAX) {
				u->nr_dropped++;
				continue;
			}
			u->pending[u->nr_pending].addr = (uintptr_t)msg[i].arg.pagefault.address;
			u->pending[u->nr_pending].t_ns = now;
			u->pending[u->nr_pending].unseen = unseen;
			u->nr_pending++;
		}
	}
}

static void *handler_main(void *arg)
{
	struct collapse_uffd *u = arg;
	struct pollfd pfd[2] = { { .fd = u->fd, .events = POLLIN }, { .fd = u->stop_efd, .events = POLLIN } };

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		if (pfd[0].revents & POLLIN) {
			pthread_mutex_lock(&u->lock);
			read_events(u, false);
			pthread_mutex_unlock(&u->lock);
		}
	}
	return NULL;
}

/* The features this kernel offers (UFFDIO_API enables features once per descriptor: ask on a throwaway one). */
static uint64_t uffd_features(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = uffd_new();
	uint64_t features = 0;

	if (fd >= 0 && !ioctl(fd, UFFDIO_API, &api))
		features = api.features;
	if (fd >= 0)
		close(fd);
	return features;
}

int uffd_open(struct collapse_uffd *u)
{
	struct uffdio_api api = { .api = UFFD_API };
	uint64_t offered;
	int ret;

	memset(u, 0, sizeof(*u));
	u->fd = u->stop_efd = -1;
	pthread_mutex_init(&u->lock, NULL);
	offered = uffd_features();
	if (pretend_no_wp_unpopulated)
		offered &= ~(uint64_t)UFFD_FEATURE_WP_UNPOPULATED;
	/*
	 * Without markers on absent pages (Linux < 6.4) a write there would
	 * slip past the protection: uffd_prepare_absent() makes them present
	 * (the zero page) before every protection instead.
	 */
	u->wp_unpopulated = offered & UFFD_FEATURE_WP_UNPOPULATED;
	api.features = (offered & UFFD_FEATURE_WP_UNPOPULATED) | (offered & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	u->fd = uffd_new();
	if (u->fd < 0)
		return -errno;
	if (ioctl(u->fd, UFFDIO_API, &api)) {
		ret = -errno;
		goto fail;
	}
	if (!(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
		ret = -EOPNOTSUPP;
		goto fail;
	}
	u->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->stop_efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&u->handler, NULL, handler_main, u);
	if (ret)
		goto fail;
	u->handler_running = true;
	return 0;
fail:
	if (u->stop_efd >= 0)
		close(u->stop_efd);
	close(u->fd);
	u->fd = u->stop_efd = -1;
	return ret;
}

void uffd_close(struct collapse_uffd *u, bool join)
{
	uint64_t one = 1;

	if (u->handler_running && join) {
		if (write(u->stop_efd, &one, sizeof(one)) == sizeof(one))
			pthread_join(u->handler, NULL);
	}
	u->handler_running = false;
	if (u->stop_efd >= 0)
		close(u->stop_efd);
	if (u->fd >= 0)
		close(u->fd);
	u->fd = u->stop_efd = -1;
	pthread_mutex_destroy(&u->lock);
}

int uffd_register_wp(struct collapse_uffd *u, void *start, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)start, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (u->fd < 0)
		return -EOPNOTSUPP;
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		uffd_unregister(u, start, len);
		return -EOPNOTSUPP;
	}
	return 0;
}

int uffd_unregister(struct collapse_uffd *u, void *start, uint64_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)start, .len = len };

	return ioctl(u->fd, UFFDIO_UNREGISTER, &range) ? -errno : 0;
}

int uffd_protect(struct collapse_uffd *u, void *start, uint64_t len, bool wp)
{
	struct uffdio_writeprotect arg = {
		.range = { .start = (uintptr_t)start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(u->fd, UFFDIO_WRITEPROTECT, &arg) ? -errno : 0;
}

int uffd_wake(struct collapse_uffd *u, void *start, uint64_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)start, .len = len };

	return ioctl(u->fd, UFFDIO_WAKE, &range) ? -errno : 0;
}

void uffd_drain(struct collapse_uffd *u)
{
	if (u->fd < 0)
		return;
	pthread_mutex_lock(&u->lock);
	read_events(u, true);
	pthread_mutex_unlock(&u->lock);
}

void uffd_account_stalls(struct thpvm_collapse *c, uintptr_t start, uintptr_t end, uint64_t t_protect_ns,
			 uint64_t t_wake_ns)
{
	struct collapse_uffd *u = &c->uffd;
	unsigned kept = 0;

	pthread_mutex_lock(&u->lock);
	pthread_mutex_lock(&c->stats_lock);
	for (unsigned i = 0; i < u->nr_pending; i++) {
		uint64_t t = u->pending[i].t_ns;

		if (u->pending[i].addr >= start && u->pending[i].addr < end && t < t_protect_ns) {
			u->nr_dropped++; /* read after an earlier operation on this range had woken it */
		} else if (u->pending[i].addr >= start && u->pending[i].addr < end) {
			hist_add(&c->stats.stall, t_wake_ns > t ? t_wake_ns - t : 0);
			c->stats.nr_stalls++;
			c->stats.nr_stalls_unseen += u->pending[i].unseen;
		} else {
			u->pending[kept++] = u->pending[i];
		}
	}
	u->nr_pending = kept;
	pthread_mutex_unlock(&c->stats_lock);
	pthread_mutex_unlock(&u->lock);
}

/* Linux < 6.7: the uffd-wp bit of every page's pagemap entry (5.13+; markers report it from 6.4). */
static int range_written_pagemap(int pagemap_fd, void *start, uint64_t len)
{
	uint64_t entries[512];
	uint64_t first = (uintptr_t)start / 4096, n = len / 4096;

	for (uint64_t i = 0; i < n; i += 512) {
		uint64_t k = n - i < 512 ? n - i : 512;
		ssize_t got = pread(pagemap_fd, entries, k * 8, (off_t)((first + i) * 8));

		if (got != (ssize_t)(k * 8))
			return got < 0 ? -errno : -EIO;
		for (uint64_t j = 0; j < k; j++)
			if (!(entries[j] & PM_UFFD_WP))
				return 1; /* written, or gone: either way not what was copied */
	}
	return 0;
}

int uffd_range_written(int pagemap_fd, void *start, uint64_t len)
{
	struct page_region vec[1];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)start,
		.end = (uintptr_t)start + len,
		.vec = (uintptr_t)vec,
		.vec_len = 1,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n;

	if (!pagemap_scan_supported())
		return range_written_pagemap(pagemap_fd, start, len);
	n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
	return n < 0 ? -errno : n > 0;
}

int uffd_prepare_absent(struct collapse_uffd *u, void *start, uint64_t len)
{
	if (u->wp_unpopulated)
		return 0;
	return madvise(start, len, MADV_POPULATE_READ) ? -errno : 0;
}

void uffd_note(const struct collapse_uffd *u, bool uffd_open, char *buf, size_t len)
{
	int n = 0;

	buf[0] = 0;
	if (!uffd_open) {
		snprintf(buf, len, "no userfaultfd write-protect here: copy-and-remap works only with a quiesce hook "
				   "(the VM pauses its vCPUs)");
		return;
	}
	if (!u->wp_unpopulated)
		n = snprintf(buf, len, "no UFFD_FEATURE_WP_UNPOPULATED (Linux 6.4): absent pages get the zero page "
				       "before each write-protection");
	if (!pagemap_scan_supported() && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%sno PAGEMAP_SCAN (Linux 6.7): the written-page check reads "
						   "/proc/self/pagemap", n ? "; " : "");
}
