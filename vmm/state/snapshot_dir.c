/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* renameat2 */
/* A whole VM saved to and loaded from a snapshot directory (snapshot_dir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snapshot_dir.h"
#include "kvm/vm.h"
#include "state/tsc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/util.h"

/* dir/name into out (PATH_MAX bytes); the callers checked dir's length, so this never cuts. */
static char *join(char *out, const char *dir, const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		out[0] = '\0';
	return out;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The directory holding path (for its fsync after a rename into it). */
static void parent_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

/* Removes what a failed save wrote into tmp (the state, memory files, the devices' files), and tmp. */
static void remove_tmp(const char *tmp, const struct snapshot_state *s)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	(void)s;
	/* tmp is this save's own, made empty by it: everything in it is the save's */
	if ((d = opendir(tmp))) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlink(join(path, tmp, e->d_name));
		closedir(d);
	}
	rmdir(tmp);
}

/* Each VM hook's files beside the memory (disks), named in the machine's description. */
static int save_device_files(struct vm *vm, const char *tmp, json_t *machine)
{
	int ret;

	for (unsigned i = 0; i < vm->nr_hooks; i++)
		if (vm->hooks[i].snapshot_save && (ret = vm->hooks[i].snapshot_save(vm->hooks[i].arg, tmp, machine)))
			return ret;
	return 0;
}

static void add_stats(struct thpvm_image_stats *sum, const struct thpvm_image_stats *st, bool first)
{
	sum->nr_extents += st->nr_extents;
	for (unsigned k = 0; k < THPVM_NR_IMAGE_EXTENTS; k++)
		sum->nr[k] += st->nr[k];
	sum->bytes += st->bytes;
	sum->direct = first ? st->direct : sum->direct && st->direct;
	sum->queue_depth = st->queue_depth;
	if (!sum->uring_error)
		sum->uring_error = st->uring_error;
}

/*
 * A memory file went through pread/pwrite because io_uring was refused
 * (a container's seccomp policy, kernel.io_uring_disabled): slower, so
 * said, once per process, on stderr.
 */
