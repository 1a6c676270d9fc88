/* SPDX-License-Identifier: MIT */
/*
 * A Linux guest's console, the outside end of its COM1 UART: guest output to
 * stdout or a file; input from stdin through a thread that feeds the UART.
 * When stdin is a terminal it is put in raw mode while the guest runs and
 * restored on every way out (normal end, guest error, signals, crashes).
 * Escape keys on stdio input: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A,
 * Ctrl-A h prints the list (like QEMU's -nographic). docs/linux-boot.md.
 */
#ifndef THPVM_CONSOLE_H
#define THPVM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE_KEY 0x01 /* Ctrl-A */

enum console_kind {
	CONSOLE_STDIO,  /* output to stdout, input from stdin */
	CONSOLE_FILE,   /* output to a file (created or truncated), no input */
};

struct console_config {
	enum console_kind kind;
	const char *path;   /* CONSOLE_FILE */
};

/* Parses "stdio" or "file:PATH". Returns 0 or -EINVAL with vmm_last_error() set. */
int console_parse(const char *spec, struct console_config *out);

struct console;

/* Input from the outside goes to sink (the UART: returns how many bytes it took, 0 when full). */
typedef size_t (*console_sink_fn)(void *arg, const uint8_t *buf, size_t len);
/* The user typed the quit escape (Ctrl-A x). */
typedef void (*console_quit_fn)(void *arg);

/* Opens the output (a file is created 0644 or truncated). Nothing else changes yet. Returns 0 or -errno. */
int console_open(const struct console_config *cfg, struct console **out);
/* Stops input, restores the terminal, closes the file. NULL is fine. */
void console_close(struct console *c);

/* Where input goes. Before console_input_start(). */
void console_attach(struct console *c, console_sink_fn sink, console_quit_fn quit, void *arg);

/*
 * Raw mode when stdin is a terminal this process may change (not for a
 * background job); the original settings are restored by console_restore(),
 * console_close(), at exit and from fatal signals. Returns 0 or -errno.
 */
int console_raw(struct console *c);
void console_restore(struct console *c);
/* Whether console_raw() put the terminal in raw mode (and the escape keys matter to a user). */
bool console_is_raw(const struct console *c);

/*
 * The input thread (stdio consoles only; a no-op otherwise). Stop joins it,
 * so nothing reaches the guest until start: the UART device's stop/start
 * hooks for pause and fork. Bytes already read are kept for the next start.
 */
int console_input_start(struct console *c);
void console_input_stop(struct console *c);

/* Guest output: queues one byte (cheap; called with the UART's lock held). */
void console_put(struct console *c, uint8_t byte);
/* Writes what is queued (outside the UART's lock). */
void console_flush(struct console *c);

/*
 * In a forked child (a vm_hooks fork_child): the child reads no stdin (its
 * parent does; a child's input comes through its control socket's console
 * command), leaves the terminal to the parent, and gets its own wake-up fd.
 * Its guest output goes to its stdout (the fork's console file, or the
 * parent's stdout with console=inherit), also when the parent's console is a
 * --console file, which stays the parent's. Returns 0 or -errno.
 */
int console_fork_child(struct console *c);

/* Bytes the guest has written so far (for reports and tests). */
uint64_t console_nr_out(const struct console *c);

#endif
