/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.2, 5.4): one request queue; every buffer the driver
 * offers comes back filled from the host's getrandom(), so a guest never
 * waits for entropy (its boot, its first TLS handshake).
 */
#include "config.h"
#include <errno.h>
#include <sys/random.h>
#include "virtio_dev.h"

#define RNG_MAX_BUFS  16
#define RNG_MAX_BYTES (64u << 10) /* per request: a driver asking for more gets this much */

static void rng_notify(struct virtio_mmio *t, unsigned q)
{
	struct virtio_buf bufs[RNG_MAX_BUFS];
	bool used = false;
	uint16_t head;
	int n;

	while ((n = virtq_pop(t, q, bufs, RNG_MAX_BUFS, &head)) > 0) {
		uint32_t written = 0;

		for (int i = 0; i < n; i++) {
			uint32_t len = bufs[i].len;

			if (!bufs[i].device_writes || written >= RNG_MAX_BYTES)
				continue;
			if (len > RNG_MAX_BYTES - written)
				len = RNG_MAX_BYTES - written;
			for (uint32_t off = 0; off < len;) {
				ssize_t got = getrandom(bufs[i].hva + off, len - off, 0);

				if (got < 0 && errno == EINTR)
					continue;
				if (got <= 0)
					break;
				off += (uint32_t)got;
				written += (uint32_t)got;
			}
		}
		virtq_push(t, q, head, written);
		used = true;
	}
	if (used)
		virtq_notify_driver(t, q);
}

const struct virtio_device_ops virtio_rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.notify = rng_notify,
};
