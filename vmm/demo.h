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

#endif
