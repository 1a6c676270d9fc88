/* SPDX-License-Identifier: MIT */
/*
 * `thpvm run --kernel` as a user calls it: every malformed input refused
 * with one line; small synthetic PVH kernels (a few instructions at the PVH
 * entry, emulated ring 0 on kvm-pvm) drive the Linux machine end to end
 * through the console, the debug-exit port, the i8042 reset, a triple fault,
 * a hang and several vCPUs; a real Debian kernel on kvm-pvm is stopped by
 * --timeout with a clear message. Skips without /dev/kvm.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <jansson.h>
#include "helpers.h"
#include "kvm_test.h"
#include "kvm/kvm_host.h"
#include "linux_helpers.h"


/* thpvm with the NULL-terminated arguments and in (in_len bytes, or NULL for /dev/null) on stdin. */
#define thpvm_in(in, in_len, ...) thpvm_cmd_runl_in(in, in_len, __VA_ARGS__)
#define thpvm(...) thpvm_cmd_runl(__VA_ARGS__)

/* Lines of stderr that are not the kvm-pvm warning (said before a guest runs on such a host). */
static unsigned error_lines(const char *err)
{
	unsigned n = 0;

	for (const char *l = err; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		if (strncmp(l, "thpvm: warning: ", 16))
			n++;
	return n;
}

/* A refusal: status 2, exactly one line "thpvm: ..." holding msg, no guest ran (so no warning either). */
static void expect_refused(const struct thpvm_cmd *c, const char *msg)
{
	cr_assert_eq(c->status, 2, "status %d, want 2; stderr: %s", c->status, c->err);
	cr_assert(!strncmp(c->err, "thpvm: ", 7), "stderr starts with 'thpvm: ': %s", c->err);
	cr_assert(strstr(c->err, msg), "stderr lacks '%s': %s", msg, c->err);
	cr_assert(strchr(c->err, '\n') == c->err + strlen(c->err) - 1, "one line: %s", c->err);
	cr_assert_str_empty(c->out, "no guest output: %s", c->out);
}

/* thpvm makes files of its own in the test directory (console files, stats, sockets): the fixture removes it all */
TestSuite(linux_run, .init = linux_run_fixture_init, .fini = linux_run_fixture_fini, .timeout = 120);

/* "hi\n" on COM1, then 42 to the debug-exit port */
static const uint8_t hello_code[] = {
	0x66, 0xba, 0xf8, 0x03,             /* mov $0x3f8, %dx */
	0xb0, 'h', 0xee, 0xb0, 'i', 0xee,   /* out 'h', 'i' */
	0xb0, '\n', 0xee,                   /* out '\n' */
	0x66, 0xba, 0x01, 0x05,             /* mov $0x501, %dx */
	0xb0, 42, 0xee,                     /* out 42 */
	0xf4, 0xeb, 0xfd,                   /* 1: hlt; jmp 1b */
};
/* waits for a byte on COM1 (LSR.DR), echoes it, exits with it */
static const uint8_t echo_code[] = {
	0x66, 0xba, 0xfd, 0x03,             /* mov $0x3fd, %dx (LSR) */
	0xec, 0xa8, 0x01, 0x74, 0xfb,       /* 1: in %dx, %al; test $1, %al; jz 1b */
	0x66, 0xba, 0xf8, 0x03,             /* mov $0x3f8, %dx */
	0xec, 0xee,                         /* in (RX); out (TX): echo */
	0x66, 0xba, 0x01, 0x05, 0xee,       /* out %al, $0x501 */
	0xf4, 0xeb, 0xfd,
};
static const uint8_t ud2_code[] = { 0x0f, 0x0b };       /* #UD, no IDT: triple fault */
static const uint8_t loop_code[] = { 0xeb, 0xfe };      /* jmp . */
static const uint8_t reset_code[] = { 0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd }; /* i8042 command 0xfe */
static const uint8_t exit300_code[] = {
	0x66, 0xba, 0x01, 0x05,             /* mov $0x501, %dx */
	0x66, 0xb8, 0x2c, 0x01,             /* mov $300, %ax */
	0x66, 0xef,                         /* out %ax, %dx: a 2-byte write */
	0xf4, 0xeb, 0xfd,
};
#define KERNEL(name) synth_pvh_kernel(#name, name##_code, sizeof(name##_code))

/* ---- refusals ---- */

Test(linux_run, kernel_and_payload_exclude_each_other)
{
	expect_refused(thpvm("run", "--kernel", KERNEL(hello), "--payload", "memtest", NULL),
		       "--payload and --kernel exclude each other");
	expect_refused(thpvm("run", "--memory", "64M", NULL), "or --kernel PATH for a Linux guest");
}

Test(linux_run, linux_options_need_a_kernel)
{
	expect_refused(thpvm("run", "--payload", "memtest", "--initrd", "x", NULL), "--initrd needs --kernel");
	expect_refused(thpvm("run", "--payload", "memtest", "--cmdline", "quiet", NULL), "--cmdline needs --kernel");
	expect_refused(thpvm("run", "--payload", "memtest", "--console", "stdio", NULL), "--console needs --kernel");
	expect_refused(thpvm("run", "--payload", "memtest", "--rng", NULL), "--rng needs --kernel");
	expect_refused(thpvm("run", "--payload", "memtest", "--disk", "d.img", NULL), "--disk needs --kernel");
}

Test(linux_run, payload_options_are_refused_with_a_kernel)
{
	const char *k = KERNEL(hello);

	expect_refused(thpvm("run", "--kernel", k, "--arg", "size=1M", NULL), "--arg is for payload guests");
	expect_refused(thpvm("run", "--kernel", k, "--guest-page", "4k", NULL), "--guest-page is for payload guests");
}

Test(linux_run, bad_console_specs_are_refused)
{
	const char *k = KERNEL(hello);

	expect_refused(thpvm("run", "--kernel", k, "--console", "tty", NULL), "--console 'tty': expected stdio or file:PATH");
	expect_refused(thpvm("run", "--kernel", k, "--console", "file:", NULL), "--console 'file:'");
	expect_refused(thpvm("run", "--kernel", k, "--console", "", NULL), "expected stdio or file:PATH");
	expect_refused(thpvm("run", "--kernel", k, "--console", "file:/nonexistent-dir/console.log", NULL),
		       "console file '/nonexistent-dir/console.log': No such file or directory");
}

Test(linux_run, bad_cpu_counts_are_refused)
{
	const char *k = KERNEL(hello);

	expect_refused(thpvm("run", "--kernel", k, "--cpus", "0", NULL), "--cpus '0'");
	expect_refused(thpvm("run", "--kernel", k, "--cpus", "65", NULL), "--cpus '65'");
	expect_refused(thpvm("run", "--kernel", k, "--cpus", "two", NULL), "--cpus 'two'");
}

Test(linux_run, bad_kernel_files_are_refused)
{
	static const uint8_t zeros[4096];
	uint8_t noise[8192];

	for (unsigned i = 0; i < sizeof(noise); i++)
		noise[i] = (uint8_t)(i * 131 + 7);
	expect_refused(thpvm("run", "--kernel", "/nonexistent/vmlinux", NULL), "kernel '/nonexistent/vmlinux'");
	expect_refused(thpvm("run", "--kernel", linux_test_dir(), NULL), "not a regular file");
	expect_refused(thpvm("run", "--kernel", linux_test_file("empty", "", 0), NULL), "is empty");
	expect_refused(thpvm("run", "--kernel", linux_test_file("zeros", zeros, sizeof(zeros)), NULL),
		       "not a Linux kernel: neither an ELF vmlinux");
	expect_refused(thpvm("run", "--kernel", linux_test_file("noise", noise, sizeof(noise)), NULL), "kernel '");
}

Test(linux_run, initrd_and_cmdline_faults_are_refused)
{
	const char *k = KERNEL(hello);
	char *longline = malloc(4097);

	memset(longline, 'x', 4096);
	longline[4096] = '\0';
	expect_refused(thpvm("run", "--kernel", k, "--initrd", "/nonexistent/initrd", NULL), "initrd '/nonexistent/initrd'");
	expect_refused(thpvm("run", "--kernel", k, "--memory", "64M", "--initrd",
			     linux_test_sparse_file("huge-initrd", 80ULL << 20), NULL),
		       "does not fit in guest RAM");
	expect_refused(thpvm("run", "--kernel", k, "--cmdline", longline, NULL), "command line is 4096 bytes");
	expect_refused(thpvm("run", "--kernel", k, "--memory", "8M", NULL), "needs guest RAM up to");
	free(longline);
}

Test(linux_run, real_kernel_faults_are_refused)
{
	const char *bz = linux_test_kernel("bzImage");
	size_t len;
	uint8_t *img = linux_test_read(bz, &len);

	expect_refused(thpvm("run", "--kernel", linux_test_file("cut", img, len / 2), NULL), "truncated");
	expect_refused(thpvm("run", "--kernel", bz, "--memory", "64M", NULL), "needs guest RAM up to");
	free(img);
}

/* ---- the machine, end to end ---- */

Test(linux_run, guest_output_and_debug_exit_status)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->out, "hi\n");
	cr_assert_eq(error_lines(c->err), 0, "a debug-exit status is not an error: %s", c->err);
}

