/* SPDX-License-Identifier: MIT */
/* Parts of thpvm demo in their own files. */
#ifndef THPVM_DEMO_H
#define THPVM_DEMO_H

#include <stdint.h>

/*
 * thpvm demo --linux: boots the recipe's kernel + initramfs from guest_dir
 * (NULL: $THPVM_LINUX_GUEST_DIR, else the build tree's guests/linux) with
 * memory_bytes of RAM and runs memtest inside, where the host can boot Linux;
 * elsewhere explains why not and how to use the nested lab. Returns the exit status.
 */
int demo_linux(const char *guest_dir, uint64_t memory_bytes);

/* The guest RAM of the demo's VM parts in the nested lab, where every instruction is emulated. */
#define DEMO_LAB_MEMORY (256ULL << 20)

/*
 * Where /dev/kvm is not usable: says why (one line) and runs the VM parts of
 * thpvm demo in the nested lab (tests/lab/run.sh --demo: thpvm demo
 * --vm-parts inside L1) with memory_bytes, its lines on stdout. Returns the
 * lab's exit status: 0 when every part that ran succeeded.
 */
int demo_in_lab(const char *why, uint64_t memory_bytes);

#endif
