/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) over a tap device: a receive queue (0) and a
 * transmit queue (1), served by the device's own thread, never by a vCPU:
 * a notification only wakes the thread, which writes every transmit chain
 * to the tap (writev of its buffers) and reads the tap's frames into the
 * receive buffers the driver made available (readv), then interrupts the
 * guest. The tap speaks the guest's 12-byte virtio_net_hdr_v1 itself
 * (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so headers pass straight through.
 * No offloads yet: only MAC and STATUS (link up) are offered.
 *
 * Frames wait in the tap while the driver has no receive buffer. The thread
 * is stopped (what it took finished first) when the VM is paused, forked or
 * saved, and started again after, also in a forked child.
 */
#ifndef THPVM_DEV_VIRTIO_NET_H
#define THPVM_DEV_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include "virtio_mmio.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_HDR_BYTES 12u    /* struct virtio_net_hdr_v1: what a VERSION_1 driver uses */

/* Feature bits and the configuration's status (5.1.3, 5.1.4) */
#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1u

struct virtio_net;

struct virtio_net_config {
	const char *tap;            /* an existing tap's name, or one to create (CAP_NET_ADMIN) */
	uint8_t mac[6];
};

/*
 * Parses TAP=NAME[,mac=52:54:00:xx:xx:xx] (the --net option) into cfg
 * (cfg->tap points into name, IFNAMSIZ bytes); without mac= the MAC is
 * derived from the tap's name, the same every time. Returns 0 or -EINVAL
 * with vmm_last_error() naming the problem.
 */
int virtio_net_parse(const char *spec, struct virtio_net_config *cfg, char name[IFNAMSIZ]);

/*
 * Opens the tap (creating it, non-persistent, when it does not exist and
 * thpvm may) and makes the device. The transport t must have been
 * initialised with virtio_net_ops() and the returned *out as its opaque.
 * Returns 0 or -errno with vmm_last_error() naming the tap and the problem.
 */
int virtio_net_open(const struct virtio_net_config *cfg, struct virtio_net **out);
void virtio_net_close(struct virtio_net *n);

const struct virtio_device_ops *virtio_net_ops(const struct virtio_net *n);

/* Its thread: started with the transport it serves; stopped after what it took was written or delivered. */
int virtio_net_start(struct virtio_net *n, struct virtio_mmio *t);
void virtio_net_stop(struct virtio_net *n);

#endif
