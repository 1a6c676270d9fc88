/* SPDX-License-Identifier: MIT */
/*
 * The collapser's life: create, the thread, pause/resume around a VM pause
 * or fork, synchronous passes, stats, injected failures.
 *
 * Locks: op_lock serialises passes (one operation in flight per collapser)
 * and configuration changes; ctl_lock guards the thread's life and the
 * pause depth, and its condition variable cuts every sleep short on pause or
 * stop; stats_lock guards the counters. Order: op_lock, then an extent's
 * lock or the uffd lock, then stats_lock; ctl_lock is never held with
 * another.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "collapse_internal.h"

bool collapse_injected(struct thpvm_collapse *c, enum thpvm_collapse_inject what)
{
	uint32_t left = __atomic_load_n(&c->inject[what], __ATOMIC_RELAXED);

	while (left)
		if (__atomic_compare_exchange_n(&c->inject[what], &left, left - 1, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

bool collapse_should_yield(struct thpvm_collapse *c)
{
	return __atomic_load_n(&c->pause_depth, __ATOMIC_ACQUIRE) || __atomic_load_n(&c->stop_requested, __ATOMIC_ACQUIRE);
}

uint64_t collapse_sleep_until(struct thpvm_collapse *c, uint64_t deadline_ns)
{
	uint64_t start = monotonic_ns();
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
			       .tv_nsec = (long)(deadline_ns % 1000000000ULL) };

	pthread_mutex_lock(&c->ctl_lock);
	while (!c->stop_requested && !c->pause_depth && monotonic_ns() < deadline_ns)
		if (pthread_cond_timedwait(&c->ctl_cond, &c->ctl_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->ctl_lock);
	return monotonic_ns() - start;
}

/*
 * While writers sleep on our protection (or the VM is quiesced) the copy must
 * not queue behind other work: a collapser niced for background copying
 * would otherwise turn into the priority inversion seed 000 warns of for
 * khugepaged. The boost lasts from the protection to the wake; without
 * CAP_SYS_NICE it silently does nothing.
 */
int collapse_boost(struct thpvm_collapse *c)
{
	id_t tid = (id_t)syscall(SYS_gettid);
	int old;

	errno = 0;
	old = getpriority(PRIO_PROCESS, tid);
	if (errno || c->cfg.wp_nice >= old)
		return INT_MAX;
	return setpriority(PRIO_PROCESS, tid, c->cfg.wp_nice) ? INT_MAX : old;
}

void collapse_unboost(int old)
{
	if (old != INT_MAX)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), old);
}

static void apply_nice(struct thpvm_collapse *c, int *applied)
{
	if (*applied == c->cfg.nice)
		return;
	/* per-thread on Linux: the thread's tid is a process id for setpriority */
	if (!setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), c->cfg.nice))
		*applied = c->cfg.nice;
}

static void pass_locked(struct thpvm_collapse *c, struct thpvm_collapse_pass *pass, int *ret)
{
	uint64_t t0 = monotonic_ns();

	memset(pass, 0, sizeof(*pass));
	/* checked under op_lock: a pause that has returned sees no new pass start */
	if (collapse_should_yield(c)) {
		pass->paused = true;
		*ret = 0;
		return;
	}
	*ret = collapse_pass(c, pass);
	pass->duration_ns = monotonic_ns() - t0;
	account_pass(c, pass);
}

static void *thread_main(void *arg)
{
	struct thpvm_collapse *c = arg;
	struct thpvm_collapse_pass pass;
	int applied_nice = 0, ret;

	pthread_mutex_lock(&c->ctl_lock);
	while (!c->stop_requested) {
		uint64_t backoff_until, interval_ms;

		if (c->pause_depth) {
			pthread_cond_wait(&c->ctl_cond, &c->ctl_lock);
			continue;
		}
		pthread_mutex_unlock(&c->ctl_lock);

		pthread_mutex_lock(&c->op_lock);
		apply_nice(c, &applied_nice);
		backoff_until = c->backoff_until_ns;
		interval_ms = c->cfg.interval_ms;
		if (monotonic_ns() < backoff_until) {
			uint64_t slept;

			pthread_mutex_unlock(&c->op_lock);
			slept = collapse_sleep_until(c, backoff_until);
			pthread_mutex_lock(&c->stats_lock);
			c->stats.backoff_ns += slept;
			pthread_mutex_unlock(&c->stats_lock);
		} else {
			pass_locked(c, &pass, &ret);
			pthread_mutex_unlock(&c->op_lock);
			/* more work is likely right after a productive pass; otherwise rest */
			if (ret || !pass.nr_collapsed)
				collapse_sleep_until(c, monotonic_ns() + interval_ms * 1000000ULL);
		}
		pthread_mutex_lock(&c->ctl_lock);
	}
	pthread_mutex_unlock(&c->ctl_lock);
	return NULL;
}

THPVM_EXPORT int thpvm_collapse_create(struct thpvm_memmap *map, const struct thpvm_collapse_config *cfg,
				       struct thpvm_collapse **out)
{
	struct thpvm_collapse_config def;
	struct thpvm_collapse *c;
	pthread_condattr_t attr;
	int ret;

