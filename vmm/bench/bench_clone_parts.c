/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench clone, the parts (bench_clone.h). Clones are processes, as
 * `--clones` makes them: the bench forks workers, releases them together
 * through a pipe and reads each one's figures back through another, while
 * they are all alive. The host parts map a memory file the way a shared
 * restore does (libthpvm's file backing, MAP_PRIVATE, MADV_HUGEPAGE) and
 * touch it from the host, no vCPU; the restore part runs the VM path of
 * `thpvm run --restore DIR --memory-mode shared`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_clone.h"
#include "bench_snapshot.h"
#include "fork/fork.h"
#include "machine/guest_ram.h"
#include "machine/machine.h"
#include "machine/payload.h"
#include "state/snapshot_dir.h"
#include "util/clock.h"
#include "util/error.h"
#include "kvm/vm.h"

#define PAGE 4096ULL
#define EXTENT (2ULL << 20)
#define COLLAPSE_LIMIT_MS 120000
#define TMPFS_NAME "/thpvm-bench-clone-tmpfs-XXXXXX"

static volatile uint8_t sink;

/* ---- workers: forked clones, released together, their figures read back while all are alive ---- */

#define WORKER_RESULT_MAX 256
#define WORKER_TIMEOUT_MS (10 * 60 * 1000)  /* an 8 GiB clone's work, many times over */
struct worker_record {
	uint32_t index;
	int32_t status;                 /* 0 or -errno */
	char error[160];                /* vmm_last_error() of a failure */
	char result[WORKER_RESULT_MAX];
};

/* A worker's work in one phase: 0 or -errno, its figures in res (at most WORKER_RESULT_MAX bytes). */
typedef int (*worker_fn)(void *arg, unsigned index, unsigned phase, void *res);
/* In the bench, between phases, with every worker alive: 0 or -errno. */
typedef int (*between_fn)(void *arg, const pid_t *pids, unsigned n, unsigned phase);

static void worker_main(worker_fn fn, void *arg, unsigned index, unsigned phases, int go, int done, int results)
{
	struct worker_record rec;
	char b;

	for (unsigned ph = 0; ph < phases; ph++) {
		if (read(go, &b, 1) != 1)
			_exit(1);
		memset(&rec, 0, sizeof(rec));
		rec.index = index;
		vmm_clear_error();
		rec.status = fn(arg, index, ph, rec.result);
		if (rec.status)
			snprintf(rec.error, sizeof(rec.error), "%s", vmm_last_error());
		/* one record is less than PIPE_BUF: written whole, never interleaved with another worker's */
		if (write(results, &rec, sizeof(rec)) != sizeof(rec))
			_exit(1);
	}
	/* alive until the bench has measured: its end of the pipe closes */
	while (read(done, &b, 1) > 0)
		;
	_exit(0);
}

/*
 * n workers, each fn(arg, i, phase, res[i]) for every phase, all released at
 * once per phase; between(barg, pids, n, phase) after each phase's records
 * are in. res is n * res_size bytes. Returns 0 or the first failure.
 */
static int run_workers(unsigned n, unsigned phases, worker_fn fn, void *arg, void *res, size_t res_size,
		       between_fn between, void *barg)
{
	int go[2] = { -1, -1 }, done[2] = { -1, -1 }, results[2] = { -1, -1 }, ret = 0;
	pid_t pids[CLONE_MAX_CLONES];
	unsigned started = 0;

	if (n > CLONE_MAX_CLONES || res_size > WORKER_RESULT_MAX)
		return vmm_fail(-EINVAL, "at most %d clones", CLONE_MAX_CLONES);
	if (pipe2(go, O_CLOEXEC) || pipe2(done, O_CLOEXEC) || pipe2(results, O_CLOEXEC)) {
		ret = vmm_fail(-errno, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	for (; started < n; started++) {
		pid_t pid = fork();

		if (pid < 0) {
			ret = vmm_fail(-errno, "fork: %s", strerror(errno));
			break;
		}
		if (!pid) {
			close(go[1]);
			close(done[1]);
			close(results[0]);
			worker_main(fn, arg, started, phases, go[0], done[0], results[1]);
		}
		pids[started] = pid;
	}
	close(go[0]);
	close(done[0]);
	close(results[1]);
	go[0] = done[0] = results[1] = -1;
	for (unsigned ph = 0; ph < phases && !ret; ph++) {
		char release[CLONE_MAX_CLONES];

		memset(release, 'g', sizeof(release));
		if (write(go[1], release, started) != (ssize_t)started) {
			ret = vmm_fail(-EIO, "releasing the clones: %s", strerror(errno));
			break;
		}
		for (unsigned k = 0; k < started; k++) {
			struct pollfd in = { .fd = results[0], .events = POLLIN };
			struct worker_record rec;

			/* a clone that died holds no record back, and the others wait for done: bounded */
			if (poll(&in, 1, WORKER_TIMEOUT_MS) != 1 || read(results[0], &rec, sizeof(rec)) != sizeof(rec)) {
				ret = vmm_fail(-EIO, "a clone ended or hung before it reported (%u of %u reported)", k,
					       started);
				break;
			}
			if (rec.status && !ret)
				ret = vmm_fail(rec.status, "clone %u: %s", rec.index, rec.error);
			if (rec.index < n)
				memcpy((char *)res + rec.index * res_size, rec.result, res_size);
		}
		if (!ret && between)
			ret = between(barg, pids, started, ph);
	}
out:
	for (unsigned i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (done[i] >= 0)
			close(done[i]);
		if (results[i] >= 0)
			close(results[i]);
	}
	for (unsigned i = 0; i < started; i++) {
		/* a worker still waiting for a release it will not get reads EOF and ends; one that hung is ended */
		if (ret)
			kill(pids[i], SIGKILL);
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	return ret;
}

/* ---- a clone on the host ---- */

int clone_file_make(const char *path, uint64_t size)
{
	uint64_t *buf = malloc(EXTENT);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ret = 0;

	if (fd < 0 || !buf) {
		ret = vmm_fail(fd < 0 ? -errno : -ENOMEM, "%s: %s", path, strerror(fd < 0 ? errno : ENOMEM));
		goto out;
	}
	/* data in every page, none of it zero: a snapshot of a guest that used all its RAM */
	for (uint64_t off = 0; off < size && !ret; off += EXTENT) {
		for (uint64_t w = 0; w < EXTENT / 8; w++)
			buf[w] = (off + w * 8) * 0x9e3779b97f4a7c15ULL | 1;
		if (pwrite(fd, buf, EXTENT, (off_t)off) != (ssize_t)EXTENT)
			ret = vmm_fail(-errno ?: -EIO, "%s: %s", path, strerror(errno ?: EIO));
	}
	if (!ret && fsync(fd))
		ret = vmm_fail(-errno, "%s: fsync: %s", path, strerror(errno));
out:
	free(buf);
	if (ret && fd >= 0)
		close(fd);
	return ret ? ret : fd;
}

/* fd mapped as a clone's RAM: private, 2 MiB aligned, MADV_HUGEPAGE (libthpvm's file backing), nothing touched. */
static int clone_map(int fd, uint64_t size, struct thpvm_memmap **map, struct thpvm_region **r, uint8_t **hva)
{
	struct thpvm_region_config rc = { .name = "clone", .size_bytes = size, .backing = THPVM_BACKING_FILE,
					  .populate = THPVM_POPULATE_ON_DEMAND, .fd = fd };
	struct thpvm_region_info info;

	if (thpvm_memmap_create(map) || thpvm_memmap_add(*map, &rc, r)) {
		thpvm_memmap_destroy(*map);
		*map = NULL;
		return vmm_fail(-EIO, "%s", thpvm_last_error());
	}
	thpvm_region_get_info(*r, &info);
	*hva = info.hva;
	return 0;
}

static void touch_all(const uint8_t *hva, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += PAGE)
		sink += hva[off];
}

static double huge_pct(struct thpvm_region *r, struct thpvm_coverage *cov)
{
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, cov))
		return -1;
	return cov->nr_extents ? 100.0 * (double)cov->nr_huge / (double)cov->nr_extents : 0;
}

/* ---- density ---- */

struct density_arg {
	int fd;
	uint64_t size;
	double pct;
	uint64_t process_pss;           /* the bench's measure of the workers, between the phases */
	uint64_t page_cache;            /* the file's bytes in the page cache then */
};
struct density_res {
	uint64_t pages_written, copied_bytes;
};

/* Whether a clone writes page p: the same hash as forktest's density mode, spread over the RAM. */
static bool writes_page(uint64_t p, unsigned index, double pct)
{
	uint64_t h = (p + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(index + 1) * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 29;
	return (double)(h % 10000) < pct * 100;
}

/*
 * phase 0: map, read everything (the guest running), write pct % of the
 * pages; phase 1 (the bench measured the processes): this RAM's copies.
 * A write into a PMD-mapped page-cache extent unmaps the rest of the
 * extent (it faults back in from the page cache, 4 KiB at a time, when
 * read): a clone's Pss then leaves out page cache no one maps, which is
 * why the page cache is counted once from the file, not from the clones.
 */
static int density_worker(void *arg, unsigned index, unsigned phase, void *res)
{
	static struct thpvm_memmap *map;
	static struct thpvm_region *r;
	static uint8_t *hva;
	static uint64_t written;
	struct density_arg *a = arg;
	struct density_res *out = res;
	struct thpvm_coverage cov;
	int ret;

	if (phase == 1) {
		if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov) || !cov.smaps_valid)
			return vmm_fail(-EIO, "smaps: %s", thpvm_last_error());
		out->pages_written = written;
		out->copied_bytes = cov.smaps_private_dirty_bytes;
		return 0;
	}
	if ((ret = clone_map(a->fd, a->size, &map, &r, &hva)))
		return ret;
	touch_all(hva, a->size);
	for (uint64_t p = 0; p < a->size / PAGE; p++)
		if (writes_page(p, index, a->pct)) {
			hva[p * PAGE] ^= 0x5a;
			written++;
		}
	return 0;
}

