/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the snapshot-fork tests: a payload guest started and waiting
 * for a fork, vm_fork() with children that write what they saw to a report
 * file when their VM ends, and the reports read back in the parent.
 */
#ifndef THPVM_FORK_TEST_H
#define THPVM_FORK_TEST_H

#include <stdio.h>
#include "kvm_test.h"
#include "fork/fork.h"

/* A private directory for the children's reports; children left running are killed at teardown. */
void ft_setup(void);
void ft_teardown(void);
const char *ft_dir(void);

/* Starts the guest's vCPUs and waits until nr vCPUs poll the fork mailbox. Asserts. */
void ft_start(struct guest *g, unsigned nr_waiting);

/*
 * More for a child's report, written in the child after its VM ended
 * (its KVM objects still exist): "key=value" lines.
 */
typedef void (*ft_report_fn)(struct guest *g, FILE *out);

/* vm_fork() of g's VM into count children that report (payload results, status, extra) and exit. */
int ft_fork(struct guest *g, unsigned count, bool template, ft_report_fn report, struct vm_fork_reply *rep);

/* Waits for every child of g to be reaped; returns how many exited with status 0. Asserts on timeout. */
unsigned ft_wait_children(struct guest *g);
/* Why the last ft_wait_children() counted children as failed: their reports, one line. */
const char *ft_why(void);

/* A value child index reported (the last line with key); asserts it is there. */
uint64_t ft_value(unsigned index, const char *key);
/* Whether child index reported key; its value in *v. */
bool ft_has(unsigned index, const char *key, uint64_t *v);

/* splitmix64, as forktest's compute mode and tests/lib/helpers.c use it */
uint64_t ft_mix64(uint64_t x);

#endif
