/* SPDX-License-Identifier: MIT */
/*
 * Snapshots on disk (docs/snapshot-format.md): a running payload VM saved
 * into a directory and loaded into a fresh VM built from the snapshot's own
 * description, byte for byte, on 2 MiB pages, its vCPUs continuing where
 * they stopped; the user's path through `thpvm ctl snapshot` and `thpvm run
 * --restore`; bad snapshots refused before any guest memory exists.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include "helpers.h"
#include "kvm_test.h"
#include "collapse_vm_test.h"
#include "collapse/collapse_vm.h"
#include "machine/guest_ram.h"
#include "machine/machine.h"
#include "state/snapshot_dir.h"
#include "util/error.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define RAM_BYTES (64 * MIB)

static char dir[64], snap[128], sock[128], sock2[128];
static pid_t vmm_pids[2];

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/thpvm-snapshot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert(mkdtemp(dir), "mkdtemp %s: %m", dir);
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	snprintf(sock, sizeof(sock), "%s/vm.sock", dir);
	snprintf(sock2, sizeof(sock2), "%s/restored.sock", dir);
	setenv("THPVM_PAYLOAD_DIR", THPVM_BUILD_DIR "/guests", 1);
	vmm_pids[0] = vmm_pids[1] = 0;
}

static void teardown(void)
{
	char cmd[256];

	for (unsigned i = 0; i < 2; i++)
		if (vmm_pids[i] > 0 && !kill(vmm_pids[i], SIGKILL))
			waitpid(vmm_pids[i], NULL, 0);
	snprintf(cmd, sizeof(cmd), "fuser -k -9 %s/*.sock* >/dev/null 2>&1; rm -rf %s", dir, dir);
	if (system(cmd)) {
		/* fuser may find nothing */
	}
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 300);

/* The guest RAM of mem, copied (regions in order). */
static uint8_t *ram_copy(struct thpvm_memmap *mem)
{
	uint8_t *copy = malloc(thpvm_memmap_size_bytes(mem)), *p = copy;

	cr_assert_not_null(copy);
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(mem); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(mem, i), &info);
		memcpy(p, info.hva, info.size_bytes);
		p += info.size_bytes;
	}
	return copy;
}

/* The first byte where mem differs from copy, or -1. */
static long long ram_diff(struct thpvm_memmap *mem, const uint8_t *copy)
{
	uint64_t off = 0;

	for (unsigned i = 0; i < thpvm_memmap_nr_regions(mem); i++) {
		struct thpvm_region_info info;
		const uint8_t *h;

		thpvm_region_get_info(thpvm_memmap_region(mem, i), &info);
		h = info.hva;
		if (memcmp(h, copy + off, info.size_bytes))
			for (uint64_t b = 0; b < info.size_bytes; b++)
				if (h[b] != copy[off + b])
					return (long long)(info.gpa + b);
		off += info.size_bytes;
	}
	return -1;
}

/*
 * A memtest guest (args on cpus vCPUs over RAM_BYTES of THP) run for a
 * moment, then paused and saved into snap; the guest stays, paused, for the
 * caller, and *machine is the description saved with it.
 */
static void save_running_memtest(struct guest *g, unsigned cpus, const char *const *args, json_t **machine,
				 struct snapshot_report *rep)
{
	struct machine_config mc = { .payload = "memtest", .memory_bytes = RAM_BYTES, .nr_cpus = cpus,
				     .guest_page_size = 2 * MIB };

	guest_setup(g, guest_mem(RAM_BYTES, THPVM_BACKING_THP), "memtest", cpus, 2 * MIB, args);
	g->own_mem = true;
	for (unsigned i = 0; args[i]; i++)
		cr_assert_eq(payload_args_add(&mc.args, args[i]), 0);
	*machine = machine_config_to_json(&mc, THPVM_BACKING_THP);
	cr_assert_not_null(*machine, "%s", vmm_last_error());
	cr_assert_eq(vm_start(g->vm), 0);
	sleep_ms(test_ms(300));
	cr_assert_eq(vm_pause(g->vm), 0);
	cr_assert_eq(vm_snapshot_save(g->vm, snap, *machine, rep), 0, "%s", vmm_last_error());
}

/*
 * memtest checks, pass after pass, that every page still holds what its
 * previous pass wrote: stopped mid-pass on disk and loaded into another VM,
 * it can only go on without a bad page if every byte and every register
 * came back.
 */