static void warn_no_uring(const struct thpvm_image_stats *st)
{
	static int warned;

	if (st->uring_error && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		cli_error("warning: io_uring is not available (io_uring_setup: %s): snapshot memory files are "
			  "read and written with pread/pwrite, one request at a time",
			  strerror(st->uring_error));
}

/* Every region's memory file, its map into s; progress as prog says. */
static int save_memory(struct vm *vm, const char *dir, const char *tmp, struct snapshot_state *s,
		       const struct snapshot_progress *prog, struct snapshot_report *rep)
{
	char path[PATH_MAX];
	int ret;

	for (unsigned i = 0; i < thpvm_memmap_nr_regions(vm->mem); i++) {
		struct thpvm_region *r = thpvm_memmap_region(vm->mem, i);
		struct snapshot_region *sr = &s->regions[i];
		struct thpvm_region_info info;
		struct thpvm_image_stats st;
		struct progress_lines pl;

		thpvm_region_get_info(r, &info);
		snprintf(sr->name, sizeof(sr->name), "%s", info.name);
		snprintf(sr->file, sizeof(sr->file), "%s.mem", info.name);
		sr->gpa = info.gpa;
		sr->size_bytes = info.size_bytes;
		sr->nr_extents = info.nr_extents;
		sr->map = malloc(info.nr_extents);
		s->nr_regions = i + 1;
		if (!sr->map)
			return vmm_fail(-ENOMEM, "out of memory for the extent map of %s", info.name);
		/* named as it will be once renamed into place, not as DIR.tmp-PID */
		progress_lines_init(&pl, prog->fd, "snapshot %s/%s", dir, sr->file);
		pl.event = prog->event;
		pl.event_arg = prog->arg;
		if ((ret = thpvm_region_image_save(r, join(path, tmp, sr->file), sr->map, progress_lines_report, &pl,
						   &st)))
			return vmm_fail(ret, "%s", thpvm_last_error());
		warn_no_uring(&st);
		add_stats(&rep->mem, &st, i == 0);
	}
	return 0;
}

int vm_snapshot_save(struct vm *vm, const char *dir, const json_t *machine, struct snapshot_report *rep)
{
	static const struct snapshot_progress none = { .fd = -1 };

	return vm_snapshot_save_progress(vm, dir, machine, &none, rep);
}

int vm_snapshot_save_progress(struct vm *vm, const char *dir, const json_t *machine,
			      const struct snapshot_progress *progress, struct snapshot_report *rep)
{
	struct snapshot_state s = { 0 };
	struct snapshot_report rp = { 0 };
	char tmp[PATH_MAX], path[PATH_MAX], parent[PATH_MAX];
	uint64_t t0 = util_mono_ns(), t;
	struct stat sb;
	int ret;

	if (!dir || !*dir || strlen(dir) > PATH_MAX - 64)
		return vmm_fail(-EINVAL, "snapshot directory '%s': empty or too long", dir ? dir : "");
	if (!lstat(dir, &sb))
		return vmm_fail(-EEXIST, "%s: exists (a snapshot is never written over another)", dir);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dir, (int)getpid()) >= (int)sizeof(tmp))
		return vmm_fail(-ENAMETOOLONG, "%s: path too long", dir);
	if (mkdir(tmp, 0700))
		return vmm_fail(-errno, "%s: %s", tmp, strerror(errno));
	s.config = json_deep_copy(machine);
	t = util_mono_ns();
	if ((ret = vm_snapshot_capture(vm, &s.vm)))
		goto fail;
	rp.capture_ns = util_mono_ns() - t;
	t = util_mono_ns();
	if ((ret = save_memory(vm, dir, tmp, &s, progress, &rp)))
		goto fail;
	rp.memory_ns = util_mono_ns() - t;
	if ((ret = save_device_files(vm, tmp, s.config)))
		goto fail;
	if ((ret = snapshot_state_write(join(path, tmp, SNAPSHOT_STATE_NAME), &s)))
		goto fail;
	if (!stat(path, &sb))
		rp.state_bytes = (uint64_t)sb.st_size;
	/* the files are fsynced; the directory's entries, then the rename, then the parent's entry */
	if ((ret = fsync_path(tmp))) {
		vmm_fail(ret, "%s: fsync: %s", tmp, strerror(-ret));
		goto fail;
	}
	/* never over a DIR made since the check above, even an empty one, which rename() would replace */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE)) {
		ret = vmm_fail(-errno, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	parent_of(dir, parent, sizeof(parent));
	if ((ret = fsync_path(parent)))
		vmm_fail(ret, "%s: fsync: %s", parent, strerror(-ret));
	snapshot_state_free(&s);
	rp.total_ns = util_mono_ns() - t0;
	if (rep)
		*rep = rp;
	return ret;
fail:
	remove_tmp(tmp, &s);
	snapshot_state_free(&s);
	return ret;
}

int vm_snapshot_open(const char *dir, struct snapshot_state *s)
{
	char path[PATH_MAX];
	struct stat sb;
	int ret;

	memset(s, 0, sizeof(*s));
	if (strlen(dir) > PATH_MAX - 128)
		return vmm_fail(-ENAMETOOLONG, "%s: snapshot path too long", dir);
	if ((ret = snapshot_state_read(join(path, dir, SNAPSHOT_STATE_NAME), s)))
		return ret;
	/* a memory file that cannot hold its region is found now, before any guest memory exists */
	for (unsigned i = 0; i < s->nr_regions && !ret; i++) {
		if (stat(join(path, dir, s->regions[i].file), &sb))
			ret = vmm_fail(-errno, "%s: %s", path, strerror(errno));
		else if (!S_ISREG(sb.st_mode))
			ret = vmm_fail(-EINVAL, "%s: not a regular file", path);
		else if ((uint64_t)sb.st_size != s->regions[i].size_bytes)
			ret = vmm_fail(-EINVAL, "%s: %llu bytes, the state file says region '%s' has %llu", path,
				       (unsigned long long)sb.st_size, s->regions[i].name,
				       (unsigned long long)s->regions[i].size_bytes);
	}
	if (ret)
		snapshot_state_free(s);
	return ret;
}

int vm_snapshot_check_layout(const char *dir, const struct snapshot_state *s, const struct thpvm_region_info *ram,
			     unsigned nr_regions, unsigned nr_vcpus)
{
	if (nr_regions != s->nr_regions)
		return vmm_fail(-EINVAL, "%s: %u RAM regions in the snapshot, %u in this VM", dir, s->nr_regions,
				nr_regions);
	for (unsigned i = 0; i < nr_regions; i++) {
		const struct snapshot_region *sr = &s->regions[i];

		if (strcmp(ram[i].name, sr->name) || ram[i].gpa != sr->gpa || ram[i].size_bytes != sr->size_bytes)
			return vmm_fail(-EINVAL,
					"%s: region %u is '%s' at 0x%llx, %llu bytes in the snapshot; '%s' at 0x%llx, "
					"%llu bytes in this VM",
					dir, i, sr->name, (unsigned long long)sr->gpa, (unsigned long long)sr->size_bytes,
					ram[i].name, (unsigned long long)ram[i].gpa,
					(unsigned long long)ram[i].size_bytes);
	}
	if (nr_vcpus != s->vm.nr_vcpus)
		return vmm_fail(-EINVAL, "%s: %u vCPUs in the snapshot, %u in this VM", dir, s->vm.nr_vcpus, nr_vcpus);
	return 0;
}

/* The RAM regions the machine built must be the snapshot's, one for one. */
static int check_built_layout(struct vm *vm, const char *dir, const struct snapshot_state *s)
{
	struct thpvm_region_info ram[THPVM_MAX_REGIONS]; /* a memory map holds no more */
	unsigned n = thpvm_memmap_nr_regions(vm->mem);

	for (unsigned i = 0; i < n; i++)
		thpvm_region_get_info(thpvm_memmap_region(vm->mem, i), &ram[i]);
	return vm_snapshot_check_layout(dir, s, ram, n, vm->nr_vcpus);
}

int vm_snapshot_open_memory(const char *dir, const struct snapshot_state *s, int *fds)
{
	char path[PATH_MAX];
	int ret;

	for (unsigned i = 0; i < s->nr_regions; i++) {
		fds[i] = open(join(path, dir, s->regions[i].file), O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			ret = vmm_fail(-errno, "%s: %s", path, strerror(errno));
			while (i-- > 0)
				close(fds[i]);
			return ret;
		}
	}
	return 0;
}

/*
 * Guest RAM mapped from the memory files: the machine built itself into it
 * (its image, its page tables), and those writes are private copies now;
 * dropping them lets every page fault in from the file, as saved.
 */
static int drop_machine_writes(struct vm *vm, const char *dir)
{
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(vm->mem); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(vm->mem, i), &info);
		if (info.backing != THPVM_BACKING_FILE)
			return vmm_fail(-EINVAL, "%s: region '%s' is not mapped from its memory file", dir, info.name);
		if (madvise(info.hva, info.size_bytes, MADV_DONTNEED))
			return vmm_fail(-errno, "%s: region '%s': madvise: %s", dir, info.name, strerror(errno));
	}
	return 0;
}