/* A machine with virtio devices: its ACPI tables, its disks' I/O threads up and down around a run */
Test(linux_run, virtio_devices_come_and_go_with_the_vm)
{
	const char *img = linux_test_sparse_file("disk.img", 1 << 20);
	char ro[300];

	snprintf(ro, sizeof(ro), "%s,readonly", linux_test_sparse_file("ro.img", 512 << 10));
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", "--rng", "--disk", img,
					  "--disk", ro, NULL);

	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->out, "hi\n");
	cr_assert_eq(error_lines(c->err), 0, "%s", c->err);
}

Test(linux_run, disk_faults_are_refused)
{
	const char *k = KERNEL(hello), *img = linux_test_sparse_file("disk.img", 1 << 20);
	char ro[300];

	snprintf(ro, sizeof(ro), "%s,readonly", img);
	expect_refused(thpvm("run", "--kernel", k, "--disk", "/nonexistent/disk.img", NULL),
		       "disk '/nonexistent/disk.img': No such file or directory");
	expect_refused(thpvm("run", "--kernel", k, "--disk", linux_test_file("odd.img", "abc", 3), NULL),
		       "not a whole number of 512-byte sectors");
	expect_refused(thpvm("run", "--kernel", k, "--disk", linux_test_dir(), NULL), "Is a directory");
	expect_refused(thpvm("run", "--kernel", k, "--disk", img, "--disk", img, NULL),
		       "another process has it open for writing");
	expect_refused(thpvm("run", "--kernel", k, "--disk", "x.img,rw", NULL), "unknown option 'rw'");
	expect_refused(thpvm("run", "--kernel", k, "--module", img, NULL),
		       "is a Linux kernel: --module is for multiboot kernels");
	expect_refused(thpvm("run", "--kernel", k, "--disk", ro, "--disk", ro, "--disk", ro, "--disk", ro, "--disk", ro,
			     "--disk", ro, "--disk", ro, "--disk", ro, NULL),
		       "at most 7 disks");
	expect_refused(thpvm("run", "--kernel", k, "--rng", "--disk", ro, "--disk", ro, "--disk", ro, "--disk", ro,
			     "--disk", ro, "--disk", ro, "--disk", ro, "--memory", "8M", NULL),
		       "needs guest RAM"); /* rng + 7 disks fit: the next refusal is the memory's */
}

