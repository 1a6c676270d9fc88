/* SPDX-License-Identifier: MIT */
/*
 * Guests that misbehave (issue 16): small PVH kernels (32-bit code at the
 * PVH entry, see tests/lib/linux_helpers.h) that write pseudo-random values
 * of every width to every I/O port, flood the console, and read and write
 * guest-physical memory where there is no RAM and no device. thpvm runs each
 * under `thpvm run --kernel` with a control socket, as a user would: the
 * control socket answers while the guest misbehaves, the guest reaches its
 * end marker (thpvm neither crashed nor stopped it), and `quit` ends the VMM
 * with status 0 and no error line. A guest that triple-faults ends with one
 * line and a register dump: linux_run::triple_fault_is_a_guest_error_...
 * The code below was assembled with GNU as --32 from the source in each
 * comment (objdump's listing beside the bytes).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "helpers.h"
#include "kvm_test.h"
#include "linux_helpers.h"

TestSuite(misbehaving_guest, .init = linux_run_fixture_init, .fini = linux_run_fixture_fini, .timeout = 300);

/* every port but the two that end a VM on purpose (debug exit 0x501, i8042 command 0x64): a pseudo-random write of 1, 2 or 4 bytes, then a read the UART back to 8N1, no loopback, no interrupts, then "ok\n"; then halt until the VMM is told to quit */
static const uint8_t garbage_code[] = {
	0xbe, 0xb9, 0x79, 0x37, 0x9e,            /*   0: mov $0x9e3779b9,%esi */
	0x31, 0xc9,                              /*   5: xor %ecx,%ecx */
	0x81, 0xf9, 0x01, 0x05, 0x00, 0x00,      /*   7: cmp $0x501,%ecx */
	0x74, 0x37,                              /*   d: je 0x46 */
	0x83, 0xf9, 0x64,                        /*   f: cmp $0x64,%ecx */
	0x74, 0x32,                              /*  12: je 0x46 */
	0x89, 0xf0,                              /*  14: mov %esi,%eax */
	0xc1, 0xe0, 0x0d,                        /*  16: shl $0xd,%eax */
	0x31, 0xc6,                              /*  19: xor %eax,%esi */
	0x89, 0xf0,                              /*  1b: mov %esi,%eax */
	0xc1, 0xe8, 0x11,                        /*  1d: shr $0x11,%eax */
	0x31, 0xc6,                              /*  20: xor %eax,%esi */
	0x89, 0xf0,                              /*  22: mov %esi,%eax */
	0xc1, 0xe0, 0x05,                        /*  24: shl $0x5,%eax */
	0x31, 0xc6,                              /*  27: xor %eax,%esi */
	0x89, 0xca,                              /*  29: mov %ecx,%edx */
	0x89, 0xf0,                              /*  2b: mov %esi,%eax */
	0xf7, 0xc6, 0x01, 0x00, 0x00, 0x00,      /*  2d: test $0x1,%esi */
	0x74, 0x03,                              /*  33: je 0x38 */
	0xee,                                    /*  35: out %al,(%dx) */
	0xeb, 0x0d,                              /*  36: jmp 0x45 */
	0xf7, 0xc6, 0x02, 0x00, 0x00, 0x00,      /*  38: test $0x2,%esi */
	0x74, 0x04,                              /*  3e: je 0x44 */
	0x66, 0xef,                              /*  40: out %ax,(%dx) */
	0xeb, 0x01,                              /*  42: jmp 0x45 */
	0xef,                                    /*  44: out %eax,(%dx) */
	0xec,                                    /*  45: in (%dx),%al */
	0x41,                                    /*  46: inc %ecx */
	0x81, 0xf9, 0x00, 0x00, 0x01, 0x00,      /*  47: cmp $0x10000,%ecx */
	0x72, 0xb8,                              /*  4d: jb 0x7 */
	0x66, 0xba, 0xf9, 0x03,                  /*  4f: mov $0x3f9,%dx */
	0x30, 0xc0,                              /*  53: xor %al,%al */
	0xee,                                    /*  55: out %al,(%dx) */
	0x66, 0xba, 0xfb, 0x03,                  /*  56: mov $0x3fb,%dx */
	0xb0, 0x03,                              /*  5a: mov $0x3,%al */
	0xee,                                    /*  5c: out %al,(%dx) */
	0x66, 0xba, 0xfc, 0x03,                  /*  5d: mov $0x3fc,%dx */
	0x30, 0xc0,                              /*  61: xor %al,%al */
	0xee,                                    /*  63: out %al,(%dx) */
	0x66, 0xba, 0xf8, 0x03,                  /*  64: mov $0x3f8,%dx */
	0xb0, 0x6f,                              /*  68: mov $0x6f,%al */
	0xee,                                    /*  6a: out %al,(%dx) */
	0xb0, 0x6b,                              /*  6b: mov $0x6b,%al */
	0xee,                                    /*  6d: out %al,(%dx) */
	0xb0, 0x0a,                              /*  6e: mov $0xa,%al */
	0xee,                                    /*  70: out %al,(%dx) */
	0xf4,                                    /*  71: hlt */
	0xeb, 0xfd,                              /*  72: jmp 0x71 */
};
/* COM1 flooded for as long as the guest runs: byte i is 'a' + i % 16, or a newline when i % 64 is 63 */
static const uint8_t flood_code[] = {
	0x66, 0xba, 0xf8, 0x03,                  /*   0: mov $0x3f8,%dx */
	0x31, 0xc9,                              /*   4: xor %ecx,%ecx */
	0x89, 0xc8,                              /*   6: mov %ecx,%eax */
	0x83, 0xe0, 0x3f,                        /*   8: and $0x3f,%eax */
	0x83, 0xf8, 0x3f,                        /*   b: cmp $0x3f,%eax */
	0x75, 0x04,                              /*   e: jne 0x14 */
	0xb0, 0x0a,                              /*  10: mov $0xa,%al */
	0xeb, 0x07,                              /*  12: jmp 0x1b */
	0x89, 0xc8,                              /*  14: mov %ecx,%eax */
	0x83, 0xe0, 0x0f,                        /*  16: and $0xf,%eax */
	0x04, 0x61,                              /*  19: add $0x61,%al */
	0xee,                                    /*  1b: out %al,(%dx) */
	0x41,                                    /*  1c: inc %ecx */
	0xeb, 0xe7,                              /*  1d: jmp 0x6 */
};
/* reads and writes where there is no RAM and no device: the MMIO hole, above RAM; then what the reads gave (F: all ones); then halt */
static const uint8_t unmapped_code[] = {
	0xc7, 0x05, 0x00, 0x00, 0x00, 0xf0, 0x78, /*   0: movl $0x12345678,0xf0000000 */
	0x56, 0x34, 0x12,                        /*   7:  */
	0x8b, 0x1d, 0x00, 0x00, 0x00, 0xf0,      /*   a: mov 0xf0000000,%ebx */
	0xc7, 0x05, 0x00, 0xf0, 0xff, 0x7f, 0x78, /*  10: movl $0x12345678,0x7ffff000 */
	0x56, 0x34, 0x12,                        /*  17:  */
	0x23, 0x1d, 0x00, 0xf0, 0xff, 0x7f,      /*  1a: and 0x7ffff000,%ebx */
	0x66, 0xba, 0xf8, 0x03,                  /*  20: mov $0x3f8,%dx */
	0xb0, 0x46,                              /*  24: mov $0x46,%al */
	0x83, 0xfb, 0xff,                        /*  26: cmp $0xffffffff,%ebx */
	0x74, 0x02,                              /*  29: je 0x2d */
	0xb0, 0x58,                              /*  2b: mov $0x58,%al */
	0xee,                                    /*  2d: out %al,(%dx) */
	0xb0, 0x0a,                              /*  2e: mov $0xa,%al */
	0xee,                                    /*  30: out %al,(%dx) */
	0xf4,                                    /*  31: hlt */
	0xeb, 0xfd,                              /*  32: jmp 0x31 */
};

