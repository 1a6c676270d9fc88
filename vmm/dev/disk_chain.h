/* SPDX-License-Identifier: MIT */
/*
 * A disk as a chain of copy-on-write layers over its image, so that VMs
 * forked from one another each go on with a disk of their own: layer 0 is
 * the image, every layer above it a sparse, nameless file (O_TMPFILE in
 * the image's directory) holding the 4 KiB clusters written since it was
 * pushed; a read takes each cluster from the topmost layer that has it, a
 * write goes to the top only (a partly written cluster the top lacks is
 * copied up first). Only the top is ever written: a layer with one above it
 * is frozen, and shared, through the file descriptors a fork inherits, by
 * every VM whose chain holds it; the image itself is never written once a
 * layer depends on it. Nameless layers cost nothing to clean up: they go
 * when the last VM holding them ends.
 *
 * A fork pushes a layer in the parent first (the parent's top is frozen,
 * its new top empty); the child then replaces that empty top with one of
 * its own, so no VM sees another's writes.
 */
#ifndef THPVM_DEV_DISK_CHAIN_H
#define THPVM_DEV_DISK_CHAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_CHAIN_MAX_LAYERS 16
#define DISK_CLUSTER_BYTES 4096u

struct disk_chain {
	int fds[DISK_CHAIN_MAX_LAYERS]; /* [0] the image (not ours to close) */
	uint64_t *present[DISK_CHAIN_MAX_LAYERS]; /* per layer >= 1: a bit per cluster it holds */
	unsigned nr_layers;
	uint64_t size_bytes;
	uint64_t nr_clusters;
	char dir[4096];                 /* where the layers are made: the image's directory */
};

/* A chain of the image alone (fd, size_bytes, its path for the layers' directory). */
int disk_chain_init(struct disk_chain *c, int image_fd, uint64_t size_bytes, const char *image_path);
/* Closes the layers (not the image). */
void disk_chain_fini(struct disk_chain *c);

/* A new empty top over the present one, which is frozen from now on. Returns 0 or -errno (vmm_fail). */
int disk_chain_push(struct disk_chain *c);
/* The top replaced by a new empty one (a forked child: the top it inherited is its parent's). */
int disk_chain_replace_top(struct disk_chain *c);

/* Whether reads and writes must go through the chain (there is a layer above the image). */
static inline bool disk_chain_layered(const struct disk_chain *c)
{
	return c->nr_layers > 1;
}

/*
 * Synchronous I/O through the chain, of whole 512-byte sectors inside the
 * disk: returns the bytes done or -errno. A write goes to the top alone.
 */
int64_t disk_chain_readv(struct disk_chain *c, const struct iovec *iov, unsigned nr_iov, uint64_t offset);
int64_t disk_chain_writev(struct disk_chain *c, const struct iovec *iov, unsigned nr_iov, uint64_t offset);
/*
 * The disk as the chain has it, flattened into out (a new, empty regular
 * file): sparse where the image and the layers hold nothing, and synced.
 * The chain must not change meanwhile (its I/O thread stopped).
 */
int disk_chain_copy(struct disk_chain *c, int out);
/* fdatasync of the layer writes go to. */
int disk_chain_flush(struct disk_chain *c);

#endif
