/* SPDX-License-Identifier: MIT */
/* virtio-blk on io_uring (virtio_blk.h). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include "virtio_blk.h"
#include "disk_chain.h"
#include "util/error.h"

#define BLK_QUEUE 0
#define KICK_TAG  UINT64_MAX       /* the eventfd read's user_data; a request's is its slot */
#define RING_ENTRIES VIRTIO_QUEUE_MAX

struct blk_req {
	bool busy;
	uint16_t head;
	uint8_t *status;            /* the last, device-written byte of the chain */
	uint32_t data_bytes;        /* of the data buffers: what a read writes */
	uint32_t type;
	uint64_t offset;
	unsigned nr_iov;
	struct iovec iov[VIRTIO_BLK_SEG_MAX];
};

struct virtio_blk {
	struct virtio_device_ops ops;
	int fd;
	struct disk_chain chain;    /* the image, and a copy-on-write layer a fork generation */
	pid_t pid;                  /* the process whose top layer it is */
	bool readonly;
	uint64_t capacity_sectors;
	char id[VIRTIO_BLK_ID_BYTES];
	char *path;

	/* the I/O thread */
	struct virtio_mmio *t;
	struct io_uring ring;
	bool running, stopping;
	int kick_fd;
	bool kick_attached;         /* the guest's notifications reach kick_fd inside KVM (ioeventfd) */
	unsigned stop_budget;       /* requests it may still take once stopping */
	uint64_t kick_value;
	pthread_t thread;
	unsigned inflight;
	struct blk_req reqs[VIRTIO_QUEUE_MAX];
};

static struct virtio_blk *blk_of(struct virtio_mmio *t)
{
	return t->opaque;
}