/* Bytes of fd's first size bytes in the page cache (mincore of a read-only shared mapping). */
static uint64_t page_cache_bytes(int fd, uint64_t size)
{
	size_t n = size / PAGE;
	unsigned char *vec = malloc(n);
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	uint64_t in = 0;

	if (vec && p != MAP_FAILED && !mincore(p, size, vec))
		for (size_t i = 0; i < n; i++)
			in += vec[i] & 1;
	if (p != MAP_FAILED)
		munmap(p, size);
	free(vec);
	return in * PAGE;
}

static int density_between(void *arg, const pid_t *pids, unsigned n, unsigned phase)
{
	struct density_arg *a = arg;

	if (phase)
		return 0;
	/* every clone mapped, read and wrote its RAM: their processes now, and the page cache they share */
	for (unsigned i = 0; i < n; i++) {
		struct vm_fork_memory m;
		int ret = vm_fork_memory(NULL, pids[i], &m);

		if (ret)
			return ret;
		a->process_pss += m.process_pss_bytes;
	}
	a->page_cache = page_cache_bytes(a->fd, a->size);
	return 0;
}

int clone_density_once(int fd, uint64_t size, unsigned n, double pct, struct clone_density *out)
{
	struct density_arg a = { .fd = fd, .size = size, .pct = pct };
	struct density_res res[CLONE_MAX_CLONES] = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = run_workers(n, 2, density_worker, &a, res, sizeof(res[0]), density_between, &a)))
		return ret;
	out->clones = n;
	for (unsigned i = 0; i < n; i++) {
		out->pages_written += res[i].pages_written;
		out->copied_bytes += res[i].copied_bytes;
	}
	out->process_pss_bytes = a.process_pss;
	out->page_cache_bytes = a.page_cache;
	out->ideal_bytes = size + out->pages_written * PAGE;
	return 0;
}