Test(snapshot, a_running_vm_saved_and_loaded_into_a_fresh_one_is_the_same_byte_for_byte_and_runs_on)
{
	const char *const *args = A("mode=seq", "size=16M", "gen=10", "seed=3");
	struct machine_config mc;
	struct snapshot_report rep;
	struct snapshot_state s;
	struct thpvm_memmap *mem;
	struct thpvm_coverage cov;
	enum thpvm_backing backing;
	struct guest g;
	uint8_t *copy;
	json_t *machine;
	long long diff;

	REQUIRE_KVM();
	save_running_memtest(&g, 2, args, &machine, &rep);
	/* 16 MiB of memtest's pages and the payload's own are data; most of the 64 MiB was never touched */
	cr_assert_geq(rep.mem.nr[THPVM_IMAGE_DATA], 8, "%llu data extents", (unsigned long long)rep.mem.nr[THPVM_IMAGE_DATA]);
	cr_assert_geq(rep.mem.nr[THPVM_IMAGE_ABSENT], 8, "untouched extents are holes");
	cr_assert_eq(rep.mem.bytes, rep.mem.nr[THPVM_IMAGE_DATA] * THPVM_EXTENT_SIZE);
	cr_assert_gt(rep.state_bytes, 0);
	/* a second save into the same place is refused, the first left whole */
	cr_assert_eq(vm_snapshot_save(g.vm, snap, machine, NULL), -EEXIST);
	cr_assert(strstr(vmm_last_error(), "exists"), "%s", vmm_last_error());
	copy = ram_copy(g.mem);
	guest_teardown(&g);

	/* a fresh VM, built from the snapshot's own description */
	cr_assert_eq(vm_snapshot_open(snap, &s), 0, "%s", vmm_last_error());
	memset(&mc, 0, sizeof(mc));
	cr_assert_eq(machine_config_from_json(s.config, &mc, &backing), 0, "%s", vmm_last_error());
	cr_assert_eq(mc.memory_bytes, RAM_BYTES);
	cr_assert_eq(mc.nr_cpus, 2);
	cr_assert_eq(backing, THPVM_BACKING_THP);
	cr_assert_eq(mc.args.nr, 4);
	mem = guest_mem(mc.memory_bytes, backing);
	guest_setup(&g, mem, mc.payload, mc.nr_cpus, mc.guest_page_size, args);
	cr_assert_eq(vm_snapshot_load(g.vm, snap, &s, false, &rep), 0, "%s", vmm_last_error());
	diff = ram_diff(mem, copy);
	cr_assert_eq(diff, -1, "guest RAM differs from the saved VM's at gpa 0x%llx", diff);
	free(copy);
	/* on 2 MiB pages from the first instruction where the host gives THP */
	cr_assert_eq(thpvm_memmap_coverage(mem, THPVM_COVERAGE_REFRESH, &cov), 0);
	if (host_thp_allowed())
		cr_assert_eq(cov.split_bytes, 0, "%llu bytes of the restored RAM on 4 KiB pages",
			     (unsigned long long)cov.split_bytes);
	cr_assert_eq(vm_start(g.vm), 0);
	sleep_ms(test_ms(300));
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s\n%s", g.vm->exit.message, guest_output(&g));
	cr_assert_eq(guest_result(&g, "pages_bad"), 0);
	cr_assert_gt(guest_result(&g, "pages_checked"), 0);
	guest_teardown(&g);
	thpvm_memmap_destroy(mem);
	snapshot_state_free(&s);
	json_decref(machine);
}

/* Guest RAM mapped from the snapshot's memory files (--memory-mode shared), for a VM built over it. */
static struct thpvm_memmap *shared_mem(struct snapshot_state *s)
{
	struct guest_ram_config rc = { .size_bytes = RAM_BYTES };
	struct thpvm_memmap *mem;
	int fds[THPVM_MAX_REGIONS];

	cr_assert_eq(vm_snapshot_open(snap, s), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_snapshot_open_memory(snap, s, fds), 0, "%s", vmm_last_error());
	rc.file_fds = fds;
	cr_assert_eq(guest_ram_create(&rc, &mem), 0, "%s", vmm_last_error());
	for (unsigned i = 0; i < s->nr_regions; i++)
		close(fds[i]);
	return mem;
}

static struct thpvm_coverage smaps_of(struct thpvm_memmap *mem)
{
	struct thpvm_coverage cov;