/* A notification: wake the I/O thread, nothing else on the vCPU. */
static void blk_notify(struct virtio_mmio *t, unsigned q)
{
	struct virtio_blk *b = blk_of(t);
	uint64_t one = 1;

	(void)q;
	if (b->kick_fd >= 0 && write(b->kick_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only when the counter would overflow: the thread is already woken */
	}
}

/* struct virtio_blk_config: capacity, seg_max, blk_size (the rest zero). */
static void blk_config_read(struct virtio_mmio *t, uint32_t offset, uint8_t *data, unsigned len)
{
	struct virtio_blk *b = blk_of(t);
	uint8_t cfg[64] = { 0 };
	uint32_t seg_max = VIRTIO_BLK_SEG_MAX, blk_size = VIRTIO_BLK_SECTOR;

	uint32_t zero_max = VIRTIO_BLK_ZERO_MAX_SECTORS, one = 1, align = 8;

	memcpy(cfg, &b->capacity_sectors, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	/* discard and write-zeroes: one segment a request, 4 KiB aligned, a zeroed range may be unmapped */
	memcpy(cfg + 36, &zero_max, 4);
	memcpy(cfg + 40, &one, 4);
	memcpy(cfg + 44, &align, 4);
	memcpy(cfg + 48, &zero_max, 4);
	memcpy(cfg + 52, &one, 4);
	cfg[56] = 1;
	if (offset < sizeof(cfg))
		memcpy(data, cfg + offset, len < sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

static void complete(struct virtio_blk *b, struct blk_req *r, uint8_t status, uint32_t written)
{
	*r->status = status;
	pthread_mutex_lock(&b->t->lock);
	virtq_push(b->t, BLK_QUEUE, r->head, written + 1);
	virtq_notify_driver(b->t, BLK_QUEUE);
	pthread_mutex_unlock(&b->t->lock);
	r->busy = false;
}

static struct blk_req *free_req(struct virtio_blk *b)
{
	for (unsigned i = 0; i < VIRTIO_QUEUE_MAX; i++)
		if (!b->reqs[i].busy)
			return &b->reqs[i];
	return NULL;
}

/*
 * A chain: the 16-byte header (driver-written), data buffers, the status
 * byte (device-written, last). Anything else is a malformed request: it
 * gets IOERR when there is a status byte to put it in.
 */
static int parse(struct virtio_blk *b, struct blk_req *r, struct virtio_buf *bufs, int n, uint32_t *bad_written)
{
	struct virtio_buf *st = &bufs[n - 1];
	uint64_t sector, bytes = 0;

	*bad_written = 0;
	if (!st->device_writes || st->len < 1)
		return -1; /* no status byte: the request cannot even be answered */
	r->status = st->hva + st->len - 1;
	if (bufs[0].device_writes || bufs[0].len < 16 || n < 2)
		return -EINVAL;
	memcpy(&r->type, bufs[0].hva, 4);
	memcpy(&sector, bufs[0].hva + 8, 8);
	r->nr_iov = 0;
	/* the header, data and status each in buffers of their own, as Linux lays them out */
	for (int i = 1; i < n - 1; i++) {
		uint32_t len = bufs[i].len;

		if (r->nr_iov == VIRTIO_BLK_SEG_MAX)
			return -EINVAL;
		if (bufs[i].device_writes != (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID))
			return -EINVAL;
		if (!len)
			continue;
		r->iov[r->nr_iov++] = (struct iovec){ .iov_base = bufs[i].hva, .iov_len = len };
		bytes += len;
	}
	r->data_bytes = (uint32_t)bytes;
	r->offset = sector * VIRTIO_BLK_SECTOR;
	if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) &&
	    (bytes % VIRTIO_BLK_SECTOR || sector > b->capacity_sectors ||
	     bytes / VIRTIO_BLK_SECTOR > b->capacity_sectors - sector))
		return -ERANGE;
	return 0;
}

static void submit(struct virtio_blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	/* the ring has as many entries as the queue: a request always finds one */
	if (r->type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, b->fd, r->iov, r->nr_iov, r->offset);
	else if (r->type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, b->fd, r->iov, r->nr_iov, r->offset);
	else
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, (uint64_t)(r - b->reqs));
	b->inflight++;
}

/*
 * A disk with layers (it was forked): each cluster comes from its own layer,
 * so the request is done here, synchronously, through the chain.
 */
static void chain_request(struct virtio_blk *b, struct blk_req *r)
{
	int64_t done;

	if (r->type == VIRTIO_BLK_T_FLUSH) {
		complete(b, r, disk_chain_flush(&b->chain) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 0);
		return;
	}
	done = r->type == VIRTIO_BLK_T_IN ? disk_chain_readv(&b->chain, r->iov, r->nr_iov, r->offset)
					  : disk_chain_writev(&b->chain, r->iov, r->nr_iov, r->offset);
	if (done != (int64_t)r->data_bytes)
		complete(b, r, VIRTIO_BLK_S_IOERR, 0);
	else
		complete(b, r, VIRTIO_BLK_S_OK, r->type == VIRTIO_BLK_T_IN ? r->data_bytes : 0);
}

/* n zero bytes at off through the chain, or into the image itself (when fallocate cannot). */
static int write_zeroes(struct virtio_blk *b, uint64_t off, uint64_t n)
{
	static const uint8_t zeros[64 << 10];

	while (n) {
		uint64_t k = n < sizeof(zeros) ? n : sizeof(zeros);
		struct iovec v = { .iov_base = (void *)zeros, .iov_len = k };
		int64_t done = disk_chain_layered(&b->chain) ? disk_chain_writev(&b->chain, &v, 1, off)
							     : pwrite(b->fd, zeros, k, (off_t)off);

		if (done <= 0)
			return -EIO;
		off += (uint64_t)done;
		n -= (uint64_t)done;
	}
	return 0;
}

/*
 * DISCARD and WRITE_ZEROES, one segment {sector, num_sectors, flags}: the
 * image's range punched (a hole reads as zeros) or zeroed by the file
 * system where it can; written with zeros through the chain when the disk
 * has layers (the image under them is never written) or fallocate cannot.
 * A discard may read back as anything: zeros are one such thing.
 */
static uint8_t discard_or_zero(struct virtio_blk *b, struct blk_req *r)
{
	uint64_t sector, off, len;
	uint32_t num, flags;
	int mode;

	if (b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (r->nr_iov != 1 || r->iov[0].iov_len != 16)
		return VIRTIO_BLK_S_UNSUPP; /* one segment a request (max_*_seg), as the configuration says */
	memcpy(&sector, r->iov[0].iov_base, 8);
	memcpy(&num, (uint8_t *)r->iov[0].iov_base + 8, 4);
	memcpy(&flags, (uint8_t *)r->iov[0].iov_base + 12, 4);
	if (!num || num > VIRTIO_BLK_ZERO_MAX_SECTORS || sector > b->capacity_sectors ||
	    num > b->capacity_sectors - sector || (flags & ~1u) || (r->type == VIRTIO_BLK_T_DISCARD && flags))
		return VIRTIO_BLK_S_IOERR;
	off = sector * VIRTIO_BLK_SECTOR;
	len = (uint64_t)num * VIRTIO_BLK_SECTOR;
	if (!disk_chain_layered(&b->chain)) {
		mode = r->type == VIRTIO_BLK_T_DISCARD || (flags & 1) ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
		if (!fallocate(b->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
			return VIRTIO_BLK_S_OK;
	}
	return write_zeroes(b, off, len) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/*
 * Takes every available request: submits the I/O, answers the rest at once.
 * Returns whether the queue is empty now (false: every slot is busy, the
 * rest waits for a completion).
 */
static bool take_requests(struct virtio_blk *b)
{
	struct virtio_buf bufs[VIRTIO_BLK_SEG_MAX + 2];
	uint16_t head;
	int n;

	for (;;) {
		struct blk_req *r = free_req(b);
		uint32_t unused;
		int ret;

		if (!r)
			return false;
		/*
		 * Stopping: at most a queue's worth more. A hostile guest could
		 * have its reads write the available index and feed us forever;
		 * what is left stays available, taken after the resume.
		 */
		if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE)) {
			if (!b->stop_budget)
				return true;
			b->stop_budget--;
		}
		pthread_mutex_lock(&b->t->lock);
		n = virtq_live(b->t, BLK_QUEUE) ? virtq_pop(b->t, BLK_QUEUE, bufs, VIRTIO_BLK_SEG_MAX + 2, &head) : 0;
		pthread_mutex_unlock(&b->t->lock);
		if (n <= 0)
			return true; /* nothing more, or a broken ring: nothing more until a reset */
		r->busy = true;
		r->head = head;
		ret = parse(b, r, bufs, n, &unused);
		if (ret == -1) {
			/* nothing to answer in: give the chain back with nothing written */
			pthread_mutex_lock(&b->t->lock);
			virtq_push(b->t, BLK_QUEUE, head, 0);
			virtq_notify_driver(b->t, BLK_QUEUE);
			pthread_mutex_unlock(&b->t->lock);
			r->busy = false;
		} else if (ret) {
			complete(b, r, VIRTIO_BLK_S_IOERR, 0);
		} else if (r->type == VIRTIO_BLK_T_GET_ID) {
			uint32_t done = 0;

			for (unsigned i = 0; i < r->nr_iov && done < VIRTIO_BLK_ID_BYTES; i++) {
				uint32_t k = (uint32_t)r->iov[i].iov_len;

				if (k > VIRTIO_BLK_ID_BYTES - done)
					k = VIRTIO_BLK_ID_BYTES - done;
				memcpy(r->iov[i].iov_base, b->id + done, k);
				done += k;
			}
			complete(b, r, VIRTIO_BLK_S_OK, done);
		} else if (r->type == VIRTIO_BLK_T_OUT && b->readonly) {
			complete(b, r, VIRTIO_BLK_S_IOERR, 0);
		} else if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
			complete(b, r, discard_or_zero(b, r), 0);
		} else if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_FLUSH) &&
			   disk_chain_layered(&b->chain)) {
			chain_request(b, r);
		} else if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_FLUSH) {
			submit(b, r);
		} else {
			complete(b, r, VIRTIO_BLK_S_UNSUPP, 0);
		}
	}
}

