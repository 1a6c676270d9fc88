/* SPDX-License-Identifier: MIT */
/*
 * The Linux console on a terminal (a real pty, thpvm's controlling
 * terminal): raw mode while the guest runs, the user's settings back on
 * every way out (Ctrl-A x, a guest error, SIGTERM, a fatal signal). A tiny
 * PVH kernel that waits for a byte on COM1 keeps thpvm running. Skips
 * without /dev/kvm.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "helpers.h"
#include "kvm_test.h"
#include "linux_helpers.h"


TestSuite(linux_console, .init = linux_run_fixture_init, .fini = linux_run_fixture_fini, .timeout = 60);

/* waits for a byte on COM1, exits with it through the debug-exit port */
static const uint8_t wait_code[] = {
	0x66, 0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb, /* poll LSR.DR */
	0x66, 0xba, 0xf8, 0x03, 0xec,                         /* in RX */
	0x66, 0xba, 0x01, 0x05, 0xee, 0xf4, 0xeb, 0xfd,       /* out %al, $0x501 */
};
static const uint8_t ud2_code[] = { 0x0f, 0x0b };

struct term_run {
	int master, slave;
	pid_t pid;
	int err_fd;
	struct termios before;
	char out[8192];
	size_t out_len;
};

/* thpvm run on a new pty that is its controlling terminal (stdin and stdout), stderr to a memfd */
static void start(struct term_run *t, const char *kernel)
{
	cr_assert_eq(openpty(&t->master, &t->slave, NULL, NULL, NULL), 0);
	cr_assert_eq(tcgetattr(t->slave, &t->before), 0);
	cr_assert(t->before.c_lflag & ICANON, "a new pty starts canonical");
	t->err_fd = output_fd_create("err");
	t->out_len = 0;
	fflush(NULL);
	t->pid = fork();
	cr_assert(t->pid >= 0);
	if (!t->pid) {
		die_with_parent();
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core); /* the fatal-signal test must not leave a core file */
		setsid();
		ioctl(t->slave, TIOCSCTTY, 0);
		dup2(t->slave, 0);
		dup2(t->slave, 1);
		dup2(t->err_fd, 2);
		close(t->master);
		execl(THPVM, THPVM, "run", "--kernel", kernel, "--memory", "64M", "--timeout", "30", (char *)NULL);
		_exit(127);
	}
}

static void drain(struct term_run *t, int ms)
{
	struct pollfd p = { .fd = t->master, .events = POLLIN };

	while (poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) {
		ssize_t n = read(t->master, t->out + t->out_len, sizeof(t->out) - 1 - t->out_len);

		if (n <= 0)
			break;
		t->out_len += (size_t)n;
		ms = 0;
	}
	t->out[t->out_len] = '\0';
}

/* Waits until thpvm has put the terminal in raw mode (up to 20 s). */
static void wait_raw(struct term_run *t)
{
	struct termios now;

	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(tcgetattr(t->slave, &now), 0);
		if (!(now.c_lflag & ICANON))
			break;
		cr_assert_eq(waitpid(t->pid, NULL, WNOHANG), 0, "thpvm ended before raw mode");
		drain(t, 10);
	}
	cr_assert(!(now.c_lflag & ICANON), "raw mode: no line editing");
	cr_assert(!(now.c_lflag & ECHO), "raw mode: no echo");
	cr_assert(!(now.c_lflag & ISIG), "raw mode: Ctrl-C goes to the guest, no SIGINT");
	cr_assert(!(now.c_iflag & ICRNL), "raw mode: CR stays CR");
	cr_assert(now.c_oflag & OPOST, "output processing kept, as QEMU does");
}

/* Waits for thpvm; returns its wait status and checks the terminal is as before. */
static int finish(struct term_run *t, char *err, size_t err_len)
{
	struct termios after;
	int st = 0;

	for (int i = 0; i < 3000 && waitpid(t->pid, &st, WNOHANG) == 0; i++)
		drain(t, 10);
	cr_assert_eq(waitpid(t->pid, &st, WNOHANG), -1, "thpvm must have ended (reaped above)");
	drain(t, 0);
	ssize_t n = pread(t->err_fd, err, err_len - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	cr_assert_eq(tcgetattr(t->slave, &after), 0);
	cr_assert_eq(after.c_lflag, t->before.c_lflag, "lflag restored: 0x%x, was 0x%x; stderr: %s", after.c_lflag,
		     t->before.c_lflag, err);
	cr_assert_eq(after.c_iflag, t->before.c_iflag, "iflag restored");
	cr_assert_eq(after.c_oflag, t->before.c_oflag, "oflag restored");
	cr_assert_eq(after.c_cflag, t->before.c_cflag, "cflag restored");
	cr_assert_eq(memcmp(after.c_cc, t->before.c_cc, sizeof(after.c_cc)), 0, "control characters restored");
	close(t->master);
	close(t->slave);
	close(t->err_fd);
	return st;
}

/*
 * The guest that waits for a byte, once thpvm has put the terminal in raw
 * mode: types keys (NULL: none) on the terminal, sends sig (0: none) to
 * thpvm, then finish()es.
 */
static int wait_guest_then(const char *keys, int sig, char *err, size_t err_len)
{
	struct term_run t;

	start(&t, synth_pvh_kernel("wait", wait_code, sizeof(wait_code)));
	wait_raw(&t);
	if (keys)
		cr_assert_eq(write(t.master, keys, strlen(keys)), (ssize_t)strlen(keys));
	if (sig)
		cr_assert_eq(kill(t.pid, sig), 0);
	return finish(&t, err, err_len);
}

Test(linux_console, raw_while_running_then_restored_after_ctrl_a_x)
{
	struct term_run t;
	char err[4096];
	int st;

	start(&t, synth_pvh_kernel("wait", wait_code, sizeof(wait_code)));
	wait_raw(&t);
	cr_assert_eq(write(t.master, "\x01h", 2), 2);
	for (int i = 0; i < 500 && !strstr(t.out, "Ctrl-A x       quit thpvm"); i++)
		drain(&t, 10);
	cr_assert(strstr(t.out, "Ctrl-A x       quit thpvm"), "Ctrl-A h lists the keys: %s", t.out);
	cr_assert_eq(write(t.master, "\x01x", 2), 2);
	st = finish(&t, err, sizeof(err));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x; stderr: %s", st, err);
	cr_assert(strstr(err, "thpvm: quit from the console (Ctrl-A x)"), "%s", err);
}

Test(linux_console, a_key_reaches_the_guest_as_typed)
{
	char err[4096];
	/* raw: Ctrl-C is a byte for the guest (3), not SIGINT for thpvm */
	int st = wait_guest_then("\x03", 0, err, sizeof(err));

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status 0x%x; stderr: %s", st, err);
}

Test(linux_console, restored_after_a_guest_error)
{
	struct term_run t;
	char err[8192];
	int st;

	start(&t, synth_pvh_kernel("ud2", ud2_code, sizeof(ud2_code)));
	st = finish(&t, err, sizeof(err));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x; stderr: %s", st, err);
	cr_assert(strstr(err, "triple fault"), "%s", err);
}

Test(linux_console, restored_after_sigterm)
{
	char err[4096];
	int st = wait_guest_then(NULL, SIGTERM, err, sizeof(err));

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status 0x%x; stderr: %s", st, err);
}

Test(linux_console, restored_after_a_fatal_signal)
{
	char err[4096];
	int st = wait_guest_then(NULL, SIGQUIT, err, sizeof(err));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT, "thpvm dies of the signal: status 0x%x", st);
}