/* A tap that thpvm creates lives in the test's own network namespace, and goes with the VM */
Test(linux_run, a_network_device_makes_its_tap_for_the_vm)
{
	const struct thpvm_cmd *c;

	if (geteuid() || access("/dev/net/tun", R_OK | W_OK))
		cr_skip_test("creating a tap needs root and /dev/net/tun (here: uid %u)", (unsigned)geteuid());
	/* each test runs in a process of its own: only this one is in the new namespace */
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", "--rng", "--net", "tap=thpvm-t0", NULL);
	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->out, "hi\n");
	cr_assert_eq(error_lines(c->err), 0, "%s", c->err);
	cr_expect_eq(if_nametoindex("thpvm-t0"), 0, "a tap thpvm made is not persistent: gone with the VM");
}

Test(linux_run, net_faults_are_refused)
{
	const char *k = KERNEL(hello), *ro = linux_test_sparse_file("ro.img", 512 << 10);
	char r[300];

	snprintf(r, sizeof(r), "%s,readonly", ro);
	/* an interface that is not a tap: refused whoever runs it, and nothing is created on the host */
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=lo", NULL), "tap 'lo': Invalid argument");
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=t0,speed=1", NULL), "unknown option 'speed=1'");
	expect_refused(thpvm("run", "--kernel", k, "--net", "mac=52:54:00:00:00:01", NULL), "expected tap=NAME");
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=t0,mac=01:54:00:00:00:01", NULL),
		       "mac '01:54:00:00:00:01' is not a unicast MAC address");
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=t0,mac=52:54:00:00:01", NULL), "not a unicast MAC");
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=a-name-too-long-0", NULL), "is not an interface name");
	expect_refused(thpvm("run", "--kernel", k, "--net", "tap=t0", "--net", "tap=t1", NULL),
		       "one network device at most");
	expect_refused(thpvm("run", "--kernel", k, "--rng", "--net", "tap=lo", "--disk", r, "--disk", r, "--disk", r,
			     "--disk", r, "--disk", r, "--disk", r, "--disk", r, NULL),
		       "9 virtio devices: at most 8");
}