	if (!cfg) {
		thpvm_collapse_config_default(&def);
		cfg = &def;
	}
	if (!map || !out) {
		thpvm_set_error("collapse: no memory map");
		return -EINVAL;
	}
	ret = collapse_config_check(cfg);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->map = map;
	c->cfg = *cfg;
	c->owner_pid = getpid();
	pthread_mutex_init(&c->op_lock, NULL);
	pthread_mutex_init(&c->ctl_lock, NULL);
	pthread_mutex_init(&c->stats_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->ctl_cond, &attr);
	pthread_condattr_destroy(&attr);
	c->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	/* without userfaultfd, MADV_COLLAPSE and the quiesce hook still work */
	c->stats.uffd = uffd_open(&c->uffd) == 0;
	c->stats.uffd_wp_unpopulated = c->stats.uffd && c->uffd.wp_unpopulated;
	uffd_note(&c->uffd, c->stats.uffd, c->stats.kernel_note, sizeof(c->stats.kernel_note));
	c->max_map_count = vma_max_map_count();
	c->vma_limit = vma_limit_for(cfg, c->max_map_count);
	c->nr_vmas = vma_count_now();
	c->stats.config = *cfg;
	c->stats.max_vmas = c->vma_limit;
	c->stats.nr_vmas = c->nr_vmas;
	*out = c;
	return 0;
}

THPVM_EXPORT void thpvm_collapse_destroy(struct thpvm_collapse *c)
{
	bool owner;

	if (!c)
		return;
	/* in a forked child the threads do not exist: close and free only */
	owner = getpid() == c->owner_pid;
	if (owner)
		thpvm_collapse_stop(c);
	if (owner) {
		pthread_mutex_lock(&c->op_lock);
		staging_release(c);
		pthread_mutex_unlock(&c->op_lock);
	}
	uffd_close(&c->uffd, owner);
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
	if (owner) {
		pthread_cond_destroy(&c->ctl_cond);
		pthread_mutex_destroy(&c->op_lock);
		pthread_mutex_destroy(&c->ctl_lock);
		pthread_mutex_destroy(&c->stats_lock);
	}
	free(c);
}

THPVM_EXPORT int thpvm_collapse_configure(struct thpvm_collapse *c, const struct thpvm_collapse_config *cfg)
{
	int ret = collapse_config_check(cfg);

	if (ret)
		return ret;
	/* a pause cuts a long rate-limit or back-off sleep short instead of waiting it out */
	thpvm_collapse_pause(c);
	pthread_mutex_lock(&c->op_lock);
	c->cfg = *cfg;
	pthread_mutex_unlock(&c->op_lock);
	thpvm_collapse_resume(c);
	pthread_mutex_lock(&c->stats_lock);
	c->stats.config = *cfg;
	pthread_mutex_unlock(&c->stats_lock);
	return 0;
}

THPVM_EXPORT int thpvm_collapse_start(struct thpvm_collapse *c)
{
	int ret = 0;

	pthread_mutex_lock(&c->ctl_lock);
	if (!c->thread_running) {
		c->stop_requested = false;
		ret = -pthread_create(&c->thread, NULL, thread_main, c);
		c->thread_running = !ret;
	}
	pthread_mutex_unlock(&c->ctl_lock);
	if (ret)
		thpvm_set_error("collapse: cannot start the thread: %s", strerror(-ret));
	return ret;
}

THPVM_EXPORT int thpvm_collapse_stop(struct thpvm_collapse *c)
{
	bool running;

	pthread_mutex_lock(&c->ctl_lock);
	running = c->thread_running;
	__atomic_store_n(&c->stop_requested, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&c->ctl_cond);
	pthread_mutex_unlock(&c->ctl_lock);
	if (running)
		pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->ctl_lock);
	c->thread_running = false;
	__atomic_store_n(&c->stop_requested, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->ctl_lock);
	return 0;
}

THPVM_EXPORT int thpvm_collapse_pause(struct thpvm_collapse *c)
{
	pthread_mutex_lock(&c->ctl_lock);
	__atomic_add_fetch(&c->pause_depth, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&c->ctl_cond);
	pthread_mutex_unlock(&c->ctl_lock);
	/* the pass in flight yields after its current operation; taking op_lock waits for that */
	pthread_mutex_lock(&c->op_lock);
	staging_release(c);
	pthread_mutex_unlock(&c->op_lock);
	return 0;
}

THPVM_EXPORT int thpvm_collapse_resume(struct thpvm_collapse *c)
{
	pthread_mutex_lock(&c->ctl_lock);
	if (c->pause_depth)
		__atomic_sub_fetch(&c->pause_depth, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&c->ctl_cond);
	pthread_mutex_unlock(&c->ctl_lock);
	return 0;
}

THPVM_EXPORT int thpvm_collapse_run_pass(struct thpvm_collapse *c, struct thpvm_collapse_pass *out)
{
	struct thpvm_collapse_pass pass;
	int ret;

	pthread_mutex_lock(&c->op_lock);
	pass_locked(c, &pass, &ret);
	pthread_mutex_unlock(&c->op_lock);
	if (out)
		*out = pass;
	return ret;
}

THPVM_EXPORT int thpvm_collapse_stats(struct thpvm_collapse *c, struct thpvm_collapse_stats *out)
{
	pthread_mutex_lock(&c->stats_lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->stats_lock);
	pthread_mutex_lock(&c->ctl_lock);
	out->running = c->thread_running;
	out->paused = c->pause_depth > 0;
	pthread_mutex_unlock(&c->ctl_lock);
	return 0;
}

THPVM_EXPORT int thpvm_collapse_inject(struct thpvm_collapse *c, enum thpvm_collapse_inject what, uint32_t count)
{
	if ((unsigned)what >= THPVM_NR_COLLAPSE_INJECTS) {
		thpvm_set_error("collapse: unknown injected failure %d", (int)what);
		return -EINVAL;
	}
	__atomic_store_n(&c->inject[what], count, __ATOMIC_RELAXED);
	return 0;
}