	cr_assert_eq(thpvm_memmap_coverage(mem, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
	return cov;
}

/*
 * --memory-mode shared: two VMs restored from one snapshot with guest RAM
 * the memory files mapped MAP_PRIVATE. Nothing is copied before the first
 * instruction, both read the saved bytes from the one page cache, and a
 * guest's writes are its own copies, which the other never sees.
 */
Test(snapshot, two_vms_restored_shared_read_one_page_cache_and_copy_only_what_they_write)
{
	const char *const *args = A("mode=seq", "size=16M", "gen=10", "seed=3");
	struct snapshot_state s[2];
	struct thpvm_memmap *mem[2];
	struct thpvm_coverage cov;
	struct guest g[2];
	uint8_t *copy;
	json_t *machine;

	REQUIRE_KVM();
	save_running_memtest(&g[0], 1, args, &machine, NULL);
	copy = ram_copy(g[0].mem);
	guest_teardown(&g[0]);
	json_decref(machine);

	for (unsigned k = 0; k < 2; k++) {
		mem[k] = shared_mem(&s[k]);
		guest_setup(&g[k], mem[k], "memtest", 1, 2 * MIB, args);
		cr_assert_eq(vm_snapshot_load(g[k].vm, snap, &s[k], true, NULL), 0, "%s", vmm_last_error());
		cov = smaps_of(mem[k]);
		cr_assert_eq(cov.smaps_private_dirty_bytes, 0, "VM %u: %llu bytes copied before its first instruction", k,
			     (unsigned long long)cov.smaps_private_dirty_bytes);
	}
	for (unsigned k = 0; k < 2; k++)
		cr_assert_eq(ram_diff(mem[k], copy), -1, "VM %u's RAM is not the saved one", k);
	cov = smaps_of(mem[0]);
	cr_assert_geq(cov.smaps_shared_bytes, 16 * MIB, "the saved pages are mapped by both VMs from one page cache: %llu",
		      (unsigned long long)cov.smaps_shared_bytes);
	cr_log_info("restored shared: %llu bytes mapped from the page cache by both VMs, %llu of them PMD-mapped",
		    (unsigned long long)cov.smaps_shared_bytes, (unsigned long long)cov.smaps_file_pmd_bytes);

	/* VM 0 runs on: memtest checks every page it saved and writes the next generation */
	cr_assert_eq(vm_start(g[0].vm), 0);
	sleep_ms(test_ms(300));
	payload_request_stop(g[0].payload);
	cr_assert_eq(vm_wait(g[0].vm, test_ns(60), NULL), 0);
	cr_assert_eq(g[0].vm->exit.status, 0, "%s\n%s", g[0].vm->exit.message, guest_output(&g[0]));
	cr_assert_eq(guest_result(&g[0], "pages_bad"), 0);
	cov = smaps_of(mem[0]);
	cr_assert_gt(cov.smaps_private_dirty_bytes, 0);
	cr_assert_lt(cov.smaps_private_dirty_bytes, RAM_BYTES / 2, "VM 0 copied %llu bytes: more than it writes",
		     (unsigned long long)cov.smaps_private_dirty_bytes);
	cr_assert_eq(ram_diff(mem[1], copy), -1, "VM 0's writes reached VM 1");
	free(copy);
	for (unsigned k = 0; k < 2; k++) {
		guest_teardown(&g[k]);
		thpvm_memmap_destroy(mem[k]);
		snapshot_state_free(&s[k]);
	}
}

struct range {
	struct thpvm_memmap *mem;
	uint64_t gpa, size_bytes;
};

static bool range_all_huge(void *arg)
{
	struct range *rg = arg;
	unsigned huge, split;

	range_states(rg->mem, rg->gpa, rg->size_bytes, &huge, &split);
	return !split && huge == rg->size_bytes / THPVM_EXTENT_SIZE;
}

/*
 * A VM restored shared whose guest rewrites 16 MiB pass after pass: each
 * first write copies a 4 KiB page out of a PMD-mapped page-cache folio and
 * splits its extent; MADV_COLLAPSE refuses such a range (file pages mixed
 * with anonymous copies: EINVAL), and the collapse thread's copy-and-remap
 * engine puts the extents back on 2 MiB pages of their own while memtest
 * checks every page it wrote.
 */
Test(snapshot, a_vm_restored_shared_gets_its_written_extents_back_on_2m_pages_losing_no_write)
{
	const char *const *args = A("mode=seq", "size=16M", "gen=10", "seed=3");
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct snapshot_state s;
	struct collapse_vm *cv;
	struct range rg;
	struct guest g;
	json_t *machine;

	REQUIRE_KVM();
	REQUIRE_THP();
	save_running_memtest(&g, 1, args, &machine, NULL);
	guest_teardown(&g);
	json_decref(machine);

	rg.mem = shared_mem(&s);
	guest_setup(&g, rg.mem, "memtest", 1, 2 * MIB, args);
	cr_assert_eq(vm_snapshot_load(g.vm, snap, &s, true, NULL), 0, "%s", vmm_last_error());
	vm_test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO);
	cr_assert_eq(collapse_vm_setup(g.vm, &cfg, &cv), 0, "%s", vmm_last_error());
	rg.gpa = guest_free_gpa(&g) & ~(THPVM_EXTENT_SIZE - 1);
	rg.size_bytes = 16 * MIB;
	cr_assert_eq(vm_start(g.vm), 0);
	cr_assert(wait_until(range_all_huge, &rg, 60000), "memtest's 16 MiB never came back on 2 MiB pages");
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s\n%s", g.vm->exit.message, guest_output(&g));
	cr_assert_eq(guest_result(&g, "pages_bad"), 0, "a write was lost");
	settled_stats(collapse_vm_collapser(cv), &st);
	cr_assert_geq(st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], 8, "%llu extents by copy-and-remap; %s",
		      (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], st.kernel_note);
	cr_log_info("restored shared: %llu extents back on 2 MiB pages by copy-and-remap, MADV_COLLAPSE refused %llu",
		    (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP],
		    (unsigned long long)st.results[THPVM_COLLAPSE_MADV_EINVAL]);
	guest_teardown(&g);
	thpvm_memmap_destroy(rg.mem);
	snapshot_state_free(&s);
}

