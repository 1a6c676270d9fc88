/* SPDX-License-Identifier: MIT */
/* The virtio-mmio transport and split virtqueues (virtio_mmio.h). */
#include "config.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "virtio_mmio.h"

void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *opaque,
		      const struct virtio_env *env)
{
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	t->opaque = opaque;
	t->env = *env;
	pthread_mutex_init(&t->lock, NULL);
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

static void reset_locked(struct virtio_mmio *t)
{
	t->status = t->isr = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
	t->driver_features = 0;
	memset(t->q, 0, sizeof(t->q));
}

void virtio_mmio_reset(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	reset_locked(t);
	pthread_mutex_unlock(&t->lock);
}

static uint64_t device_features(const struct virtio_mmio *t)
{
	return t->ops->features | (1ull << VIRTIO_F_VERSION_1);
}

/* The queue QueueSel names, or NULL when the device has no such queue. */
static struct virtq *selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->nr_queues ? &t->q[t->queue_sel] : NULL;
}

static void set_half(uint64_t *v, bool high, uint32_t x)
{
	*v = high ? (*v & 0xffffffffull) | ((uint64_t)x << 32) : (*v & ~0xffffffffull) | x;
}

/*
 * FEATURES_OK only when the driver took nothing we did not offer and took
 * VERSION_1 (a legacy driver cannot drive us); otherwise the bit does not
 * stick and the driver, reading it back, gives up (3.1.1).
 */