struct outcome {
	int status;              /* thpvm's wait status */
	unsigned stats_running;  /* stats answered while the guest had not reached its marker */
	char err[4096];          /* thpvm's stderr */
	char console[256];       /* the console file's last bytes */
	off_t console_bytes;
};

static void slurp_tail(const char *path, char *buf, size_t len, off_t *size)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	ssize_t n = 0;

	*size = 0;
	if (fd >= 0 && !fstat(fd, &st)) {
		*size = st.st_size;
		n = pread(fd, buf, len - 1, st.st_size > (off_t)(len - 1) ? st.st_size - (off_t)(len - 1) : 0);
	}
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* thpvm ctl SOCK CMD: whether it answered with status 0 */
static bool ctl_ok(const char *sock, const char *cmd)
{
	const char *args[] = { "ctl", "--timeout", "60", sock, cmd, NULL };

	return thpvm_cmd_run(args)->status == 0;
}

/*
 * Runs the kernel with its console in a file and a control socket; asks for
 * stats until the console ends with marker (or, marker NULL, holds at least
 * min_bytes), then once more, then quits.
 */
static void run_misbehaving(const char *kernel, const char *marker, off_t min_bytes, struct outcome *o)
{
	char sock[PATH_MAX], console[PATH_MAX], console_arg[PATH_MAX + 8], errpath[PATH_MAX];
	const char *argv[] = { THPVM, "run", "--kernel", kernel, "--memory", "64M", "--console", console_arg,
			       "--ctl-sock", sock, "--timeout", "600", NULL };
	int errfd, st;
	pid_t pid;
	bool reached = false;

	snprintf(sock, sizeof(sock), "%s/vm.sock", linux_test_dir());
	snprintf(console, sizeof(console), "%s/console", linux_test_dir());
	snprintf(console_arg, sizeof(console_arg), "file:%s", console);
	snprintf(errpath, sizeof(errpath), "%s/stderr", linux_test_dir());
	errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(errfd, 0);
	memset(o, 0, sizeof(*o));
	pid = thpvm_spawn(argv, -1, -1, errfd);
	close(errfd);
	for (unsigned i = 0; i < 6000 && access(sock, F_OK); i++)
		usleep(10000);
	cr_assert_eq(access(sock, F_OK), 0, "no control socket");
	for (unsigned i = 0; i < 20000 && !reached; i++) {
		cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "thpvm ended before the guest's marker: status 0x%x", st);
		slurp_tail(console, o->console, sizeof(o->console), &o->console_bytes);
		if (marker)
			reached = strlen(o->console) >= strlen(marker) &&
				  !strcmp(o->console + strlen(o->console) - strlen(marker), marker);
		else
			reached = o->console_bytes >= min_bytes;
		if (!reached && !ctl_ok(sock, "stats")) {
			usleep(500000);
			slurp_tail(errpath, o->err, sizeof(o->err), &(off_t){ 0 });
			cr_assert_fail("no stats while the guest misbehaves (thpvm %s); stderr: %s; console ends: %s",
				       waitpid(pid, &st, WNOHANG) == pid ? "ended" : "runs", o->err, o->console);
		}
		o->stats_running += !reached;
	}
	cr_assert(reached, "the guest never got there; console (%lld bytes) ends: %s", (long long)o->console_bytes,
		  o->console);
	cr_assert(ctl_ok(sock, "stats"), "stats after the guest's marker");
	cr_assert(ctl_ok(sock, "quit"));
	cr_assert_eq(waitpid(pid, &o->status, 0), pid);
	slurp_tail(errpath, o->err, sizeof(o->err), &(off_t){ 0 });
	cr_assert(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0, "status 0x%x; stderr: %s", o->status, o->err);
	cr_log_info("%s: %u stats answered while it ran; console %lld bytes", kernel, o->stats_running,
		    (long long)o->console_bytes);
}