Test(linux_run, several_vcpus_end_with_the_aps_still_waiting)
{
	/* the APs never get INIT/SIPI: they sit in KVM_RUN until the stop kicks them out */
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", "--cpus", "4", NULL);

	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->out, "hi\n");
}

Test(linux_run, console_file_gets_the_output_and_stdin_is_not_read)
{
	char path[256], buf[64] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/console.log", linux_test_dir());
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", "--console", path, NULL);
	expect_refused(c, "--console");
	snprintf(path, sizeof(path), "file:%s/console.log", linux_test_dir());
	c = thpvm("run", "--kernel", KERNEL(hello), "--memory", "64M", "--console", path, NULL);
	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_empty(c->out);
	fd = open(path + 5, O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 3);
	close(fd);
	cr_assert_str_eq(buf, "hi\n");
	/* input from nowhere: the echo guest waits for a byte that stdin has but never gets */
	c = thpvm_in("A", 1, "run", "--kernel", KERNEL(echo), "--memory", "64M", "--console", path, "--timeout", "2", NULL);
	cr_assert_eq(c->status, 124, "status %d; stderr: %s", c->status, c->err);
}

Test(linux_run, console_input_reaches_the_guest)
{
	const struct thpvm_cmd *c = thpvm_in("A", 1, "run", "--kernel", KERNEL(echo), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 'A', "status %d; stderr: %s", c->status, c->err);
	cr_assert_str_eq(c->out, "A");
}

Test(linux_run, ctrl_a_ctrl_a_sends_one_ctrl_a)
{
	const struct thpvm_cmd *c = thpvm_in("\x01\x01", 2, "run", "--kernel", KERNEL(echo), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 1, "the guest should read one Ctrl-A; status %d, stderr: %s", c->status, c->err);
}

Test(linux_run, ctrl_a_x_quits)
{
	const struct thpvm_cmd *c = thpvm_in("\x01x", 2, "run", "--kernel", KERNEL(echo), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 0, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: quit from the console (Ctrl-A x)"), "%s", c->err);
	cr_assert(strstr(c->out, "Ctrl-A x, quitting"), "%s", c->out);
	cr_assert_eq(error_lines(c->err), 1, "%s", c->err);
}

Test(linux_run, stdin_at_its_end_leaves_the_guest_running)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(echo), "--memory", "64M", "--timeout", "1", NULL);

	cr_assert_eq(c->status, 124, "status %d; stderr: %s", c->status, c->err);
}

Test(linux_run, triple_fault_is_a_guest_error_with_a_register_dump)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(ud2), "--memory", "64M", NULL);

	struct kvm_host h;

	cr_assert_eq(c->status, 1, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: vcpu 0: guest triple fault (KVM_EXIT_SHUTDOWN)"), "%s", c->err);
	cr_assert(strstr(c->err, "vcpu 0 registers:"), "%s", c->err);
	kvm_host_detect(&h);
	if (h.kind == KVM_HOST_SVM) {
		/* SVM: the VMCB is undefined after a shutdown and KVM INITs the vCPU; thpvm says the state is lost */
		cr_assert(strstr(c->err, "the registers at the fault are lost"), "%s: %s", h.what, c->err);
		cr_assert(strstr(c->err, "rip 0x000000000000fff0"), "the dump is the INIT state: %s", c->err);
	} else {
		cr_assert(strstr(c->err, "rip 0x0000000001000100"), "%s: the dump shows where: %s", h.what, c->err);
		cr_assert_not(strstr(c->err, "are lost"), "%s", c->err);
	}
}

Test(linux_run, a_looping_guest_ends_at_the_timeout)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(loop), "--memory", "64M", "--timeout", "1", NULL);

	cr_assert_eq(c->status, 124, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: guest still running after 1.0 s: stopped (vcpu 0 at RIP 0x1000100)"), "%s",
		  c->err);
	cr_assert_lt(c->secs, 10.0, "took %.1f s", c->secs);
}