/* thpvm run (argv) in the background, its output in dir/NAME.out; returns once its payload waits for a fork. */
static pid_t start_waiting(const char *const *argv, const char *path, const char *name)
{
	char out[128];
	pid_t pid;
	int fd;

	snprintf(out, sizeof(out), "%s/%s.out", dir, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	pid = thpvm_spawn(argv, SPAWN_DEVNULL, fd, fd);
	close(fd);
	ctl_wait_fork_waiting(path, pid, 3000);
	return pid;
}

/* Forks one child from the VM behind path and returns its exit status once the VM has reaped it. */
static long long forked_child_status(const char *path)
{
	json_t *j = NULL, *kid;
	long long status;

	json_decref(thpvm_ctl_ok(path, "fork", NULL));
	for (unsigned i = 0; i < 6000; i++) {
		j = thpvm_ctl_ok(path, "stats", NULL);
		if (json_num(j, "fork.children_running") == 0)
			break;
		json_decref(j);
		j = NULL;
		sleep_ms(10);
	}
	cr_assert_not_null(j, "the child of %s never ended", path);
	kid = json_array_get(json_at(j, "fork.children"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(kid, "state")), "exited");
	status = json_integer_value(json_object_get(kid, "exit_status"));
	json_decref(j);
	return status;
}

/*
 * The user's path: a memtest that wrote its pattern and waits for a fork is
 * saved by `thpvm ctl SOCK snapshot`, the VMM quits, `thpvm run --restore`
 * brings it back in another process, still waiting; a child forked from
 * the restored VM checks that every page still holds the pattern written
 * before the save (exit status 0, or 3 for any bad page).
 */
Test(snapshot, ctl_snapshot_and_run_restore_carry_a_guest_into_another_process)
{
	char path_arg[160];
	struct thpvm_cmd *o;
	json_t *j;
	int st;

	REQUIRE_KVM();
	snprintf(path_arg, sizeof(path_arg), "path=%s", snap);
	vmm_pids[0] = start_waiting(A(THPVM, "run", "--payload", "memtest", "--arg", "mode=fork", "--arg", "size=8M",
				      "--memory", "64M", "--cpus", "2", "--timeout", "250", "--ctl-sock", sock, "--collapse",
				      "off"),
				    sock, "original");
	j = thpvm_ctl_ok(sock, "snapshot", path_arg, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "running", "the VM runs on after the save");
	cr_assert_gt(json_num(j, "extents.data"), 0);
	cr_assert_gt(json_num(j, "extents.absent"), 0);
	cr_assert_eq(json_num(j, "memory_bytes"), json_num(j, "extents.data") * (long long)THPVM_EXTENT_SIZE);
	json_decref(j);
	o = thpvm_ctl(sock, "snapshot", path_arg, NULL);
	cr_assert_neq(o->status, 0, "a second snapshot into the same directory is refused");
	cr_assert(strstr(o->out, "exists") || strstr(o->err, "exists"), "%s%s", o->out, o->err);
	json_decref(thpvm_ctl_ok(sock, "quit", NULL));
	cr_assert_eq(waitpid(vmm_pids[0], &st, 0), vmm_pids[0]);
	vmm_pids[0] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the original thpvm: status 0x%x", st);

	vmm_pids[1] = start_waiting(A(THPVM, "run", "--restore", snap, "--timeout", "250", "--ctl-sock", sock2,
				      "--collapse", "off"),
				    sock2, "restored");
	cr_assert_eq(forked_child_status(sock2), 0,
		     "the child of the restored VM found pages that lost the pattern (status 3) or failed");
	json_decref(thpvm_ctl_ok(sock2, "quit", NULL));
	cr_assert_eq(waitpid(vmm_pids[1], &st, 0), vmm_pids[1]);
	vmm_pids[1] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the restored thpvm: status 0x%x", st);
}

/*
 * `thpvm snapshot SOCK DIR` on a terminal shows the VMM's progress lines
 * (event lines before the reply, docs/ctl.md): one per memory file at its
 * end at least, the file named as it will be once in place; the reply is
 * still the one JSON result on stdout. Off a terminal (thpvm_ctl's pipes)
 * the client asks for no events and prints none, and the VMM's own stderr,
 * a file, gets no line either way.
 */
Test(snapshot, the_snapshot_client_on_a_terminal_shows_the_vmms_progress_lines)
{
	char want[256], snap2[160], got[4096] = "", out[4096] = "", vmm_err[8192] = "";
	int master, slave, st, fd;
	struct thpvm_cmd *o;
	pid_t pid;
	json_t *j;

	REQUIRE_KVM();
	vmm_pids[0] = start_waiting(A(THPVM, "run", "--payload", "memtest", "--arg", "mode=fork", "--arg", "size=8M",
				      "--memory", "64M", "--timeout", "250", "--ctl-sock", sock, "--collapse", "off"),
				    sock, "original");
	cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0, "openpty: %m");
	snprintf(want, sizeof(want), "%s/snapshot.out", dir);
	fd = open(want, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	pid = thpvm_spawn(A(THPVM, "snapshot", sock, snap), SPAWN_DEVNULL, fd, slave);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "thpvm snapshot: status 0x%x", st);
	fd_slurp(fd, out, sizeof(out));
	/* the slave still open here: what the client wrote is waiting on the master */
	cr_assert_eq(fcntl(master, F_SETFL, O_NONBLOCK), 0);
	cr_assert_geq(read(master, got, sizeof(got) - 1), 0, "no progress line on the terminal");
	snprintf(want, sizeof(want), "thpvm: snapshot %s/", snap);
	cr_assert(strstr(got, want) && strstr(got, ".mem: ") && strstr(got, "(100%)"), "terminal: %s", got);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "stdout is the reply alone: %s", out);
	cr_assert_gt(json_num(j, "extents.data"), 0);
	json_decref(j);
	close(slave);
	close(master);

	snprintf(snap2, sizeof(snap2), "%s2", snap);
	o = thpvm_cmd_run(A("snapshot", sock, snap2));
	cr_assert_eq(o->status, 0, "%s", o->err);
	cr_assert_null(strstr(o->err, "thpvm: snapshot"), "a line off a terminal: %s", o->err);
	json_decref(thpvm_ctl_ok(sock, "quit", NULL));
	cr_assert_eq(waitpid(vmm_pids[0], &st, 0), vmm_pids[0]);
	vmm_pids[0] = 0;
	snprintf(want, sizeof(want), "%s/original.out", dir);
	fd = open(want, O_RDONLY);
	cr_assert_geq(fd, 0);
	fd_slurp(fd, vmm_err, sizeof(vmm_err));
	cr_assert_null(strstr(vmm_err, "thpvm: snapshot"), "the VMM's stderr is a file: %s", vmm_err);
}

/* The original VM: a memtest that wrote its pattern and waits for a fork, at sock (vmm_pids[0]). */
static void start_original(void)
{
	vmm_pids[0] = start_waiting(A(THPVM, "run", "--payload", "memtest", "--arg", "mode=fork", "--arg", "size=8M",
				      "--memory", "64M", "--timeout", "250", "--ctl-sock", sock, "--collapse", "off"),
				    sock, "original");
}

/* Saves the original into snap and ends it. */
static void snapshot_original_and_quit(void)
{
	char path_arg[160];
	int st;

	snprintf(path_arg, sizeof(path_arg), "path=%s", snap);
	json_decref(thpvm_ctl_ok(sock, "snapshot", path_arg, NULL));
	json_decref(thpvm_ctl_ok(sock, "quit", NULL));
	cr_assert_eq(waitpid(vmm_pids[0], &st, 0), vmm_pids[0]);
	vmm_pids[0] = 0;
}