/* ---- file systems ---- */

struct fs_arg {
	unsigned which;
	const char *dir;
	uint64_t size;
};

static const char *fs_type_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x01021994: return "tmpfs";
	case 0x9123683E: return "btrfs";
	case 0x6969: return "nfs";
	default: return "other";
	}
}

/* In the worker: a tmpfs of its own (its own mount namespace: nothing on the host changes) with options. */
static int private_tmpfs(char *mnt, size_t len, uint64_t size, const char *huge)
{
	char opts[128];

	snprintf(mnt, len, "/tmp" TMPFS_NAME);
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return vmm_fail(-errno, "a mount namespace of its own: %s", strerror(errno));
	if (!mkdtemp(mnt))
		return vmm_fail(-errno, "%s: %s", mnt, strerror(errno));
	snprintf(opts, sizeof(opts), "size=%llu%s%s", (unsigned long long)(size + (64ULL << 20)), huge ? ",huge=" : "",
		 huge ? huge : "");
	if (mount("tmpfs", mnt, "tmpfs", 0, opts)) {
		int err = errno;

		rmdir(mnt);
		return vmm_fail(-err, "mount tmpfs -o %s: %s", opts, strerror(err));
	}
	return 0;
}

static int fs_worker(void *arg, unsigned index, unsigned phase, void *res)
{
	struct fs_arg *a = arg;
	struct clone_fs *out = res;
	struct thpvm_coverage cov;
	struct thpvm_memmap *map = NULL;
	struct thpvm_region *r;
	char mnt[256] = "", path[300];
	struct statfs sf;
	uint8_t *hva;
	uint64_t t0;
	int fd, ret;

	(void)index;
	(void)phase;
	if (a->which == 0) {
		snprintf(path, sizeof(path), "%s/thpvm-bench-clone-fs.mem", a->dir);
		snprintf(out->name, sizeof(out->name), "%s (%s)", statfs(a->dir, &sf) ? "?" : fs_type_name(sf.f_type),
			 a->dir);
	} else {
		const char *huge = a->which == 2 ? "within_size" : NULL;

		snprintf(out->name, sizeof(out->name), "tmpfs%s%s", huge ? " huge=" : "", huge ? huge : "");
		if ((ret = private_tmpfs(mnt, sizeof(mnt), a->size, huge)))
			return ret;
		snprintf(path, sizeof(path), "%s/clone.mem", mnt);
	}
	fd = clone_file_make(path, a->size);
	unlink(path);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	t0 = util_mono_ns();
	if (!(ret = clone_map(fd, a->size, &map, &r, &hva))) {
		touch_all(hva, a->size);
		out->map_ms = (double)(util_mono_ns() - t0) / 1e6;
		out->huge_pct = huge_pct(r, &cov);
	}
	thpvm_memmap_destroy(map);
	close(fd);
out:
	if (mnt[0]) {
		umount(mnt);
		rmdir(mnt);
	}
	return ret;
}

