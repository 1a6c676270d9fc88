/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (suite virtio_net): the test plays Linux's virtio_net driver
 * against the real transport and device, whose thread serves a real tap in
 * a network namespace the test makes (each Criterion test runs in a forked
 * process of its own: unshare(CLONE_NEWNET) there touches nothing of the
 * host's). The test is the tap's other side, the host's network stack: a
 * packet socket on the tap sees the frames the guest sends and sends frames
 * to the guest. Needs root (creating a tap) and /dev/net/tun.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dev/virtio_net.h"
#include "util/error.h"
#include "virtio_guest.h"

#define TAP        "vnet-test0"
#define ETHERTYPE  0x88b5           /* IEEE local experimental: nothing else on the tap speaks it */
#define FEATURES   ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS))
#define TX_GPA     0x20000u         /* transmit buffers, 2 KiB each, one per chain */
#define RX_GPA     0x60000u         /* receive buffers, 2 KiB each */
#define RX_BYTES   (VIRTIO_NET_HDR_BYTES + 1514u)
#define FRAME_LEN  64u

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct nic {
	struct vguest g;
	struct virtio_net *n;
	int pkt;                    /* the host's side: a packet socket on the tap */
	int ifindex;
	unsigned next_tx, next_rx;  /* descriptors */
};

/* The tap up, with an MTU below IPv6's minimum so the host's IPv6 sends nothing of its own into it. */
static void link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = 1200;
	cr_assert_eq(ioctl(s, SIOCSIFMTU, &ifr), 0, "SIOCSIFMTU: %s", strerror(errno));
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

static void nic_up(struct nic *d)
{
	struct virtio_net_config cfg;
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE) };
	char name[IFNAMSIZ];

	if (geteuid())
		cr_skip_test("virtio-net's tests create a tap in a network namespace of their own: they need root");
	if (access("/dev/net/tun", R_OK | W_OK))
		cr_skip_test("no /dev/net/tun here (the tun module?): virtio-net's tests need a tap");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	memset(d, 0, sizeof(*d));
	cr_assert_eq(virtio_net_parse("tap=" TAP ",mac=52:54:00:12:34:56", &cfg, name), 0, "%s", vmm_last_error());
	cr_assert_eq(virtio_net_open(&cfg, &d->n), 0, "%s", vmm_last_error());
	vg_init(&d->g, virtio_net_ops(d->n), d->n);
	cr_assert_eq(virtio_net_start(d->n, &d->g.t), 0, "%s", vmm_last_error());
	vg_driver_up_queues(&d->g, FEATURES, 2);
	cr_assert_neq(vg_rd(&d->g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	link_up(TAP);
	cr_assert_neq(d->ifindex = (int)if_nametoindex(TAP), 0);
	sll.sll_ifindex = d->ifindex;
	cr_assert_geq(d->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE)), 0);
	cr_assert_eq(bind(d->pkt, (struct sockaddr *)&sll, sizeof(sll)), 0, "%s", strerror(errno));
	cr_assert_eq(setsockopt(d->pkt, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void nic_down(struct nic *d)
{
	close(d->pkt);
	virtio_net_close(d->n);
	vg_fini(&d->g);
}

/* An Ethernet frame of FRAME_LEN bytes: broadcast, from src, ETHERTYPE, then tag repeated. */
static void frame(uint8_t *f, const uint8_t src[6], uint8_t tag)
{
	uint16_t type = htons(ETHERTYPE);

	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	memcpy(f + 12, &type, 2);
	memset(f + 14, tag, FRAME_LEN - 14);
}

/* The guest sends frame(tag): header and frame in two buffers, as Linux may lay them out. */
static void guest_send(struct nic *d, uint8_t tag, bool kick)
{
	uint64_t gpa = TX_GPA + 2048ull * (d->next_tx / 2); /* 64 chains of 2 in the queue: 128 KiB */
	uint16_t head = (uint16_t)d->next_tx;

	memset(d->g.ram + gpa, 0, VIRTIO_NET_HDR_BYTES);
	frame(d->g.ram + gpa + 64, guest_mac, tag);
	vgq_set_desc(&d->g, VIRTIO_NET_TXQ, head, gpa, VIRTIO_NET_HDR_BYTES, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
	vgq_set_desc(&d->g, VIRTIO_NET_TXQ, head + 1u, gpa + 64, FRAME_LEN, 0, 0);
	d->next_tx = (d->next_tx + 2) % VG_QSIZE;
	vgq_make_available(&d->g, VIRTIO_NET_TXQ, head, kick);
}

/* The guest offers receive buffer k (one device-writable descriptor, as Linux's small buffers are). */
static void guest_offer_rx(struct nic *d, unsigned k, uint16_t flags)
{
	uint16_t head = (uint16_t)(d->next_rx++ % VG_QSIZE);

	memset(d->g.ram + RX_GPA + 2048ull * k, 0xee, 2048);
	vgq_set_desc(&d->g, VIRTIO_NET_RXQ, head, RX_GPA + 2048ull * k, RX_BYTES, flags, 0);
	vgq_make_available(&d->g, VIRTIO_NET_RXQ, head, true);
}

/* The host sends frame(tag) out of the tap: toward the guest. */
static void host_send(struct nic *d, uint8_t tag)
{
	static const uint8_t host_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = d->ifindex, .sll_halen = 6 };
	uint8_t f[FRAME_LEN];

	frame(f, host_mac, tag);
	memset(to.sll_addr, 0xff, 6);
	cr_assert_eq(sendto(d->pkt, f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)sizeof(f), "%s",
		     strerror(errno));
}

/* Receive buffer k holds frame(tag) behind a header with num_buffers 1, and its used length says so. */
static void expect_rx(struct nic *d, unsigned used_i, unsigned k, uint8_t tag)
{
	uint8_t *b = d->g.ram + RX_GPA + 2048ull * k, want[FRAME_LEN];
	uint32_t id, len;

	vgq_used_elem(&d->g, VIRTIO_NET_RXQ, used_i, &id, &len);
	cr_expect_eq(len, VIRTIO_NET_HDR_BYTES + FRAME_LEN, "used length: header and frame");
	cr_expect(vg_all_zero(b, 10), "no offload: flags, gso, csum all zero");
	cr_expect(b[10] == 1 && b[11] == 0, "num_buffers 1");
	frame(want, (const uint8_t[6]){ 0x02, 0, 0, 0, 0, 1 }, tag);
	cr_expect_eq(memcmp(b + VIRTIO_NET_HDR_BYTES, want, FRAME_LEN), 0, "the frame as the host sent it (tag %u)", tag);
	cr_expect_eq(b[VIRTIO_NET_HDR_BYTES + FRAME_LEN], 0xee, "nothing written past it");
}

Test(virtio_net, identifies_with_its_mac_and_link_up)
{
	struct virtio_net_config a, b;
	char na[IFNAMSIZ], nb[IFNAMSIZ];
	struct nic d;
	uint8_t cfg[8];
	uint32_t v;

	nic_up(&d);
	cr_expect_eq(vg_rd(&d.g, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	vg_wr(&d.g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = vg_rd(&d.g, VIRTIO_MMIO_DEVICE_FEATURES);
	cr_expect_eq(v, (uint32_t)FEATURES, "MAC and STATUS, no offloads: 0x%x", v);
	cr_assert_eq(virtio_mmio_access(&d.g.t, VIRTIO_MMIO_CONFIG, false, cfg, 8), 0);
	cr_expect_eq(memcmp(cfg, guest_mac, 6), 0, "the MAC given");
	cr_expect(cfg[6] == VIRTIO_NET_S_LINK_UP && cfg[7] == 0, "link up");
	nic_down(&d);

	/* without mac=, one from the name: the same every time, another for another name */
	cr_assert_eq(virtio_net_parse("tap=thpvm0", &a, na), 0);
	cr_assert_eq(virtio_net_parse("tap=thpvm0", &b, nb), 0);
	cr_expect_eq(memcmp(a.mac, b.mac, 6), 0);
	cr_expect(a.mac[0] == 0x52 && a.mac[1] == 0x54 && a.mac[2] == 0);
	cr_assert_eq(virtio_net_parse("tap=thpvm1", &b, nb), 0);
	cr_expect_neq(memcmp(a.mac, b.mac, 6), 0);
}

Test(virtio_net, a_frame_the_guest_sends_comes_out_of_the_tap)
{
	uint8_t got[2048], want[FRAME_LEN];
	struct nic d;
	uint32_t id, len;

	nic_up(&d);
	guest_send(&d, 0x5a, true);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_TXQ, 1), "the transmit chain came back");
	vgq_used_elem(&d.g, VIRTIO_NET_TXQ, 0, &id, &len);
	cr_expect_eq(id, 0);
	cr_expect_eq(len, 0, "a transmit buffer is only read");
	cr_expect_geq(d.g.interrupts, 1);
	cr_assert_eq(recv(d.pkt, got, sizeof(got), 0), FRAME_LEN, "the host received it: %s", strerror(errno));
	frame(want, guest_mac, 0x5a);
	cr_expect_eq(memcmp(got, want, FRAME_LEN), 0, "as the guest wrote it, without the header");
	cr_expect_eq(d.g.errors, 0);
	nic_down(&d);
}

Test(virtio_net, a_frame_into_the_tap_lands_in_a_receive_buffer_with_its_header)
{
	struct nic d;

	nic_up(&d);
	for (unsigned k = 0; k < 4; k++)
		guest_offer_rx(&d, k, VIRTQ_DESC_F_WRITE);
	host_send(&d, 0x11);
	host_send(&d, 0x22);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 2), "two frames received: used %u", vgq_used_idx(&d.g, 0));
	expect_rx(&d, 0, 0, 0x11);
	expect_rx(&d, 1, 1, 0x22);
	cr_expect_geq(d.g.interrupts, 1);
	nic_down(&d);
}

/* Frames wait in the tap while the driver has no buffer, and come one a buffer when buffers come. */
Test(virtio_net, a_frame_waits_for_a_receive_buffer)
{
	struct timespec pause = { .tv_nsec = 200 * 1000000 };
	struct nic d;

	nic_up(&d);
	host_send(&d, 0x31);
	host_send(&d, 0x32);
	nanosleep(&pause, NULL);
	cr_expect_eq(vgq_used_idx(&d.g, VIRTIO_NET_RXQ), 0);
	guest_offer_rx(&d, 0, VIRTQ_DESC_F_WRITE);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 1));
	expect_rx(&d, 0, 0, 0x31);
	nanosleep(&pause, NULL);
	cr_expect_eq(vgq_used_idx(&d.g, VIRTIO_NET_RXQ), 1, "one buffer, one frame");
	guest_offer_rx(&d, 1, VIRTQ_DESC_F_WRITE);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 2), "the second frame waited for the second buffer");
	expect_rx(&d, 1, 1, 0x32);
	nic_down(&d);
}