/*
 * --clones: three VMs from one snapshot, restored shared, each its own
 * process with its own socket and console file; a child forked from each
 * finds every page of the pattern written before the save; each quits on
 * its own and thpvm ends once all have, with status 0.
 */
Test(snapshot, clones_from_one_snapshot_each_run_their_own_guest)
{
	char path_arg[160], clone_sock[160], console[200], out[200], text[4096];
	struct thpvm_cmd *o;
	int st, fd;

	REQUIRE_KVM();
	snprintf(path_arg, sizeof(path_arg), "path=%s", snap);
	start_original();
	snapshot_original_and_quit();

	/* thpvm's own output into a file, as a script would have it: its buffered lines must not reach a clone */
	snprintf(out, sizeof(out), "%s/clones.out", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	vmm_pids[1] = thpvm_spawn(A(THPVM, "run", "--restore", snap, "--memory-mode", "shared", "--clones", "3",
				    "--timeout", "250", "--ctl-sock", sock2, "--collapse", "off"),
				  SPAWN_DEVNULL, fd, fd);
	close(fd);
	for (unsigned i = 1; i <= 3; i++) {
		snprintf(clone_sock, sizeof(clone_sock), "%s.%u", sock2, i);
		ctl_wait_fork_waiting(clone_sock, vmm_pids[1], 3000);
		cr_assert_eq(forked_child_status(clone_sock), 0, "clone %u's child found pages that lost the pattern", i);
		snprintf(console, sizeof(console), "%s.console", clone_sock);
		fd = open(console, O_RDONLY);
		cr_assert_geq(fd, 0, "clone %u has its console file %s", i, console);
		fd_slurp(fd, text, sizeof(text));
		cr_assert_null(strstr(text, "clone 1: pid"), "thpvm's own lines leaked into clone %u's console: %s", i, text);
	}
	for (unsigned i = 1; i <= 3; i++) {
		snprintf(clone_sock, sizeof(clone_sock), "%s.%u", sock2, i);
		json_decref(thpvm_ctl_ok(clone_sock, "quit", NULL));
	}
	cr_assert_eq(waitpid(vmm_pids[1], &st, 0), vmm_pids[1]);
	vmm_pids[1] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "thpvm with 3 clones: status 0x%x", st);
	fd = open(out, O_RDONLY);
	cr_assert_geq(fd, 0);
	fd_slurp(fd, text, sizeof(text));
	for (unsigned i = 1; i <= 3; i++) {
		snprintf(console, sizeof(console), "clone %u: pid ", i);
		cr_assert(strstr(text, console), "thpvm says when clone %u starts: %s", i, text);
	}
	cr_assert(strstr(text, "ended with status 0"), "%s", text);
	o = thpvm_cmd_run(A("run", "--restore", snap, "--clones", "2"));
	cr_assert_eq(o->status, 2);
	cr_assert(strstr(o->err, "--clones needs --restore and --ctl-sock"), "%s", o->err);
}

/*
 * A clone the `clone` command started: this very binary executed afresh
 * with the restore's arguments, the VM's child while it runs, holding none
 * of the VM's open files (kcmp), only its own KVM VM.
 */
static void assert_clone_exec_of(pid_t clone, pid_t vm, const char *clone_sock)
{
	char exe[PATH_MAX], vm_exe[PATH_MAX];
	pid_t ppid;
	int fd;

	proc_exe(clone, exe, sizeof(exe));
	cr_assert(strstr(exe, "thpvm"), "clone %d runs %s", (int)clone, exe);
	cr_assert_str_eq(exe, proc_exe(vm, vm_exe, sizeof(vm_exe)), "the clone runs the VM's binary");
	cr_assert(proc_has_args(clone, "--restore", snap), "clone %d: --restore %s", (int)clone, snap);
	cr_assert(proc_has_args(clone, "--memory-mode", "shared"), "the VM's memory mode");
	cr_assert(proc_has_args(clone, "--ctl-sock", clone_sock), "its own socket %s", clone_sock);
	cr_assert(proc_has_args(clone, "--collapse", "off") && proc_has_args(clone, "--timeout", "250"),
		  "the VM's --collapse and --timeout passed on");
	cr_assert_eq(proc_state(clone, &ppid) != 0 && ppid == vm, 1, "clone %d is the VM's child (reaped by it)",
		     (int)clone);
	cr_assert_eq(proc_fds_to(clone, "anon_inode:kvm-vm"), 1, "one KVM VM in the clone: its own");
	cr_assert_eq(proc_fds_to(clone, "/dev/kvm"), proc_fds_to(vm, "/dev/kvm"), "as many /dev/kvm as the VM: its own");
	fd = proc_shared_fd(clone, vm);
	if (fd == -2)
		cr_log_warn("kcmp cannot compare the clone's files with the VM's here");
	else
		cr_assert_eq(fd, -1, "the clone's descriptor %d is an open file of the VM", fd);
}

/* Returns once pid is gone (reaped by whoever is its parent), failing after 5 s or when it stays a zombie. */
static void assert_reaped(pid_t pid, const char *who)
{
	for (unsigned i = 0; i < 500 && proc_state(pid, NULL); i++)
		sleep_ms(10);
	cr_assert_eq(proc_state(pid, NULL), 0, "%s (pid %d) was not reaped: state %c", who, (int)pid,
		     proc_state(pid, NULL));
}