int virtio_blk_serve_now(struct virtio_blk *b, struct virtio_mmio *t)
{
	/* no io_uring here: only the chain's synchronous path may run (chain_request, never submit) */
	if (b->running || !disk_chain_layered(&b->chain))
		return -EINVAL;
	b->t = t;
	take_requests(b);
	return 0;
}

static void arm_kick(struct virtio_blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	io_uring_prep_read(sqe, b->kick_fd, &b->kick_value, sizeof(b->kick_value), 0);
	io_uring_sqe_set_data64(sqe, KICK_TAG);
}

static void *io_thread(void *arg)
{
	struct virtio_blk *b = arg;
	bool armed = false;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		/* stopping (the vCPUs are paused): what the driver made available is taken and finished too */
		if (take_requests(b) && !b->inflight && __atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE))
			break;
		if (!armed) {
			arm_kick(b);
			armed = true;
		}
		if (io_uring_submit_and_wait(&b->ring, 1) < 0 && errno != EINTR)
			continue;
		io_uring_for_each_cqe(&b->ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);

			seen++;
			if (tag == KICK_TAG) {
				armed = false;
				continue;
			}
			struct blk_req *r = &b->reqs[tag];

			b->inflight--;
			if (r->type == VIRTIO_BLK_T_FLUSH)
				complete(b, r, cqe->res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 0);
			else if (cqe->res != (int)r->data_bytes)
				/* an error, or short: past the end of a file that shrank under us */
				complete(b, r, VIRTIO_BLK_S_IOERR, 0);
			else
				complete(b, r, VIRTIO_BLK_S_OK, r->type == VIRTIO_BLK_T_IN ? r->data_bytes : 0);
		}
		io_uring_cq_advance(&b->ring, seen);
	}
	return NULL;
}