int vm_snapshot_load(struct vm *vm, const char *dir, struct snapshot_state *s, bool shared,
		     struct snapshot_report *rep)
{
	struct snapshot_report rp = { 0 };
	uint64_t t0 = util_mono_ns(), t, now_tsc;
	char path[PATH_MAX];
	int ret;

	if ((ret = check_built_layout(vm, dir, s)))
		return ret;
	if (shared && (ret = drop_machine_writes(vm, dir)))
		return ret;
	if (shared)
		snapshot_page_cache_check(dir, s);
	for (unsigned i = 0; i < s->nr_regions && !shared; i++) {
		struct thpvm_image_stats st;

		if ((ret = thpvm_region_image_load(thpvm_memmap_region(vm->mem, i), join(path, dir, s->regions[i].file),
						   s->regions[i].map, NULL, NULL, &st)))
			return vmm_fail(ret, "%s", thpvm_last_error());
		warn_no_uring(&st);
		add_stats(&rp.mem, &st, i == 0);
	}
	rp.memory_ns = util_mono_ns() - t0;
	/*
	 * The guest's time stood still on disk: its TSC resumes at the value it
	 * had (the offset moves by how far the host's TSC went meanwhile, which
	 * across a reboot may be backwards), and kvmclock is given no time since
	 * the capture (vm_snapshot_restore() adds now - mono_ns).
	 */
	now_tsc = host_rdtsc();
	for (unsigned i = 0; i < s->vm.nr_vcpus; i++)
		s->vm.tsc_offsets[i] += (int64_t)(s->vm.host_tsc - now_tsc);
	s->vm.host_tsc = now_tsc;
	s->vm.mono_ns = util_mono_ns();
	t = util_mono_ns();
	if ((ret = vm_snapshot_restore(vm, &s->vm))) {
		vmm_error_prefix("%s: restoring the VM's state", dir);
		return ret;
	}
	rp.capture_ns = util_mono_ns() - t;
	rp.total_ns = util_mono_ns() - t0;
	if (rep)
		*rep = rp;
	return 0;
}