/*
 * `thpvm ctl SOCK clone n=2` on a VM restored shared: two more clones of the
 * snapshot, each this binary executed with --restore, its own process
 * serving its own socket when the reply comes, its console in
 * SOCKET.console, RAM mapped from the one page cache (its stats say how:
 * extents PMD-mapped from the page cache, split, absent), none of the VM's
 * descriptors; a child forked from each finds every saved page. A clone
 * that quits is reaped while the VM runs; killing the VM leaves the clones
 * running and answering. A VM not restored from a snapshot and a count out
 * of range are refused in one line.
 */
Test(snapshot, ctl_clone_starts_more_clones_of_a_restored_vm)
{
	char path_arg[160], clone_sock[160], prefix[160];
	json_t *j, *c, *file;
	struct thpvm_cmd *o;
	pid_t pids[3], ppid;
	int st;

	REQUIRE_KVM();
	snprintf(path_arg, sizeof(path_arg), "path=%s", snap);
	start_original();
	o = thpvm_ctl(sock, "clone", NULL);
	cr_assert_eq(o->status, 1, "clone on a VM not restored from a snapshot: %s%s", o->out, o->err);
	cr_assert(strstr(o->err, "unsupported: clone: this VM was not started from a snapshot"), "%s", o->err);
	snapshot_original_and_quit();

	vmm_pids[1] = start_waiting(A(THPVM, "run", "--restore", snap, "--memory-mode", "shared", "--timeout", "250",
				      "--ctl-sock", sock2, "--collapse", "off"),
				    sock2, "restored");
	o = thpvm_ctl(sock2, "clone", "n=0", NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "arg_value: argument 'n' of 'clone' is 0, must be in [1, 256]"), "%s", o->err);

	j = thpvm_ctl_ok(sock2, "clone", "n=2", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "memory_mode")), "shared");
	cr_assert_eq(json_array_size(json_object_get(j, "clones")), 2, "two clones");
	for (unsigned i = 0; i < 2; i++) {
		c = json_array_get(json_object_get(j, "clones"), i);
		snprintf(clone_sock, sizeof(clone_sock), "%s.clone.%u", sock2, i + 1);
		cr_assert_str_eq(json_string_value(json_object_get(c, "socket")), clone_sock);
		pids[i] = (pid_t)json_integer_value(json_object_get(c, "pid"));
		cr_assert_gt(pids[i], 0);
		cr_assert_neq(pids[i], vmm_pids[1], "a process of its own");
		cr_assert_eq(access(json_string_value(json_object_get(c, "console")), F_OK), 0, "its console file");
		assert_clone_exec_of(pids[i], vmm_pids[1], clone_sock);
	}
	json_decref(j);
	for (unsigned i = 1; i <= 2; i++) {
		json_t *stats;

		snprintf(clone_sock, sizeof(clone_sock), "%s.clone.%u", sock2, i);
		ctl_wait_fork_waiting(clone_sock, vmm_pids[1], 3000);
		stats = thpvm_ctl_ok(clone_sock, "stats", NULL);
		file = json_at(stats, "summary.file");
		cr_assert_not_null(file, "clone %u's RAM is mapped from the snapshot: its stats say how", i);
		cr_assert_eq(json_num(file, "pmd_mapped_extents") + json_num(file, "private_huge_extents") +
				     json_num(file, "split_extents") + json_num(file, "absent_extents"),
			     (long long)(RAM_BYTES / THPVM_EXTENT_SIZE), "every extent counted once");
		cr_assert_eq(json_num(file, "pmd_mapped_bytes"), json_num(file, "pmd_mapped_extents") * (long long)(2 * MIB));
		cr_log_info("clone %u: %lld extents PMD-mapped from the page cache, %lld split, %lld absent", i,
			    json_num(file, "pmd_mapped_extents"), json_num(file, "split_extents"),
			    json_num(file, "absent_extents"));
		json_decref(stats);
		cr_assert_eq(forked_child_status(clone_sock), 0, "clone %u's child found pages that lost the pattern", i);
	}
	/* indices count up: a third clone never takes a socket of the first two; one that quits is reaped by the VM */
	snprintf(prefix, sizeof(prefix), "prefix=%s/other", dir);
	j = thpvm_ctl_ok(sock2, "clone", prefix, NULL);
	snprintf(clone_sock, sizeof(clone_sock), "%s/other.3", dir);
	cr_assert_str_eq(json_string_value(json_at(json_array_get(json_object_get(j, "clones"), 0), "socket")),
			 clone_sock);
	pids[2] = (pid_t)json_integer_value(json_at(json_array_get(json_object_get(j, "clones"), 0), "pid"));
	json_decref(j);
	json_decref(thpvm_ctl_ok(clone_sock, "quit", NULL));
	assert_reaped(pids[2], "a clone that quit while the VM runs");

	/* the VM killed: its clones carry on, answer their sockets, and quit on their own */
	kill(vmm_pids[1], SIGKILL);
	cr_assert_eq(waitpid(vmm_pids[1], &st, 0), vmm_pids[1]);
	vmm_pids[1] = 0;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the restored thpvm: status 0x%x", st);
	for (unsigned i = 1; i <= 2; i++) {
		snprintf(clone_sock, sizeof(clone_sock), "%s.clone.%u", sock2, i);
		cr_assert(proc_state(pids[i - 1], &ppid) && ppid != vmm_pids[1], "clone %u outlives the VM", i);
		json_decref(thpvm_ctl_ok(clone_sock, "stats", NULL));
		json_decref(thpvm_ctl_ok(clone_sock, "quit", NULL));
		assert_reaped(pids[i - 1], "a clone that quit after its VM was killed");
	}
}

/* thpvm run --restore SNAPSHOT --memory-mode shared for a moment: what it said on stderr. */
static const char *restore_shared_says(const char *snapshot)
{
	struct thpvm_cmd *o = thpvm_cmd_run(A("run", "--restore", snapshot, "--memory-mode", "shared", "--timeout", "2",
					       "--collapse", "off"));

	return o->err;
}