Test(linux_run, sigterm_stops_the_guest)
{
	const char *argv[] = { THPVM, "run", "--kernel", KERNEL(loop), "--memory", "64M", "--timeout", "60", NULL };
	int efd = output_fd_create("err"), st;
	char err[4096];
	pid_t pid;

	pid = thpvm_spawn(argv, SPAWN_DEVNULL, SPAWN_DEVNULL, efd);
	usleep(500000);
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	fd_slurp(efd, err, sizeof(err));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status 0x%x; stderr: %s", st, err);
	cr_assert(strstr(err, "thpvm: interrupted by a signal"), "%s", err);
}

Test(linux_run, i8042_reset_ends_the_vm)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(reset), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 0, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: the guest reset the machine (i8042 reset)"), "%s", c->err);
}

Test(linux_run, debug_exit_values_past_255_exit_255)
{
	const struct thpvm_cmd *c = thpvm("run", "--kernel", KERNEL(exit300), "--memory", "64M", NULL);

	cr_assert_eq(c->status, 255, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "the guest wrote 300 to the debug-exit port 0x501"), "%s", c->err);
}

Test(linux_run, stats_report_a_linux_guest)
{
	char json[256];
	json_error_t jerr;
	json_t *j;
	const struct thpvm_cmd *c;

	snprintf(json, sizeof(json), "%s/stats.json", linux_test_dir());
	c = thpvm("stats", "--kernel", KERNEL(hello), "--memory", "64M", "--prefault", "--json", json, NULL);
	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->out, "hi\n"), "%s", c->out);
	cr_assert(strstr(c->out, "pages_2m"), "the side-by-side table: %s", c->out);
	cr_assert(strstr(c->out, "guest RAM 64.0 MiB"), "%s", c->out);
	j = json_load_file(json, 0, &jerr);
	cr_assert(j, "%s: %s", json, jerr.text);
	cr_assert(json_is_object(json_object_get(j, "summary")));
	cr_assert(json_is_object(json_object_get(json_object_get(j, "kvm"), "vm")));
	json_decref(j);
}

/* On kvm-pvm a real kernel runs its ring 0 under emulation: thpvm says so and --timeout ends it. */
Test(linux_run, a_real_kernel_on_kvm_pvm_is_bounded_by_the_timeout)
{
	const char *vmlinux = linux_test_kernel("vmlinux");
	struct kvm_host h;
	const struct thpvm_cmd *c;

	kvm_host_detect(&h);
	if (kvm_host_boots_linux(&h))
		cr_skip_test("KVM here is %s: Linux boots natively (the nested lab covers full boots)", h.what);
	c = thpvm("run", "--kernel", vmlinux, "--memory", "256M", "--timeout", "3", "--cmdline",
		  "console=ttyS0 earlyprintk=serial nokaslr pci=off acpi=off", NULL);
	cr_assert_eq(c->status, 124, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: warning: /dev/kvm is "), "the host is named before the guest runs: %s", c->err);
	cr_assert(strstr(c->err, "nested lab"), "%s", c->err);
	cr_assert(strstr(c->err, "thpvm: guest still running after 3.0 s: stopped (vcpu 0 at RIP 0x"), "%s", c->err);
	cr_assert_lt(c->secs, 20.0, "took %.1f s", c->secs);
}

/* Where Linux cannot boot, the demo says why and how to use the nested lab instead of trying. */
Test(linux_run, demo_linux_explains_a_host_without_vmx_or_svm)
{
	struct kvm_host h;
	const struct thpvm_cmd *c;

	kvm_host_detect(&h);
	if (kvm_host_boots_linux(&h))
		cr_skip_test("KVM here is %s: the demo boots Linux (the lab's case 24-thpvm-demo checks that)", h.what);
	c = thpvm("demo", "--linux", NULL);
	cr_assert_eq(c->status, 0, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->out, "KVM on this host: "), "%s", c->out);
	cr_assert(strstr(c->out, "A Linux guest cannot boot here"), "%s", c->out);
	cr_assert(strstr(c->out, "VMX or SVM"), "%s", c->out);
	cr_assert(strstr(c->out, "make -C build check-lab"), "%s", c->out);
	cr_assert(strstr(c->out, "make -C build bench-lab"), "%s", c->out);
	cr_assert_lt(c->secs, 5.0, "no boot attempt: %.1f s", c->secs);
}