Test(virtio_net, bad_chains_are_refused_and_a_broken_ring_waits_for_a_reset)
{
	uint8_t got[2048];
	struct nic d;
	uint32_t id, len;

	nic_up(&d);
	/* a receive buffer the device may not write: back unused, the frame waits for a good one */
	guest_offer_rx(&d, 0, 0);
	host_send(&d, 0x41);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 1));
	vgq_used_elem(&d.g, VIRTIO_NET_RXQ, 0, &id, &len);
	cr_expect_eq(len, 0, "a driver-readable receive buffer is not filled");
	guest_offer_rx(&d, 1, VIRTQ_DESC_F_WRITE);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 2));
	expect_rx(&d, 1, 1, 0x41);

	/* a transmit chain shorter than a header and a frame: dropped, nothing on the wire */
	vgq_set_desc(&d.g, VIRTIO_NET_TXQ, 0, TX_GPA, VIRTIO_NET_HDR_BYTES, 0, 0);
	vgq_make_available(&d.g, VIRTIO_NET_TXQ, 0, true);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_TXQ, 1));
	cr_assert_eq(setsockopt(d.pkt, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_usec = 200000 },
				sizeof(struct timeval)), 0);
	cr_expect_eq(recv(d.pkt, got, sizeof(got), 0), -1, "nothing sent");

	/* a loop: the transport's treatment, the device needs a reset and says so once */
	vgq_set_desc(&d.g, VIRTIO_NET_TXQ, 5, TX_GPA, 64, VIRTQ_DESC_F_NEXT, 5);
	vgq_make_available(&d.g, VIRTIO_NET_TXQ, 5, true);
	for (unsigned i = 0; i < 500 && !__atomic_load_n(&d.g.errors, __ATOMIC_SEQ_CST); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	cr_expect_eq(d.g.errors, 1, "said once");
	cr_expect(strstr(d.g.error, "queue 1"), "%s", d.g.error);
	cr_expect_neq(vg_rd(&d.g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

	/* reset and up again (the rings cleared first, as a driver's new ones are): it sends again */
	memset(d.g.ram + VG_AVAIL_GPA, 0, 0x8000 - VG_AVAIL_GPA);
	vg_driver_up_queues(&d.g, FEATURES, 2);
	d.g.avail_idx = d.g.avail_idx_more[0] = 0;
	d.next_tx = d.next_rx = 0;
	cr_expect_eq(vg_rd(&d.g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	cr_assert_eq(setsockopt(d.pkt, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
				sizeof(struct timeval)), 0);
	guest_send(&d, 0x42, true);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_TXQ, 1));
	cr_expect_eq(recv(d.pkt, got, sizeof(got), 0), FRAME_LEN, "sent after the reset");
	cr_expect_eq(got[20], 0x42);
	nic_down(&d);
}

/* A burst, the thread stopped (a pause) right after the doorbell: every frame is out when the stop returns. */
Test(virtio_net, a_stop_sends_everything_the_driver_gave)
{
	enum { N = 40 };
	uint8_t got[2048];
	struct nic d;

	nic_up(&d);
	for (unsigned k = 0; k < N; k++)
		guest_send(&d, (uint8_t)(k + 1), k == N - 1);
	virtio_net_stop(d.n);
	cr_expect_eq(vgq_used_idx(&d.g, VIRTIO_NET_TXQ), N, "all %d back when the stop returns", N);
	for (unsigned k = 0; k < N; k++) {
		cr_assert_eq(recv(d.pkt, got, sizeof(got), 0), FRAME_LEN, "frame %u: %s", k, strerror(errno));
		cr_expect_eq(got[20], k + 1, "in order");
	}
	/* started again (a resume): it goes on */
	cr_assert_eq(virtio_net_start(d.n, &d.g.t), 0);
	guest_offer_rx(&d, 0, VIRTQ_DESC_F_WRITE);
	host_send(&d, 0x77);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_RXQ, 1));
	expect_rx(&d, 0, 0, 0x77);
	nic_down(&d);
}