#define NO_PMD_LINE "its page cache gives no 2 MiB mappings"

/*
 * A shared restore says once, on one line, when the snapshot's page cache
 * gives no 2 MiB mappings, with the reason and the remedy, and says nothing
 * where it does: on the snapshot's own file system (ext4 with large folios
 * on 6.18: no line; the line exactly where the page cache, measured here
 * too, PMD-maps nothing), and on a tmpfs without huge= (mounted in a mount
 * namespace of this test's own: nothing changes outside it): the line.
 */
Test(snapshot, a_shared_restore_says_once_when_the_page_cache_gives_no_2m_mappings)
{
	char mnt[128], cmd[512];
	struct snapshot_state s;
	struct thpvm_memmap *mem;
	struct thpvm_coverage cov;
	struct thpvm_region_info info;
	const char *err;
	volatile uint8_t sink;

	REQUIRE_KVM();
	start_original();
	snapshot_original_and_quit();

	/* the test's own measure: the first extent of the low region, read through a shared mapping */
	mem = shared_mem(&s);
	thpvm_region_get_info(thpvm_memmap_region(mem, 0), &info);
	sink = *(volatile uint8_t *)info.hva;
	(void)sink;
	cr_assert_eq(thpvm_memmap_coverage(mem, THPVM_COVERAGE_REFRESH, &cov), 0);
	thpvm_memmap_destroy(mem);
	snapshot_state_free(&s);
	err = restore_shared_says(snap);
	cr_log_info("on the snapshot's file system: %llu extent(s) PMD-mapped from the page cache; thpvm said: %s",
		    (unsigned long long)cov.nr_huge_file, err);
	if (cov.nr_huge_file)
		cr_assert_null(strstr(err, NO_PMD_LINE), "a page cache that gives 2 MiB mappings: %s", err);
	else
		cr_assert_not_null(strstr(err, NO_PMD_LINE), "a page cache that gives none, silently: %s", err);

	snprintf(mnt, sizeof(mnt), "%s/tmpfs", dir);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %m");
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%m");
	cr_assert_eq(mount("thpvm-test", mnt, "tmpfs", 0, "size=256m"), 0, "mount tmpfs: %m");
	snprintf(cmd, sizeof(cmd), "cp -r %s %s/snap", snap, mnt);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/snap", mnt);
	err = restore_shared_says(cmd);
	cr_assert_not_null(strstr(err, NO_PMD_LINE), "a tmpfs without huge=, silently: %s", err);
	cr_assert_not_null(strstr(err, "tmpfs without huge="), "the reason: %s", err);
	cr_assert_not_null(strstr(err, "huge=within_size or on XFS, or restore with --memory-mode eager"), "%s", err);
	cr_assert_null(strstr(strstr(err, NO_PMD_LINE) + 1, NO_PMD_LINE), "said once: %s", err);
	umount2(mnt, MNT_DETACH);
}

/* `thpvm run --restore` with what it must refuse: status 2 and one line naming the file and the problem. */
static void expect_refused(const char *const *args, const char *needle)
{
	struct thpvm_cmd *o = thpvm_cmd_run(args);

	cr_assert_eq(o->status, 2, "%s: status %d: %s", needle, o->status, o->err);
	cr_assert(strstr(o->err, needle), "the error does not say '%s': %s", needle, o->err);
	cr_assert_eq(strchr(o->err, '\n'), o->err + strlen(o->err) - 1, "more than one line: %s", o->err);
}

Test(snapshot, a_bad_snapshot_is_refused_naming_the_file)
{
	struct machine_config mc = { .payload = "selftest", .memory_bytes = RAM_BYTES, .nr_cpus = 1,
				     .guest_page_size = 2 * MIB };
	char state[160], ram[160], needle[400];
	struct guest g;
	json_t *machine;
	uint8_t byte;
	int fd;

	REQUIRE_KVM();
	expect_refused(A("run", "--restore", snap, "--memory", "128M"), "--memory and --restore exclude each other");
	snprintf(needle, sizeof(needle), "%s/state: ", snap);
	expect_refused(A("run", "--restore", snap), needle);

	guest_setup(&g, guest_mem(RAM_BYTES, THPVM_BACKING_THP), "selftest", 1, 2 * MIB, A("mode=spin"));
	g.own_mem = true;
	machine = machine_config_to_json(&mc, THPVM_BACKING_THP);
	cr_assert_not_null(machine, "%s", vmm_last_error());
	cr_assert_eq(vm_snapshot_save(g.vm, snap, machine, NULL), 0, "%s", vmm_last_error());
	guest_teardown(&g);
	json_decref(machine);

	/* a memory file one page short */
	snprintf(ram, sizeof(ram), "%s/ram-low.mem", snap);
	cr_assert_eq(truncate(ram, RAM_BYTES - 4096), 0, "%m");
	snprintf(needle, sizeof(needle), "%s: %llu bytes, the state file says region 'ram-low' has %llu", ram,
		 (unsigned long long)RAM_BYTES - 4096, (unsigned long long)RAM_BYTES);
	expect_refused(A("run", "--restore", snap), needle);
	cr_assert_eq(truncate(ram, RAM_BYTES), 0, "%m");

	/* one bit flipped in the state file's last byte */
	snprintf(state, sizeof(state), "%s/state", snap);
	fd = open(state, O_RDWR);
	cr_assert_geq(fd, 0, "%m");
	cr_assert_eq(pread(fd, &byte, 1, lseek(fd, 0, SEEK_END) - 1), 1);
	byte ^= 1;
	cr_assert_eq(pwrite(fd, &byte, 1, lseek(fd, 0, SEEK_END) - 1), 1);
	close(fd);
	snprintf(needle, sizeof(needle), "%s: ", state);
	expect_refused(A("run", "--restore", snap), needle);
	expect_refused(A("run", "--restore", snap), "checksum");
}