/* ---- the control socket: console input, fork of a Linux machine ---- */

struct bg {
	pid_t pid;
	int in;                     /* write end of the guest's stdin */
	int out;                    /* memfd: its stdout */
	char sock[128];
};

/*
 * Polls "thpvm ctl SOCK stats" until it answers (answers true) or no longer
 * does; false when that did not happen within secs (scaled: test_secs).
 */
static bool ctl_wait(const char *sock, bool answers, double secs)
{
	struct timespec t;
	double end;

	clock_gettime(CLOCK_MONOTONIC, &t);
	end = t.tv_sec + t.tv_nsec / 1e9 + test_secs(secs);
	for (;;) {
		if ((thpvm("ctl", sock, "stats", NULL)->status == 0) == answers)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec + t.tv_nsec / 1e9 > end)
			return false;
		usleep(25000);
	}
}

/*
 * thpvm run --kernel K --ctl-sock SOCK [--console CONSOLE] in the background,
 * stdin from a pipe; returns once the socket answers.
 */
static void bg_start_console(struct bg *b, const char *kernel, const char *console)
{
	const char *argv[] = { THPVM, "run", "--kernel", kernel, "--memory", "64M", "--timeout", "60", "--ctl-sock", b->sock,
			       "--console", console ? console : "stdio", NULL };
	int p[2];

	snprintf(b->sock, sizeof(b->sock), "%s/vm.sock", linux_test_dir());
	/* the write end stays here: thpvm's stdin ends when the test closes it */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	b->out = output_fd_create("out");
	b->pid = thpvm_spawn(argv, p[0], b->out, SPAWN_DEVNULL);
	close(p[0]);
	b->in = p[1];
	cr_assert(ctl_wait(b->sock, true, 10), "the control socket answers within 10 s");
}

static void bg_start(struct bg *b, const char *kernel)
{
	bg_start_console(b, kernel, NULL);
}

