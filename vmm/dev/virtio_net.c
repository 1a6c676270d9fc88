/* SPDX-License-Identifier: MIT */
/* virtio-net over a tap device (virtio_net.h). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include "virtio_net.h"
#include "util/error.h"

#define NET_MAX_BUFS VIRTIO_QUEUE_MAX /* a chain as long as the queue: only a loop is longer */
#define ETH_HEADER   14u
#define RX_ERRORS_PER_ROUND 64        /* frames the tap failed to hand over before the thread waits again */

struct virtio_net {
	struct virtio_device_ops ops;
	int tap_fd;                 /* -1 in a forked child: the tap is its parent's */
	pid_t pid;                  /* the process that opened the tap */
	char name[IFNAMSIZ];
	uint8_t mac[6];

	/* the device's thread */
	struct virtio_mmio *t;
	bool running, stopping;
	int kick_fd;
	bool kick_attached;         /* both queues' notifications reach kick_fd inside KVM (ioeventfd) */
	pthread_t thread;
};

static struct virtio_net *net_of(struct virtio_mmio *t)
{
	return t->opaque;
}

/* A notification (a frame to send, or receive buffers): wake the thread, nothing else on the vCPU. */
static void net_notify(struct virtio_mmio *t, unsigned q)
{
	struct virtio_net *n = net_of(t);
	uint64_t one = 1;

	(void)q;
	if (n->kick_fd >= 0 && write(n->kick_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only when the counter would overflow: the thread is already woken */
	}
}

/* struct virtio_net_config: mac, status (link up); no multiqueue, no MTU. */
static void net_config_read(struct virtio_mmio *t, uint32_t offset, uint8_t *data, unsigned len)
{
	struct virtio_net *n = net_of(t);
	uint8_t cfg[12] = { 0 };
	uint16_t status = n->tap_fd >= 0 ? VIRTIO_NET_S_LINK_UP : 0;

	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	if (offset < sizeof(cfg))
		memcpy(data, cfg + offset, len < sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

/* A chain's buffers as iovecs when all go the one way (device_writes), else -1; *bytes their total. */
static int chain_iov(const struct virtio_buf *bufs, int k, bool device_writes, struct iovec *iov, uint64_t *bytes)
{
	int nr = 0;

	*bytes = 0;
	for (int i = 0; i < k; i++) {
		if (bufs[i].device_writes != device_writes)
			return -1;
		if (!bufs[i].len)
			continue;
		iov[nr++] = (struct iovec){ .iov_base = bufs[i].hva, .iov_len = bufs[i].len };
		*bytes += bufs[i].len;
	}
	return nr;
}

/*
 * Every transmit chain to the tap: header and frame, as the driver wrote
 * them. A chain the tap refuses (or one with a device-writable buffer, or
 * shorter than the header) is dropped, as a wire drops a bad frame; each
 * goes back to the driver, which frees it.
 */
static void tx_all(struct virtio_net *n)
{
	struct virtio_buf bufs[NET_MAX_BUFS];
	struct iovec iov[NET_MAX_BUFS];
	bool sent = false;

	for (;;) {
		uint64_t bytes;
		uint16_t head;
		int k, nr;

		pthread_mutex_lock(&n->t->lock);
		k = virtq_live(n->t, VIRTIO_NET_TXQ) ? virtq_pop(n->t, VIRTIO_NET_TXQ, bufs, NET_MAX_BUFS, &head) : 0;
		pthread_mutex_unlock(&n->t->lock);
		if (k <= 0)
			break;
		/* unlocked: the tap's write may run the host's whole receive path */
		nr = chain_iov(bufs, k, false, iov, &bytes);
		if (nr > 0 && bytes >= VIRTIO_NET_HDR_BYTES + ETH_HEADER)
			while (writev(n->tap_fd, iov, nr) < 0 && errno == EINTR)
				;
		pthread_mutex_lock(&n->t->lock);
		virtq_push(n->t, VIRTIO_NET_TXQ, head, 0);
		pthread_mutex_unlock(&n->t->lock);
		sent = true;
	}
	if (sent) {
		pthread_mutex_lock(&n->t->lock);
		virtq_notify_driver(n->t, VIRTIO_NET_TXQ);
		pthread_mutex_unlock(&n->t->lock);
	}
}

/* num_buffers (bytes 10-11 of the header, maybe across buffers): 1 without MRG_RXBUF; the tap leaves them alone. */
static void set_num_buffers(const struct iovec *iov, int nr)
{
	static const uint8_t one_le[2] = { 1, 0 };

	for (size_t b = 0; b < 2; b++) {
		size_t off = 10 + b;

		for (int i = 0; i < nr; i++) {
			if (off < iov[i].iov_len) {
				((uint8_t *)iov[i].iov_base)[off] = one_le[b];
				break;
			}
			off -= iov[i].iov_len;
		}
	}
}

/*
 * The tap's frames into receive buffers, while both are there. Returns
 * true when the tap ran dry (wait for it to be readable), false when the
 * driver has no buffer left (wait for its notification; frames wait in
 * the tap). Locked throughout: a non-blocking read of one frame is short,
 * and a chain taken but not filled goes back where it was.
 */
static bool rx_frames(struct virtio_net *n)
{
	struct virtio_buf bufs[NET_MAX_BUFS];
	struct iovec iov[NET_MAX_BUFS];
	bool delivered = false, tap_dry = false;
	unsigned errors = 0;

	pthread_mutex_lock(&n->t->lock);
	for (;;) {
		uint64_t bytes;
		uint16_t head;
		ssize_t got;
		int k, nr;

		k = virtq_live(n->t, VIRTIO_NET_RXQ) ? virtq_pop(n->t, VIRTIO_NET_RXQ, bufs, NET_MAX_BUFS, &head) : 0;
		if (k <= 0)
			break;
		nr = chain_iov(bufs, k, true, iov, &bytes);
		if (nr <= 0 || bytes < VIRTIO_NET_HDR_BYTES + ETH_HEADER) {
			/* not a receive buffer (driver-readable, or too small for any frame): back unused */
			virtq_push(n->t, VIRTIO_NET_RXQ, head, 0);
			delivered = true;
			continue;
		}
		got = readv(n->tap_fd, iov, nr);
		if (got < 0) {
			virtq_unpop(n->t, VIRTIO_NET_RXQ);
			if (errno == EINTR)
				continue;
			/* EAGAIN: nothing to read; anything else: that frame was lost (too large for the buffer) */
			if (errno == EAGAIN || ++errors == RX_ERRORS_PER_ROUND) {
				tap_dry = true;
				break;
			}
			continue;
		}
		set_num_buffers(iov, nr);
		virtq_push(n->t, VIRTIO_NET_RXQ, head, (uint32_t)got);
		delivered = true;
	}
	if (delivered)
		virtq_notify_driver(n->t, VIRTIO_NET_RXQ);
	pthread_mutex_unlock(&n->t->lock);
	return tap_dry;
}

static void *net_thread(void *arg)
{
	struct virtio_net *n = arg;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = n->kick_fd, .events = POLLIN }, { .fd = n->tap_fd } };
		uint64_t v;
		bool tap_dry;

		tx_all(n);
		tap_dry = rx_frames(n);
		/* stopping (the vCPUs are paused): what the driver gave is sent, what could be delivered is */
		if (__atomic_load_n(&n->stopping, __ATOMIC_ACQUIRE))
			break;
		/* the tap only when there is a buffer to read into: else its frames would wake us for nothing */
		pfd[1].events = tap_dry ? POLLIN : 0;
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[0].revents & POLLIN && read(n->kick_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else's wake-up already taken; nothing lost, the loop looks again */
		}
	}
	return NULL;
}