/* ---- faults during a save: nothing that looks like a snapshot is left, an earlier one stays whole ---- */

/* A payload VM whose memtest filled fill_bytes of its RAM, ended, ready to save; its description in *machine. */
static void filled_guest(struct guest *g, const char *fill, json_t **machine)
{
	struct machine_config mc = { .payload = "memtest", .memory_bytes = RAM_BYTES, .nr_cpus = 1,
				     .guest_page_size = 2 * MIB };
	char size_arg[32];

	snprintf(size_arg, sizeof(size_arg), "size=%s", fill);
	guest_setup(g, guest_mem(RAM_BYTES, THPVM_BACKING_THP), "memtest", 1, 2 * MIB, A("mode=fill", size_arg));
	g->own_mem = true;
	cr_assert_eq(guest_run(g, 60000)->status, 0, "%s", g->vm->exit.message);
	cr_assert_eq(payload_args_add(&mc.args, "mode=fill"), 0);
	cr_assert_eq(payload_args_add(&mc.args, size_arg), 0);
	*machine = machine_config_to_json(&mc, THPVM_BACKING_THP);
	cr_assert_not_null(*machine, "%s", vmm_last_error());
}

/* Whether anything named like a snapshot in progress (NAME.tmp-*) is left in parent. */
static bool tmp_left(const char *parent)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ls -d %s/*.tmp-* >/dev/null 2>&1", parent);
	return system(cmd) == 0;
}

struct full_disk {
	char mnt[160];
	char earlier[200], failed[200];
	char why[512];
};

/*
 * In a mount namespace of its own (nothing of the host changes), a 16 MiB
 * tmpfs: an earlier small snapshot fits, a 40 MiB one runs out of space in
 * the middle of its memory file.
 */
static int full_disk_child(void *arg, int reason)
{
	struct full_disk *fd = arg;
	struct snapshot_state s;
	struct guest g;
	json_t *machine;
	int ret;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", fd->mnt, "tmpfs", 0, "size=16m,mode=0700"))
		return child_fail(reason, 10, "a private 16 MiB tmpfs at %s: %m", fd->mnt);
	filled_guest(&g, "4M", &machine);
	if (vm_snapshot_save(g.vm, fd->earlier, machine, NULL))
		return child_fail(reason, 11, "the small snapshot: %s", vmm_last_error());
	guest_teardown(&g);
	json_decref(machine);
	filled_guest(&g, "40M", &machine);
	ret = vm_snapshot_save(g.vm, fd->failed, machine, NULL);
	snprintf(fd->why, sizeof(fd->why), "%s", vmm_last_error());
	guest_teardown(&g);
	json_decref(machine);
	if (ret != -EIO)
		return child_fail(reason, 12, "a save onto a full disk returned %d: %s", ret, fd->why);
	if (!strstr(fd->why, "ram-low.mem") || !strstr(fd->why, "No space left on device"))
		return child_fail(reason, 13, "the error does not name the file and ENOSPC: %s", fd->why);
	if (!access(fd->failed, F_OK) || tmp_left(fd->mnt))
		return child_fail(reason, 14, "the failed save left %s or a .tmp- directory behind", fd->failed);
	if (vm_snapshot_open(fd->earlier, &s))
		return child_fail(reason, 15, "the earlier snapshot no longer opens: %s", vmm_last_error());
	snapshot_state_free(&s);
	return 0;
}

Test(snapshot, a_full_disk_fails_the_save_naming_the_file_and_leaves_no_half_snapshot)
{
	struct full_disk fd;
	char reason[512];
	int st;

	REQUIRE_KVM();
	snprintf(fd.mnt, sizeof(fd.mnt), "%s/small", dir);
	cr_assert_eq(mkdir(fd.mnt, 0700), 0, "%m");
	snprintf(fd.earlier, sizeof(fd.earlier), "%s/earlier", fd.mnt);
	snprintf(fd.failed, sizeof(fd.failed), "%s/failed", fd.mnt);
	st = run_in_child(full_disk_child, &fd, reason, sizeof(reason));
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
}

/* A save killed in the middle: no DIR, and what it left under DIR.tmp-PID is no snapshot a restore takes. */
Test(snapshot, a_save_killed_midway_leaves_nothing_a_restore_takes)
{
	char tmp[200], needle[300];
	pid_t pid;
	int st;

	REQUIRE_KVM();
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* the saving VM is the child's own: a forked process cannot use its parent's KVM objects */
		struct guest g;
		json_t *machine;

		filled_guest(&g, "48M", &machine);
		_exit(vm_snapshot_save(g.vm, snap, machine, NULL) ? 1 : 0);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", snap, (int)pid);
	/* killed as soon as its directory exists, before 48 MiB can have gone out */
	while (access(tmp, F_OK) && waitpid(pid, &st, WNOHANG) == 0)
		usleep(50);
	cr_assert_eq(kill(pid, SIGKILL), 0, "the child ended before its save began");
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "the save ended (status 0x%x) before it was killed: make the guest bigger", st);
	cr_assert_neq(access(snap, F_OK), 0, "a killed save left %s", snap);
	snprintf(needle, sizeof(needle), "%s/state", snap);
	expect_refused(A("run", "--restore", snap), needle);
	snprintf(needle, sizeof(needle), "%s/state", tmp);
	expect_refused(A("run", "--restore", tmp), needle);
}