int clone_fs_once(unsigned which, const char *dir, uint64_t size, struct clone_fs *out)
{
	struct fs_arg a = { .which = which, .dir = dir, .size = size };

	memset(out, 0, sizeof(*out));
	return run_workers(1, 1, fs_worker, &a, out, sizeof(*out), NULL, NULL);
}

/* ---- collapse ---- */

/* No vCPU writes a host clone's RAM while it is copied: nothing to stop (a VM pauses its vCPUs). */
static int quiesce_nothing(void *arg, bool stop)
{
	(void)arg;
	(void)stop;
	return 0;
}

int clone_collapse_once(int fd, uint64_t size, struct clone_collapse *out)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_coverage cov;
	struct thpvm_memmap *map;
	struct thpvm_collapse *c = NULL;
	struct thpvm_region *r;
	uint8_t *hva;
	uint64_t t0, nr_pages = size / PAGE;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = clone_map(fd, size, &map, &r, &hva)))
		return ret;
	touch_all(hva, size);
	/* a guest that wrote a page of every extent: each extent holds a 4 KiB copy beside the page cache */
	for (uint64_t e = 0; e < size / EXTENT; e++)
		hva[e * EXTENT + PAGE] ^= 0x5a;
	out->huge_pct_before = huge_pct(r, &cov);
	thpvm_collapse_config_default(&cfg);
	thpvm_collapse_config_parse(&cfg, "tlb");
	cfg.quiesce = quiesce_nothing;
	if (thpvm_collapse_create(map, &cfg, &c) || thpvm_collapse_start(c)) {
		ret = vmm_fail(-EIO, "collapse: %s", thpvm_last_error());
		goto out;
	}
	t0 = util_mono_ns();
	out->ms = -1;
	while (util_mono_ns() - t0 < COLLAPSE_LIMIT_MS * 1000000ULL) {
		if ((out->huge_pct_after = huge_pct(r, &cov)) >= 99.0) {
			out->ms = (double)(util_mono_ns() - t0) / 1e6;
			break;
		}
		bench_sleep_ms(5);
	}
	thpvm_collapse_stop(c);
	/* every write still there, every other page still the file's */
	for (uint64_t p = 0; p < nr_pages; p++) {
		uint8_t v;

		if (pread(fd, &v, 1, (off_t)(p * PAGE)) != 1)
			v = 0;
		if (p % (EXTENT / PAGE) == 1)
			v ^= 0x5a;
		out->lost_writes += hva[p * PAGE] != v;
	}