static int bg_wait(struct bg *b)
{
	int st;

	cr_assert_eq(waitpid(b->pid, &st, 0), b->pid);
	close(b->in);
	close(b->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(linux_run, console_command_types_on_the_guest_console)
{
	struct bg b;
	const struct thpvm_cmd *c;

	bg_start(&b, KERNEL(echo));
	c = thpvm("ctl", b.sock, "console", "text=A", "newline=false", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	cr_assert(strstr(c->out, "\"bytes\": 1"), "%s", c->out);
	cr_assert_eq(bg_wait(&b), 'A', "the guest read what the socket typed");
}

/* A payload guest has no console UART and no domain XML: both commands say so, the VM runs on */
Test(linux_run, console_and_domxml_commands_refuse_a_payload_guest)
{
	char sock[128];
	const char *argv[] = { THPVM, "run", "--payload", "forktest", "--memory", "64M", "--arg", "then=wait",
			       "--timeout", "30", "--ctl-sock", sock, NULL };
	const struct thpvm_cmd *c;
	pid_t pid;
	int st;

	snprintf(sock, sizeof(sock), "%s/payload.sock", linux_test_dir());
	kvm_test_payload_dir();
	pid = thpvm_spawn(argv, SPAWN_DEVNULL, SPAWN_DEVNULL, SPAWN_DEVNULL);
	cr_assert(ctl_wait(sock, true, 10), "the control socket answers within 10 s");
	c = thpvm("ctl", sock, "console", "text=hello", NULL);
	cr_assert_neq(c->status, 0);
	cr_assert(strstr(c->err, "unsupported") && strstr(c->err, "no console UART"), "%s", c->err);
	c = thpvm("ctl", sock, "domxml", NULL);
	cr_assert_eq(c->status, 1, "%s%s", c->out, c->err);
	cr_assert(strstr(c->err, "unsupported: domxml: a payload guest (--payload"), "%s", c->err);
	cr_assert_eq(thpvm("ctl", sock, "quit", NULL)->status, 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
}

/* Reads the start of path's content (not empty: asserted) into buf, NUL-terminated. */
static void read_some(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	cr_assert_gt(n, 0, "%s is empty", path);
	buf[n] = '\0';
	close(fd);
}

/*
 * A forked Linux machine: the child restores COM1 and the irqchip and runs
 * on; it reads no stdin (the parent does) and takes its input from its own
 * socket; its console output goes to its console file.
 */
Test(linux_run, a_forked_child_takes_console_input_from_its_socket_not_stdin)
{
	char child[160], console[192], buf[64] = "";
	const struct thpvm_cmd *c;
	struct bg b;

	bg_start(&b, KERNEL(echo));
	snprintf(child, sizeof(child), "%s.1", b.sock);
	snprintf(console, sizeof(console), "%s.console", child);
	c = thpvm("ctl", b.sock, "fork", "count=1", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	cr_assert(strstr(c->out, console), "the reply names the child's console: %s", c->out);
	/* stdin is the parent's alone */
	cr_assert_eq(write(b.in, "P", 1), 1);
	cr_assert_eq(bg_wait(&b), 'P', "the parent read its stdin");
	c = thpvm("ctl", child, "stats", NULL);
	cr_assert_eq(c->status, 0, "the child still runs, waiting for input: %s", c->err);
	cr_assert(strstr(c->out, "\"state\": \"running\""), "%s", c->out);
	c = thpvm("ctl", child, "console", "text=B", "newline=false", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	cr_assert(ctl_wait(child, false, 10), "the child ended after its input (within 10 s)");
	read_some(console, buf, sizeof(buf));
	cr_assert(strchr(buf, 'B') && !strchr(buf, 'P'), "the child echoed its own input only: '%s'", buf);
}

/* With --console file:P the file stays the parent's: the child's guest output goes to its own console file. */
Test(linux_run, a_forked_child_writes_its_own_console_not_the_parents_file)
{
	char child[160], parent_file[160], spec[192], console[192], buf[64] = "";
	const struct thpvm_cmd *c;
	struct bg b;

	snprintf(parent_file, sizeof(parent_file), "%s/parent.log", linux_test_dir());
	snprintf(spec, sizeof(spec), "file:%s", parent_file);
	bg_start_console(&b, KERNEL(echo), spec);
	snprintf(child, sizeof(child), "%s.1", b.sock);
	snprintf(console, sizeof(console), "%s.console", child);
	cr_assert_eq(thpvm("ctl", b.sock, "fork", NULL)->status, 0);
	c = thpvm("ctl", child, "console", "text=C", "newline=false", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	cr_assert(ctl_wait(child, false, 10), "the child ended after its input (within 10 s)");
	c = thpvm("ctl", b.sock, "console", "text=D", "newline=false", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	cr_assert_eq(bg_wait(&b), 'D');
	read_some(console, buf, sizeof(buf));
	cr_assert(strchr(buf, 'C') && !strchr(buf, 'D'), "child console: '%s'", buf);
	memset(buf, 0, sizeof(buf));
	read_some(parent_file, buf, sizeof(buf));
	cr_assert_str_eq(buf, "D", "the parent's console file has the parent's output only");
}

/* path: a domain XML (docs/libvirt.md) for kernel with a disk and its console in console_path */
static const char *write_domain(const char *kernel, const char *disk, const char *console_path, const char *extra)
{
	static char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/domain.xml", linux_test_dir());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"<domain type='kvm'>\n  <name>hello</name>\n  <memory unit='MiB'>64</memory>\n"
		"  <memoryBacking><allocation mode='immediate'/></memoryBacking>\n"
		"  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>\n"
		"  <on_reboot>destroy</on_reboot>\n  <devices>\n"
		"    <disk type='file' device='disk'><source file='%s'/><target dev='vda' bus='virtio'/></disk>\n"
		"    <serial type='file'><source path='%s'/></serial>\n    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n%s  </devices>\n"
		"</domain>\n",
		kernel, disk, console_path, extra);
	fclose(f);
	return path;
}

/* --domain: the guest, its disk, console, entropy and memory from the XML, through thpvm stats */
Test(linux_run, a_domain_xml_runs_the_guest_it_describes)
{
	char console[256], json_path[256], buf[64] = "";
	const char *img = linux_test_sparse_file("disk.img", 1 << 20), *xml;
	const struct thpvm_cmd *c;
	json_error_t je;
	json_t *j;
	int fd;

	snprintf(console, sizeof(console), "%s/console.log", linux_test_dir());
	snprintf(json_path, sizeof(json_path), "%s/stats.json", linux_test_dir());
	xml = write_domain(KERNEL(hello), img, console, "");
	c = thpvm("stats", "--domain", xml, "--json", json_path, NULL);
	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert_eq(error_lines(c->err), 0, "%s", c->err);
	fd = open(console, O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 3);
	close(fd);
	cr_assert_str_eq(buf, "hi\n");
	/* the report of the domain's 64 MiB, written where --json said */
	j = json_load_file(json_path, 0, &je);
	cr_assert_not_null(j, "%s: %s", json_path, je.text);
	cr_assert(strstr(c->out, "64.0 MiB") || strstr(c->out, "64 MiB"), "the report shows the domain's memory: %s",
		  c->out);
	json_decref(j);
}

/*
 * The other direction: the control socket's domxml describes the running VM
 * in XML libvirt accepts (what it runs with and what it has now), and
 * thpvm run --domain of that XML runs the same guest again.
 */
Test(linux_run, domxml_of_a_running_vm_runs_it_again)
{
	char xml_path[300], kernel[PATH_MAX], want[PATH_MAX + 32], *measured, *plain;
	const struct thpvm_cmd *c;
	struct bg b;
	FILE *f;

	cr_assert_not_null(realpath(KERNEL(echo), kernel));
	bg_start(&b, KERNEL(echo));
	c = thpvm("ctl", b.sock, "domxml", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	measured = strdup(c->out);
	snprintf(want, sizeof(want), "<kernel>%s</kernel>", kernel);
	cr_assert(strstr(measured, want), "the VM's kernel: %s", measured);
	cr_assert(strstr(measured, "<memory unit=\"KiB\">65536</memory>"), "its 64 MiB: %s", measured);
	cr_assert(strstr(measured, "<serial type=\"stdio\">"), "its console: %s", measured);
	cr_assert(strstr(measured, "<thpvm:measured size_bytes=\"67108864\" huge_bytes=\""), "its coverage: %s", measured);
	c = thpvm("ctl", b.sock, "domxml", "measured=false", NULL);
	cr_assert_eq(c->status, 0, "%s%s", c->out, c->err);
	plain = strdup(c->out);
	c = thpvm("ctl", b.sock, "console", "text=Y", "newline=false", NULL);
	cr_assert_eq(bg_wait(&b), 'Y');
	/* the command line the VM ran with (less how the run went: --timeout, --ctl-sock) says the same */
	c = thpvm("domxml", "--kernel", KERNEL(echo), "--memory", "64M", "--console", "stdio", NULL);
	cr_assert_eq(c->status, 0, "%s", c->err);
	cr_assert_str_eq(c->out, plain, "thpvm domxml and the socket's domxml differ");
	/* the VM's XML, its measure in it, as a file: thpvm run --domain runs the guest it describes */
	snprintf(xml_path, sizeof(xml_path), "%s/vm.xml", linux_test_dir());
	f = fopen(xml_path, "w");
	cr_assert_not_null(f);
	fputs(measured, f);
	fclose(f);
	c = thpvm_in("Z", 1, "run", "--domain", xml_path, "--timeout", "30", NULL);
	cr_assert_eq(c->status, 'Z', "status %d; stderr: %s", c->status, c->err);
	cr_assert_eq(error_lines(c->err), 0, "%s", c->err);
	free(measured);
	free(plain);
}

/* What thpvm does not do is refused before anything runs, naming its XPath; --domain-lenient runs it anyway */
Test(linux_run, a_domain_xml_with_what_thpvm_does_not_do_is_refused)
{
	char console[256];
	const char *img = linux_test_sparse_file("disk.img", 1 << 20), *xml;
	const struct thpvm_cmd *c;

	snprintf(console, sizeof(console), "%s/console.log", linux_test_dir());
	xml = write_domain(KERNEL(hello), img, console, "    <graphics type='vnc'/>\n");
	expect_refused(thpvm("run", "--domain", xml, NULL),
		       "/domain/devices/graphics: thpvm has no display: its console is COM1 (<serial>)");
	expect_refused(thpvm("run", "--domain", xml, "--memory", "128M", NULL), "--memory and --domain exclude each other");
	c = thpvm("run", "--domain", xml, "--domain-lenient", NULL);
	cr_assert_eq(c->status, 42, "status %d; stderr: %s", c->status, c->err);
	cr_assert(strstr(c->err, "thpvm: warning: run: "), "%s", c->err);
	cr_assert(strstr(c->err, "/domain/devices/graphics: thpvm has no display"), "%s", c->err);
}