/* A forked child lets go of its parent's tap: its link goes down, what it sends is dropped; the parent's goes on. */
Test(virtio_net, a_forked_child_is_unplugged_and_its_parent_is_not)
{
	uint8_t got[2048], cfg[8];
	struct nic d;
	int status;
	pid_t pid;

	nic_up(&d);
	virtio_net_stop(d.n); /* a fork stops the devices first */
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned before = d.g.interrupts;
		int ok = !virtio_net_start(d.n, &d.g.t);

		ok = ok && !virtio_mmio_access(&d.g.t, VIRTIO_MMIO_CONFIG, false, cfg, 8) && cfg[6] == 0 && cfg[7] == 0;
		ok = ok && (vg_rd(&d.g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG) && d.g.interrupts > before;
		guest_send(&d, 0x11, true); /* into the void: the test's packet socket must not see it */
		ok = ok && vgq_wait_used(&d.g, VIRTIO_NET_TXQ, 1);
		virtio_net_close(d.n);
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw its link go down and its frame taken");
	cr_assert_eq(virtio_net_start(d.n, &d.g.t), 0);
	cr_assert_eq(virtio_mmio_access(&d.g.t, VIRTIO_MMIO_CONFIG, false, cfg, 8), 0);
	cr_expect(cfg[6] == VIRTIO_NET_S_LINK_UP, "the parent's link is up");
	guest_send(&d, 0x22, true);
	cr_assert(vgq_wait_used(&d.g, VIRTIO_NET_TXQ, 1));
	cr_assert_eq(recv(d.pkt, got, sizeof(got), 0), FRAME_LEN, "%s", strerror(errno));
	cr_expect_eq(got[14], 0x22, "the parent's frame, not the child's");
	nic_down(&d);
}

Test(virtio_net, the_net_option_names_its_problem)
{
	struct virtio_net_config cfg;
	char name[IFNAMSIZ];

	cr_expect_eq(virtio_net_parse("tap=t0,speed=1", &cfg, name), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "unknown option 'speed=1'"), "%s", vmm_last_error());
	cr_expect_eq(virtio_net_parse("mac=52:54:00:00:00:01", &cfg, name), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "expected tap=NAME"), "%s", vmm_last_error());
	cr_expect_eq(virtio_net_parse("tap=a/b", &cfg, name), -EINVAL);
	cr_expect_eq(virtio_net_parse("tap=0123456789abcdef", &cfg, name), -EINVAL, "16 characters");
	cr_expect_eq(virtio_net_parse("tap=0123456789abcde", &cfg, name), 0, "15 characters");
	cr_expect_eq(virtio_net_parse("tap=t0,mac=ff:ff:ff:ff:ff:ff", &cfg, name), -EINVAL, "broadcast");
	cr_expect_eq(virtio_net_parse("tap=t0,mac=00:00:00:00:00:00", &cfg, name), -EINVAL);
	cr_expect_eq(virtio_net_parse("tap=t0,mac=52:54:00:1:34:56", &cfg, name), -EINVAL);
	cr_expect_eq(virtio_net_parse("tap=t0,mac=52-54-00-12-34-56", &cfg, name), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "is not a unicast MAC address"), "%s", vmm_last_error());
	cr_assert_eq(virtio_net_parse("tap=t0,mac=52:54:00:AB:cd:0f", &cfg, name), 0);
	cr_expect_eq(memcmp(cfg.mac, ((const uint8_t[6]){ 0x52, 0x54, 0, 0xab, 0xcd, 0x0f }), 6), 0);
	cr_expect_str_eq(cfg.tap, "t0");
}