out:
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
	return ret;
}

/* ---- restore (KVM) ---- */

int clone_snapshot_make(const char *dir, uint64_t size)
{
	struct snap_vm sv;
	int ret = snap_vm_setup(&sv, size, dir);

	snap_vm_free(&sv);
	return ret;
}

int clone_restore_once(const char *dir, struct clone_restore *out)
{
	struct snapshot_state s;
	struct machine_config mc = { 0 };
	struct guest_ram_config rc = { .populate = THPVM_POPULATE_ON_DEMAND };
	struct payload_image img = { 0 };
	struct payload_config pc = { .image = &img, .quiet_results = true };
	struct thpvm_memmap *mem = NULL;
	struct thpvm_coverage cov;
	struct vm *vm = NULL;
	struct payload *p;
	int fds[THPVM_MAX_REGIONS], nr_fds = 0, ret;
	FILE *null = fopen("/dev/null", "w");
	uint64_t t0 = util_mono_ns();

	memset(out, 0, sizeof(*out));
	pc.out = null;
	/* `thpvm run --restore DIR --memory-mode shared`'s steps, in its order */
	if ((ret = vm_snapshot_open(dir, &s)) || (ret = machine_config_from_json(s.config, &mc, &rc.backing)))
		goto out;
	if ((ret = vm_snapshot_open_memory(dir, &s, fds)))
		goto out;
	nr_fds = (int)s.nr_regions;
	rc.size_bytes = mc.memory_bytes;
	rc.file_fds = fds;
	pc.args = &mc.args;
	pc.guest_page_size = mc.guest_page_size;
	if ((ret = guest_ram_create(&rc, &mem)) || (ret = payload_image_load(mc.payload, &img)) ||
	    (ret = payload_vm_create(mem, mc.nr_cpus, &pc, &vm, &p)) || (ret = vm_snapshot_load(vm, dir, &s, true, NULL)))
		goto out;
	out->ms = (double)(util_mono_ns() - t0) / 1e6;
	if (thpvm_memmap_coverage(mem, THPVM_COVERAGE_REFRESH, &cov))
		ret = vmm_fail(-EIO, "%s", thpvm_last_error());
	out->mapped_bytes = cov.present_bytes;
out:
	for (int i = 0; i < nr_fds; i++)
		close(fds[i]);
	vm_destroy(vm);
	thpvm_memmap_destroy(mem);
	payload_image_free(&img);
	snapshot_state_free(&s);
	if (null)
		fclose(null);
	return ret;
}

static int restore_worker(void *arg, unsigned index, unsigned phase, void *res)
{
	struct clone_restore r;
	int ret;

	(void)index;
	(void)phase;
	if (!(ret = clone_restore_once(arg, &r)))
		memcpy(res, &r.ms, sizeof(r.ms));
	return ret;
}

int clone_restore_concurrent(const char *dir, unsigned n, double *ms)
{
	return run_workers(n, 1, restore_worker, (void *)dir, ms, sizeof(*ms), NULL, NULL);
}