/*
 * A forked child: the tap stays its parent's (two VMs on one tap would send
 * from one MAC and take each other's frames). The child lets go of it and
 * its guest sees the link go down (a configuration change): what it sends
 * is dropped, nothing arrives, as on an unplugged cable.
 */
static void unplug(struct virtio_net *n, struct virtio_mmio *t)
{
	close(n->tap_fd);
	n->tap_fd = -1;
	pthread_mutex_lock(&t->lock);
	t->config_generation++;
	t->isr |= VIRTIO_INT_CONFIG;
	t->env.interrupt(t->env.ctx);
	pthread_mutex_unlock(&t->lock);
}

int virtio_net_start(struct virtio_net *n, struct virtio_mmio *t)
{
	int ret;

	if (n->running)
		return 0;
	if (n->pid != getpid() && n->tap_fd >= 0)
		unplug(n, t);
	n->t = t;
	if ((n->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return vmm_fail(-errno, "tap '%s': eventfd: %s", n->name, strerror(errno));
	n->stopping = false;
	if ((ret = pthread_create(&n->thread, NULL, net_thread, n))) {
		close(n->kick_fd);
		n->kick_fd = -1;
		return vmm_fail(-ret, "tap '%s': cannot start the device's thread: %s", n->name, strerror(ret));
	}
	n->running = true;
	n->kick_attached = virtio_mmio_attach_kick(t, VIRTIO_NET_RXQ, n->kick_fd);
	if (n->kick_attached && !virtio_mmio_attach_kick(t, VIRTIO_NET_TXQ, n->kick_fd)) {
		virtio_mmio_detach_kick(t, VIRTIO_NET_RXQ, n->kick_fd);
		n->kick_attached = false;
	}
	return 0;
}

void virtio_net_stop(struct virtio_net *n)
{
	uint64_t one = 1;

	if (!n->running)
		return;
	__atomic_store_n(&n->stopping, true, __ATOMIC_RELEASE);
	if (write(n->kick_fd, &one, sizeof(one)) < 0) {
		/* cannot fail: the counter is far from overflowing */
	}
	pthread_join(n->thread, NULL);
	if (n->kick_attached) {
		virtio_mmio_detach_kick(n->t, VIRTIO_NET_RXQ, n->kick_fd);
		virtio_mmio_detach_kick(n->t, VIRTIO_NET_TXQ, n->kick_fd);
	}
	n->kick_attached = false;
	close(n->kick_fd);
	n->kick_fd = -1;
	n->running = false;
}

/* What the kernel's TUNSETIFF refusal means for the user. */
static const char *tap_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (creating a tap needs CAP_NET_ADMIN; or let its user have one: ip tuntap add NAME mode tap user USER)";
	case EBUSY:
		return " (another process has it open)";
	case EINVAL:
		return " (an interface of that name that is not a single-queue tap?)";
	default:
		return "";
	}
}

