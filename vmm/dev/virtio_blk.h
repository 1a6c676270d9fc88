/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) over a raw image file: one request queue,
 * served by the disk's own I/O thread on io_uring (liburing), never on a
 * vCPU thread: a notification only wakes the thread, which takes every
 * available request, submits reads and writes straight between the file
 * and guest RAM (readv/writev on iovecs into guest memory), and returns
 * each request with its status when it completes. A guest flush is an
 * fdatasync of the image, so what the guest synced is on the host's disk.
 *
 * The thread is stopped (every request in flight completed first) when the
 * VM is paused, forked or saved, and started again after, also in a forked
 * child, which gets its own thread and ring, and a disk of its own: a
 * forked disk is a chain of copy-on-write layers (disk_chain.h), whose
 * requests the thread does synchronously through the chain.
 */
#ifndef THPVM_DEV_VIRTIO_BLK_H
#define THPVM_DEV_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include "virtio_mmio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_SEG_MAX 126u     /* data buffers a request may have (QEMU's default) */
#define VIRTIO_BLK_ID_BYTES 20u

/* Request types and statuses (5.2.6) */
#define VIRTIO_BLK_T_IN     0u
#define VIRTIO_BLK_T_OUT    1u
#define VIRTIO_BLK_T_FLUSH  4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_S_OK     0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9
#define VIRTIO_BLK_F_DISCARD  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_ZERO_MAX_SECTORS (1u << 22) /* a discard or write-zeroes segment: 2 GiB at most */

struct virtio_blk;

struct virtio_blk_config {
	const char *path;           /* a raw image: a regular file or a block device */
	bool readonly;
	bool snapshot;              /* the image read-only, the guest's writes in a private layer (QEMU's -snapshot) */
};

/*
 * Opens the image (read-only when asked; a writable image is locked
 * against a second writer with an OFD lock) and makes the device. The
 * transport t must have been initialised with virtio_blk_ops and the
 * returned *out as its opaque. Returns 0 or -errno with vmm_last_error()
 * naming the file and the problem.
 */
int virtio_blk_open(const struct virtio_blk_config *cfg, struct virtio_blk **out);
void virtio_blk_close(struct virtio_blk *b);

/* The transport's device: ID, features (RO when read-only), configuration, notify. */
const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *b);

/* Its I/O thread: started with the transport it serves; stopped after every request in flight completed. */
int virtio_blk_start(struct virtio_blk *b, struct virtio_mmio *t);
void virtio_blk_stop(struct virtio_blk *b);

uint64_t virtio_blk_capacity_sectors(const struct virtio_blk *b);

/*
 * For a fuzzer or a test that must be deterministic: plays the I/O thread
 * once on the caller's thread (the thread stopped), taking every request
 * available on t and answering each before it returns. Only a disk whose
 * requests are synchronous, one with a layer over its image (opened with
 * snapshot, or forked); any other disk's I/O needs the thread's io_uring:
 * -EINVAL. The transport unlocked, as the thread finds it.
 */
int virtio_blk_serve_now(struct virtio_blk *b, struct virtio_mmio *t);

/*
 * Fork (disk_chain.h): in the parent before the fork, the I/O thread
 * stopped and, for a writable disk, a copy-on-write layer pushed (the disk
 * as it is now is frozen for parent and children alike); the thread starts
 * again at the resume, or at fork_parent for a fork that failed first. In a
 * child, its start replaces the inherited top with a layer of its own.
 */
int virtio_blk_fork_prepare(struct virtio_blk *b);
void virtio_blk_fork_parent(struct virtio_blk *b);
/*
 * The disk as the guest sees it, flattened into a new sparse file at path
 * (a snapshot on disk: the I/O thread is stopped). Returns 0 or -errno
 * with vmm_last_error().
 */
int virtio_blk_save_copy(struct virtio_blk *b, const char *path);
bool virtio_blk_readonly(const struct virtio_blk *b);
/* Whether the guest's notifications reach its thread inside KVM (ioeventfd), not through an exit. */
bool virtio_blk_kick_attached(const struct virtio_blk *b);
/* Layers in its chain: 1 for the image alone. */
unsigned virtio_blk_layers(const struct virtio_blk *b);

#endif
