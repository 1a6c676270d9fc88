/* SPDX-License-Identifier: MIT */
/* The guest console's outside end: output queue, input thread with escape keys, terminal raw mode. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>
#include "console.h"
#include "util/error.h"

#define OUT_BUF_BYTES 4096
#define IN_BUF_BYTES 256
#define FIFO_FULL_RETRY_MS 5 /* the UART's FIFO is full: the guest reads it soon */

struct console {
	enum console_kind kind;
	int out_fd;
	bool own_out;
	int in_fd;                      /* -1: no input */

	pthread_mutex_t out_lock;       /* out_buf; taken inside the UART's lock */
	uint8_t out_buf[OUT_BUF_BYTES];
	size_t out_len;
	uint64_t nr_out;

	console_sink_fn sink;
	console_quit_fn quit;
	void *arg;
	pthread_t thread;
	bool thread_running;
	int stop_fd;                    /* eventfd: the input thread leaves */
	bool in_eof;
	bool escape;                    /* the last byte was Ctrl-A */
	uint8_t pending[IN_BUF_BYTES];  /* read, not yet taken by the UART */
	size_t pending_off, pending_len;

	bool raw;
};

int console_parse(const char *spec, struct console_config *out)
{
	memset(out, 0, sizeof(*out));
	if (!strcmp(spec, "stdio")) {
		out->kind = CONSOLE_STDIO;
		return 0;
	}
	if (!strncmp(spec, "file:", 5) && spec[5]) {
		out->kind = CONSOLE_FILE;
		out->path = spec + 5;
		return 0;
	}
	return vmm_fail(-EINVAL, "--console '%s': expected stdio or file:PATH", spec);
}

/* ---- terminal state: process-wide, so signal handlers and atexit can restore it ---- */

static struct termios saved_tty;
static volatile sig_atomic_t saved_tty_fd = -1;
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT };
#define NR_FATAL_SIGNALS (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction old_fatal[NR_FATAL_SIGNALS];

/* Async-signal-safe. */
static void tty_restore(void)
{
	int fd = saved_tty_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSANOW, &saved_tty);
		saved_tty_fd = -1;
	}
}

/* A crash must not leave the user's terminal raw: restore, then die as the signal says. */
static void fatal_handler(int sig)
{
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void tty_atexit(void)
{
	tty_restore();
}

int console_raw(struct console *c)
{
	static bool atexit_done;
	struct termios t;
	struct sigaction sa;
	pid_t fg;

	if (c->kind != CONSOLE_STDIO || c->raw || !isatty(STDIN_FILENO))
		return 0;
	/* a background job must not take the terminal (tcsetattr would stop it with SIGTTOU) */
	fg = tcgetpgrp(STDIN_FILENO);
	if (fg > 0 && fg != getpgrp())
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved_tty))
		return vmm_fail(-errno, "console: cannot read the terminal settings: %s", strerror(errno));
	if (!atexit_done)
		atexit_done = !atexit(tty_atexit);
	t = saved_tty;
	/* like QEMU's stdio: bytes as typed, no signals from keys (Ctrl-C goes to the guest), output processing kept */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_handler;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < NR_FATAL_SIGNALS; i++)
		sigaction(fatal_signals[i], &sa, &old_fatal[i]);
	saved_tty_fd = STDIN_FILENO;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
		int err = errno;

		saved_tty_fd = -1;
		for (unsigned i = 0; i < NR_FATAL_SIGNALS; i++)
			sigaction(fatal_signals[i], &old_fatal[i], NULL);
		return vmm_fail(-err, "console: cannot put the terminal in raw mode: %s", strerror(err));
	}
	c->raw = true;
	return 0;
}

bool console_is_raw(const struct console *c)
{
	return c && c->raw;
}

void console_restore(struct console *c)
{
	if (!c || !c->raw)
		return;
	tty_restore();
	for (unsigned i = 0; i < NR_FATAL_SIGNALS; i++)
		sigaction(fatal_signals[i], &old_fatal[i], NULL);
	c->raw = false;
}

/* ---- output ---- */

/* Called with out_lock held. A reader that went away (EPIPE) loses the output, the guest keeps running. */
static void write_out(struct console *c, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->out_fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };

			poll(&p, 1, 100);
		} else {
			return;
		}
	}
}

void console_put(struct console *c, uint8_t byte)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->out_len == OUT_BUF_BYTES) {
		write_out(c, c->out_buf, c->out_len);
		c->out_len = 0;
	}
	c->out_buf[c->out_len++] = byte;
	c->nr_out++;
	pthread_mutex_unlock(&c->out_lock);
}

void console_flush(struct console *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->out_len) {
		write_out(c, c->out_buf, c->out_len);
		c->out_len = 0;
	}
	pthread_mutex_unlock(&c->out_lock);
}

uint64_t console_nr_out(const struct console *c)
{
	uint64_t n;

	pthread_mutex_lock((pthread_mutex_t *)&c->out_lock);
	n = c->nr_out;
	pthread_mutex_unlock((pthread_mutex_t *)&c->out_lock);
	return n;
}

static void say(struct console *c, const char *msg)
{
	pthread_mutex_lock(&c->out_lock);
	write_out(c, c->out_buf, c->out_len);
	c->out_len = 0;
	write_out(c, (const uint8_t *)msg, strlen(msg));
	pthread_mutex_unlock(&c->out_lock);
}