static int tap_open(const char *name, int *out)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, hdr = VIRTIO_NET_HDR_BYTES, err;

	/* non-blocking: the thread reads only what is there, and waits in poll() */
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)) < 0) {
		err = errno;
		return vmm_fail(-err, "tap '%s': cannot open /dev/net/tun: %s%s", name, strerror(err),
				err == ENOENT ? " (no tun module?)" : "");
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		err = errno;
		close(fd);
		return vmm_fail(-err, "tap '%s': %s%s", name, strerror(err), tap_hint(err));
	}
	/*
	 * The guest's header as is (virtio_net_hdr_v1, 12 bytes), and no offload
	 * the guest was not offered: an existing tap keeps what its last user set.
	 */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) || ioctl(fd, TUNSETOFFLOAD, 0)) {
		err = errno;
		close(fd);
		return vmm_fail(-err, "tap '%s': cannot set its virtio header: %s", name, strerror(err));
	}
	*out = fd;
	return 0;
}

int virtio_net_open(const struct virtio_net_config *cfg, struct virtio_net **out)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		return vmm_fail(-ENOMEM, "out of memory for tap '%s'", cfg->tap);
	if ((ret = tap_open(cfg->tap, &n->tap_fd))) {
		free(n);
		return ret;
	}
	snprintf(n->name, sizeof(n->name), "%s", cfg->tap);
	memcpy(n->mac, cfg->mac, 6);
	n->kick_fd = -1;
	n->pid = getpid();
	n->ops = (struct virtio_device_ops){
		.device_id = VIRTIO_ID_NET,
		.features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS),
		.nr_queues = 2,
		.notify = net_notify,
		.config_read = net_config_read,
	};
	*out = n;
	return 0;
}

void virtio_net_close(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_net_stop(n);
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	free(n);
}

const struct virtio_device_ops *virtio_net_ops(const struct virtio_net *n)
{
	return &n->ops;
}