Test(misbehaving_guest, garbage_to_every_port_leaves_thpvm_serving)
{
	struct outcome o;

	run_misbehaving(synth_pvh_kernel("garbage", garbage_code, sizeof(garbage_code)), "ok\n", 0, &o);
	cr_assert_not(strstr(o.err, "unexpected") || strstr(o.err, "guest error"), "stderr: %s", o.err);
}

Test(misbehaving_guest, a_console_flood_arrives_whole_while_thpvm_serves)
{
	char path[PATH_MAX];
	struct outcome o;
	size_t len;
	uint8_t *con;

	/* the guest floods until quit: the control socket is asked while it does, on any host */
	run_misbehaving(synth_pvh_kernel("flood", flood_code, sizeof(flood_code)), NULL, 256 * 1024, &o);
	cr_assert_gt(o.stats_running, 0, "the control socket answered during the flood");
	/* every byte the guest wrote is in the file, in order: none lost, none twice */
	snprintf(path, sizeof(path), "%s/console", linux_test_dir());
	con = linux_test_read(path, &len);
	cr_assert_geq(len, 256 * 1024);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(con[i], i % 64 == 63 ? '\n' : 'a' + i % 16, "console byte %zu is 0x%02x", i, con[i]);
	free(con);
}

Test(misbehaving_guest, reads_and_writes_with_no_ram_or_device_behind_them_read_all_ones)
{
	struct outcome o;

	run_misbehaving(synth_pvh_kernel("unmapped", unmapped_code, sizeof(unmapped_code)), "\n", 0, &o);
	cr_assert_str_eq(o.console, "F\n", "reads of nothing give all ones: %s", o.console);
}