/* ---- input ---- */

/* Escape keys: Ctrl-A x quits, Ctrl-A Ctrl-A is a Ctrl-A for the guest, Ctrl-A h lists them. */
static void take_input(struct console *c, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];

		if (!c->escape && b == CONSOLE_ESCAPE_KEY) {
			c->escape = true;
			continue;
		}
		if (!c->escape) {
			c->pending[c->pending_len++] = b;
			continue;
		}
		c->escape = false;
		switch (b) {
		case CONSOLE_ESCAPE_KEY:
			c->pending[c->pending_len++] = b;
			break;
		case 'x':
		case 'X':
			say(c, "\r\nthpvm: console: Ctrl-A x, quitting\r\n");
			if (c->quit)
				c->quit(c->arg);
			break;
		case 'h':
		case 'H':
		case '?':
			say(c, "\r\nthpvm console keys:\r\n  Ctrl-A x       quit thpvm\r\n"
			       "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n  Ctrl-A h       this list\r\n");
			break;
		default:
			break; /* unknown escapes are dropped, as in QEMU */
		}
	}
}

/* Waits up to ms for the stop request; true when it came. */
static bool stop_requested(struct console *c, int ms)
{
	struct pollfd p = { .fd = c->stop_fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

static void *input_thread(void *arg)
{
	struct console *c = arg;
	uint8_t buf[IN_BUF_BYTES];

	for (;;) {
		while (c->pending_off < c->pending_len) {
			size_t n = c->sink ? c->sink(c->arg, c->pending + c->pending_off, c->pending_len - c->pending_off) : 0;

			c->pending_off += n;
			if (!n && stop_requested(c, FIFO_FULL_RETRY_MS))
				return NULL;
		}
		c->pending_off = c->pending_len = 0;
		if (c->in_eof)
			return NULL; /* stdin ended: the guest keeps running without input */
		struct pollfd p[2] = { { .fd = c->stop_fd, .events = POLLIN }, { .fd = c->in_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (!p[1].revents)
			continue;
		ssize_t n = read(c->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			c->in_eof = true;
			continue;
		}
		take_input(c, buf, (size_t)n);
	}
}

void console_attach(struct console *c, console_sink_fn sink, console_quit_fn quit, void *arg)
{
	c->sink = sink;
	c->quit = quit;
	c->arg = arg;
}

int console_input_start(struct console *c)
{
	sigset_t all, old;
	int ret;

	if (!c || c->in_fd < 0 || c->thread_running || c->in_eof)
		return 0;
	/* a background job reading its terminal would be stopped (SIGTTIN): it runs without input */
	if (isatty(c->in_fd)) {
		pid_t fg = tcgetpgrp(c->in_fd);

		if (fg > 0 && fg != getpgrp())
			return 0;
	}
	/* signals go to the other threads: this one only polls */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&c->thread, NULL, input_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return vmm_fail(-ret, "console: cannot start the input thread: %s", strerror(ret));
	c->thread_running = true;
	return 0;
}

void console_input_stop(struct console *c)
{
	uint64_t one = 1, v;

	if (!c || !c->thread_running)
		return;
	if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write of 1 cannot fail */
	pthread_join(c->thread, NULL);
	c->thread_running = false;
	if (read(c->stop_fd, &v, sizeof(v)) < 0)
		v = 0; /* reset: the next start waits again */
}

int console_fork_child(struct console *c)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0)
		return vmm_fail(-errno, "console: eventfd: %s", strerror(errno));
	/* the parent's eventfd is shared with it: a stop here must not wake the parent's input thread */
	close(c->stop_fd);
	c->stop_fd = fd;
	pthread_mutex_init(&c->out_lock, NULL);
	c->thread_running = false;
	c->in_fd = -1;
	c->pending_off = c->pending_len = 0;
	c->escape = false;
	c->raw = false;
	saved_tty_fd = -1;
	/* a --console file is the parent's: the child's guest output goes to its own stdout (the fork's console) */
	if (c->own_out) {
		close(c->out_fd);
		c->out_fd = STDOUT_FILENO;
		c->own_out = false;
	}
	c->out_len = 0;
	return 0;
}

/* ---- life cycle ---- */

int console_open(const struct console_config *cfg, struct console **out)
{
	struct console *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c)
		return vmm_fail(-ENOMEM, "out of memory for the console");
	c->kind = cfg->kind;
	c->in_fd = -1;
	c->out_fd = STDOUT_FILENO;
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_fd < 0) {
		ret = vmm_fail(-errno, "console: eventfd: %s", strerror(errno));
		free(c);
		return ret;
	}
	if (cfg->kind == CONSOLE_FILE) {
		c->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			ret = vmm_fail(-errno, "console file '%s': %s", cfg->path, strerror(errno));
			close(c->stop_fd);
			free(c);
			return ret;
		}
		c->own_out = true;
	} else {
		c->in_fd = STDIN_FILENO;
	}
	pthread_mutex_init(&c->out_lock, NULL);
	*out = c;
	return 0;
}

void console_close(struct console *c)
{
	if (!c)
		return;
	console_input_stop(c);
	console_flush(c);
	console_restore(c);
	if (c->own_out)
		close(c->out_fd);
	close(c->stop_fd);
	pthread_mutex_destroy(&c->out_lock);
	free(c);
}