static void write_status(struct virtio_mmio *t, uint32_t v)
{
	if (!v) {
		reset_locked(t);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((t->driver_features & ~device_features(t)) || !(t->driver_features & (1ull << VIRTIO_F_VERSION_1))))
		v &= ~VIRTIO_STATUS_FEATURES_OK;
	t->status = v | (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static uint32_t read_reg(struct virtio_mmio *t, uint32_t off)
{
	struct virtq *q = selected(t);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION_REG:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID_REG:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->device_features_sel < 2 ? (uint32_t)(device_features(t) >> (32 * t->device_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? VIRTIO_QUEUE_MAX : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q && q->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->isr;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	default:
		return 0;
	}
}

static void write_queue_reg(struct virtio_mmio *t, struct virtq *q, uint32_t off, uint32_t v)
{
	/* a queue's layout is fixed once it is ready (4.2.2.2) */
	if (q->ready && off != VIRTIO_MMIO_QUEUE_READY)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		/* a power of two no larger than offered; anything else leaves the queue unusable */
		q->num = v && v <= VIRTIO_QUEUE_MAX && !(v & (v - 1)) ? v : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		q->ready = v == 1 && q->num;
		if (q->ready)
			q->last_avail = q->used_idx = 0, q->broken = false;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		set_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		set_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	}
	(void)t;
}

static void write_reg(struct virtio_mmio *t, uint32_t off, uint32_t v)
{
	struct virtq *q = selected(t);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* features are negotiated before FEATURES_OK, and fixed after */
		if (t->driver_features_sel < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&t->driver_features, t->driver_features_sel == 1, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (q)
			write_queue_reg(t, q, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* only a running driver's ready, unbroken queues do anything */
		if (v < t->ops->nr_queues && t->q[v].ready && !t->q[v].broken &&
		    (t->status & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
			t->ops->notify(t, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~v;
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, v);
		break;
	}
}

int virtio_mmio_access(struct virtio_mmio *t, uint32_t offset, bool is_write, uint8_t *data, unsigned size)
{
	uint32_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		/* the device's configuration: read-only for the devices we have */
		if (!is_write) {
			memset(data, 0, size);
			if (t->ops->config_read)
				t->ops->config_read(t, offset - VIRTIO_MMIO_CONFIG, data, size);
		}
	} else if (size != 4 || (offset & 3)) {
		if (!is_write)
			memset(data, 0, size);
	} else if (is_write) {
		memcpy(&v, data, 4);
		write_reg(t, offset, v);
	} else {
		v = read_reg(t, offset);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

bool virtio_mmio_attach_kick(struct virtio_mmio *t, unsigned q, int fd)
{
	return t->env.attach_kick && !t->env.attach_kick(t->env.ctx, q, fd, true);
}

void virtio_mmio_detach_kick(struct virtio_mmio *t, unsigned q, int fd)
{
	if (t->env.attach_kick)
		t->env.attach_kick(t->env.ctx, q, fd, false);
}

/* ---- split virtqueues ---- */

bool virtq_live(const struct virtio_mmio *t, unsigned q)
{
	return q < t->ops->nr_queues && t->q[q].ready && !t->q[q].broken && (t->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct virtq_used_elem {
	uint32_t id, len;
};

__attribute__((format(printf, 3, 4))) static int ring_error(struct virtio_mmio *t, struct virtq *q, const char *fmt,
								 ...)
{
	char msg[200];
	va_list ap;

	q->broken = true;
	t->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	t->isr |= VIRTIO_INT_CONFIG;
	if (!t->said_guest_error && t->env.guest_error) {
		t->said_guest_error = true;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		t->env.guest_error(t->env.ctx, msg);
	}
	t->env.interrupt(t->env.ctx);
	return -EINVAL;
}

/* Where the specification puts each part of a split ring (2.7): the loads and stores below rely on it. */
#define DESC_ALIGN  16u
#define AVAIL_ALIGN 2u
#define USED_ALIGN  4u

/*
 * A ring's part in host memory, or NULL when the guest put it outside its
 * RAM or not aligned as the specification requires (RAM is page-aligned on
 * the host too, so an aligned gpa is an aligned pointer: a misaligned one
 * is undefined in C, and not atomic across cache lines).
 */
static void *ring_part(struct virtio_mmio *t, uint64_t gpa, uint64_t len, unsigned align)
{
	return gpa % align ? NULL : t->env.gpa_to_hva(t->env.ctx, gpa, len);
}

int virtq_pop(struct virtio_mmio *t, unsigned qi, struct virtio_buf *bufs, unsigned max, uint16_t *head)
{
	struct virtq *q = &t->q[qi];
	struct virtq_desc *desc = ring_part(t, q->desc_gpa, (uint64_t)q->num * sizeof(*desc), DESC_ALIGN);
	uint16_t *avail = ring_part(t, q->avail_gpa, 4 + 2ull * q->num, AVAIL_ALIGN);
	unsigned n = 0;
	uint16_t idx, i;

	/* a device that said it needs a reset takes nothing more until it gets one, whichever queue broke */
	if (q->broken || (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		return 0;
	if (!desc || !avail)
		return ring_error(t, q, "queue %u: its rings lie outside guest RAM or are misaligned (descriptors "
				  "at 0x%llx, available ring at 0x%llx)", qi, (unsigned long long)q->desc_gpa,
				  (unsigned long long)q->avail_gpa);
	idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	if (idx == q->last_avail)
		return 0;
	if ((uint16_t)(idx - q->last_avail) > q->num)
		return ring_error(t, q, "queue %u: the driver made %u buffers available at once", qi,
				  (unsigned)(uint16_t)(idx - q->last_avail));
	i = avail[2 + q->last_avail % q->num];
	*head = i;
	for (;;) {
		struct virtq_desc d;

		if (i >= q->num)
			return ring_error(t, q, "queue %u: descriptor index %u is past the queue's end", qi, (unsigned)i);
		if (n == max || n == q->num)
			return ring_error(t, q, "queue %u: a descriptor chain longer than %u (a loop?)", qi,
					  n < max ? q->num : max);
		memcpy(&d, &desc[i], sizeof(d));
		bufs[n].hva = NULL;
		if (d.len && !(bufs[n].hva = t->env.gpa_to_hva(t->env.ctx, d.addr, d.len)))
			return ring_error(t, q, "queue %u: a buffer at 0x%llx lies outside guest RAM", qi,
					  (unsigned long long)d.addr);
		bufs[n].len = d.len;
		bufs[n].device_writes = d.flags & VIRTQ_DESC_F_WRITE;
		n++;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
	}
	q->last_avail++;
	return (int)n;
}

void virtq_unpop(struct virtio_mmio *t, unsigned qi)
{
	t->q[qi].last_avail--;
}

void virtq_push(struct virtio_mmio *t, unsigned qi, uint16_t head, uint32_t written)
{
	struct virtq *q = &t->q[qi];
	uint16_t *used = ring_part(t, q->used_gpa, 4 + 8ull * q->num, USED_ALIGN);
	struct virtq_used_elem e = { .id = head, .len = written };

	if (!used) {
		ring_error(t, q, "queue %u: its used ring lies outside guest RAM or is misaligned (0x%llx)", qi,
			   (unsigned long long)q->used_gpa);
		return;
	}
	memcpy((uint8_t *)used + 4 + 8 * (q->used_idx % q->num), &e, sizeof(e));
	q->used_idx++;
	/* the element before the index that publishes it */
	__atomic_store_n(&used[1], q->used_idx, __ATOMIC_RELEASE);
}

void virtq_notify_driver(struct virtio_mmio *t, unsigned qi)
{
	struct virtq *q = &t->q[qi];
	uint16_t *avail = ring_part(t, q->avail_gpa, 4, AVAIL_ALIGN);

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* our used index before the driver's flags */
	if (avail && (__atomic_load_n(&avail[0], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT))
		return;
	t->isr |= VIRTIO_INT_USED_RING;
	t->env.interrupt(t->env.ctx);
}

/* ---- state ---- */

json_t *virtio_mmio_save(struct virtio_mmio *t)
{
	json_t *o, *qs = json_array();

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->ops->nr_queues; i++) {
		const struct virtq *q = &t->q[i];

		json_array_append_new(qs, json_pack("{s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "num", (json_int_t)q->num,
						    "ready", q->ready, "desc", (json_int_t)q->desc_gpa, "avail",
						    (json_int_t)q->avail_gpa, "used", (json_int_t)q->used_gpa,
						    "last_avail", (json_int_t)q->last_avail, "used_idx",
						    (json_int_t)q->used_idx, "broken", q->broken));
	}
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "status", (json_int_t)t->status, "isr",
		      (json_int_t)t->isr, "device_features_sel", (json_int_t)t->device_features_sel,
		      "driver_features_sel", (json_int_t)t->driver_features_sel, "queue_sel",
		      (json_int_t)t->queue_sel, "driver_features", (json_int_t)t->driver_features,
		      "config_generation", (json_int_t)t->config_generation, "queues", qs);
	pthread_mutex_unlock(&t->lock);
	return o;
}

int virtio_mmio_restore(struct virtio_mmio *t, const json_t *state)
{
	json_int_t status, isr, dsel, drsel, qsel, feat, gen;
	struct virtq q[VIRTIO_MAX_QUEUES] = { 0 };
	json_t *qs;
	size_t i;

	if (json_unpack((json_t *)state, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "status", &status, "isr", &isr,
			"device_features_sel", &dsel, "driver_features_sel", &drsel, "queue_sel", &qsel,
			"driver_features", &feat, "config_generation", &gen, "queues", &qs) ||
	    !json_is_array(qs) || json_array_size(qs) != t->ops->nr_queues)
		return -EINVAL;
	for (i = 0; i < json_array_size(qs); i++) {
		json_int_t num, desc, avail, used, last, uidx;
		int ready, broken;

		if (json_unpack(json_array_get(qs, i), "{s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "num", &num, "ready",
				&ready, "desc", &desc, "avail", &avail, "used", &used, "last_avail", &last, "used_idx",
				&uidx, "broken", &broken) ||
		    num < 0 || num > VIRTIO_QUEUE_MAX || (num & (num - 1)) || (ready && !num))
			return -EINVAL;
		q[i] = (struct virtq){ .num = (uint32_t)num, .ready = ready, .desc_gpa = (uint64_t)desc,
				       .avail_gpa = (uint64_t)avail, .used_gpa = (uint64_t)used,
				       .last_avail = (uint16_t)last, .used_idx = (uint16_t)uidx, .broken = broken };
	}
	pthread_mutex_lock(&t->lock);
	t->status = (uint32_t)status;
	t->isr = (uint32_t)isr;
	t->device_features_sel = (uint32_t)dsel;
	t->driver_features_sel = (uint32_t)drsel;
	t->queue_sel = (uint32_t)qsel;
	t->driver_features = (uint64_t)feat;
	t->config_generation = (uint32_t)gen;
	memcpy(t->q, q, sizeof(q));
	pthread_mutex_unlock(&t->lock);
	return 0;
}