int virtio_blk_start(struct virtio_blk *b, struct virtio_mmio *t)
{
	int ret;

	if (b->running)
		return 0;
	/* a forked child: the top layer it inherited is its parent's; it writes to one of its own */
	if (b->pid != getpid() && disk_chain_layered(&b->chain)) {
		if ((ret = disk_chain_replace_top(&b->chain)))
			return ret;
		b->pid = getpid();
	}
	b->t = t;
	if ((b->kick_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return vmm_fail(-errno, "%s: eventfd: %s", b->path, strerror(errno));
	if ((ret = io_uring_queue_init(RING_ENTRIES + 1, &b->ring, 0))) {
		close(b->kick_fd);
		b->kick_fd = -1;
		return vmm_fail(ret, "%s: io_uring: %s", b->path, strerror(-ret));
	}
	b->stopping = false;
	b->inflight = 0;
	if ((ret = pthread_create(&b->thread, NULL, io_thread, b))) {
		io_uring_queue_exit(&b->ring);
		close(b->kick_fd);
		b->kick_fd = -1;
		return vmm_fail(-ret, "%s: cannot start its I/O thread: %s", b->path, strerror(ret));
	}
	b->running = true;
	b->kick_attached = virtio_mmio_attach_kick(t, BLK_QUEUE, b->kick_fd);
	/* requests the driver made available while the thread was stopped */
	blk_notify(t, BLK_QUEUE);
	return 0;
}

void virtio_blk_stop(struct virtio_blk *b)
{
	uint64_t one = 1;

	if (!b->running)
		return;
	b->stop_budget = VIRTIO_QUEUE_MAX;
	__atomic_store_n(&b->stopping, true, __ATOMIC_RELEASE);
	if (write(b->kick_fd, &one, sizeof(one)) < 0) {
		/* cannot fail: the counter is far from overflowing */
	}
	pthread_join(b->thread, NULL);
	io_uring_queue_exit(&b->ring);
	if (b->kick_attached)
		virtio_mmio_detach_kick(b->t, BLK_QUEUE, b->kick_fd);
	b->kick_attached = false;
	close(b->kick_fd);
	b->kick_fd = -1;
	b->running = false;
}

int virtio_blk_open(const struct virtio_blk_config *cfg, struct virtio_blk **out)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const char *base;
	struct stat st;
	uint64_t bytes;
	int ret;

	if (!b || !(b->path = strdup(cfg->path))) {
		free(b);
		return vmm_fail(-ENOMEM, "out of memory for disk '%s'", cfg->path);
	}
	b->kick_fd = -1;
	b->readonly = cfg->readonly;
	b->fd = open(cfg->path, (cfg->readonly || cfg->snapshot ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0 || fstat(b->fd, &st)) {
		ret = vmm_fail(-errno, "disk '%s': %s", cfg->path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes)) {
			ret = vmm_fail(-errno, "disk '%s': cannot read the block device's size: %s", cfg->path,
				       strerror(errno));
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		ret = vmm_fail(-EINVAL, "disk '%s': not a regular file or a block device", cfg->path);
		goto fail;
	}
	if (bytes < VIRTIO_BLK_SECTOR || bytes % VIRTIO_BLK_SECTOR) {
		ret = vmm_fail(-EINVAL, "disk '%s': %llu bytes, not a whole number of 512-byte sectors (at least one)",
			       cfg->path, (unsigned long long)bytes);
		goto fail;
	}
	/* two VMs writing one image corrupt it: the second is refused (an OFD lock, released at close) */
	if (!cfg->readonly && !cfg->snapshot && fcntl(b->fd, F_OFD_SETLK, &lk)) {
		ret = vmm_fail(-EBUSY, "disk '%s': another process has it open for writing (add ,readonly to share it)",
			       cfg->path);
		goto fail;
	}
	b->capacity_sectors = bytes / VIRTIO_BLK_SECTOR;
	if ((ret = disk_chain_init(&b->chain, b->fd, bytes, cfg->path)))
		goto fail;
	/* ,snapshot: the guest writes a private layer from the first request on */
	if (cfg->snapshot && (ret = disk_chain_push(&b->chain))) {
		disk_chain_fini(&b->chain);
		goto fail;
	}
	b->pid = getpid();
	base = strrchr(cfg->path, '/');
	/* the serial: 20 bytes, NUL-terminated only when shorter */
	base = base ? base + 1 : cfg->path;
	memcpy(b->id, base, strlen(base) < sizeof(b->id) ? strlen(base) : sizeof(b->id));
	b->ops = (struct virtio_device_ops){
		.device_id = VIRTIO_ID_BLOCK,
		.features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
			    (cfg->readonly ? 1ull << VIRTIO_BLK_F_RO
					   : (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES)),
		.nr_queues = 1,
		.notify = blk_notify,
		.config_read = blk_config_read,
	};
	*out = b;
	return 0;
fail:
	if (b->fd >= 0)
		close(b->fd);
	free(b->path);
	free(b);
	return ret;
}

void virtio_blk_close(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_blk_stop(b);
	disk_chain_fini(&b->chain);
	close(b->fd);
	free(b->path);
	free(b);
}

int virtio_blk_fork_prepare(struct virtio_blk *b)
{
	/* no write may be in flight while the top is frozen: the thread stops first (a fork pauses the VM after) */
	virtio_blk_stop(b);
	if (b->readonly)
		return 0;
	return disk_chain_push(&b->chain);
}

void virtio_blk_fork_parent(struct virtio_blk *b)
{
	/* a fork that failed before it paused the VM leaves the thread to start here (else: no-op, or the resume's) */
	if (b->t && virtio_blk_start(b, b->t))
		fprintf(stderr, "thpvm: warning: %s: %s\n", b->path, vmm_last_error());
}

int virtio_blk_save_copy(struct virtio_blk *b, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), ret;

	if (fd < 0)
		return vmm_fail(-errno, "%s: %s", path, strerror(errno));
	ret = disk_chain_copy(&b->chain, fd);
	close(fd);
	if (ret)
		return vmm_fail(ret, "disk '%s' into %s: %s", b->path, path, strerror(-ret));
	return 0;
}

bool virtio_blk_readonly(const struct virtio_blk *b)
{
	return b->readonly;
}

bool virtio_blk_kick_attached(const struct virtio_blk *b)
{
	return b->kick_attached;
}

unsigned virtio_blk_layers(const struct virtio_blk *b)
{
	return b->chain.nr_layers;
}

const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *b)
{
	return &b->ops;
}

uint64_t virtio_blk_capacity_sectors(const struct virtio_blk *b)
{
	return b->capacity_sectors;
}
