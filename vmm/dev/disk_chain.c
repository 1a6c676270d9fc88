/* SPDX-License-Identifier: MIT */
/* A disk as a chain of copy-on-write layers (disk_chain.h). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "disk_chain.h"
#include "util/error.h"

#define MAX_SLICE 130 /* iovecs of one request (VIRTIO_BLK_SEG_MAX + slack) */

int disk_chain_init(struct disk_chain *c, int image_fd, uint64_t size_bytes, const char *image_path)
{
	char real[PATH_MAX];

	memset(c, 0, sizeof(*c));
	c->fds[0] = image_fd;
	c->nr_layers = 1;
	c->size_bytes = size_bytes;
	c->nr_clusters = (size_bytes + DISK_CLUSTER_BYTES - 1) / DISK_CLUSTER_BYTES;
	if (!realpath(image_path, real))
		return vmm_fail(-errno, "disk '%s': %s", image_path, strerror(errno));
	snprintf(c->dir, sizeof(c->dir), "%s", dirname(real));
	return 0;
}

void disk_chain_fini(struct disk_chain *c)
{
	for (unsigned i = 1; i < c->nr_layers; i++) {
		close(c->fds[i]);
		free(c->present[i]);
	}
	c->nr_layers = 1;
}

/* A nameless, sparse file of the disk's size in the image's directory, and its empty cluster map. */
static int new_layer(struct disk_chain *c, int *fd, uint64_t **present)
{
	char path[4200];
	int err;

	*fd = open(c->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* a file system without O_TMPFILE: a named file, unlinked at once */
		snprintf(path, sizeof(path), "%s/.thpvm-layer-XXXXXX", c->dir);
		if ((*fd = mkostemp(path, O_CLOEXEC)) >= 0)
			unlink(path);
	}
	if (*fd < 0)
		return vmm_fail(-errno, "disk layer in %s: %s (a forked VM's disk needs a writable directory beside the image)",
				c->dir, strerror(errno));
	if (ftruncate(*fd, (off_t)c->size_bytes) || !(*present = calloc((c->nr_clusters + 63) / 64, 8))) {
		err = errno ? errno : ENOMEM;
		close(*fd);
		return vmm_fail(-err, "disk layer in %s: %s", c->dir, strerror(err));
	}
	return 0;
}

int disk_chain_push(struct disk_chain *c)
{
	int ret;

	if (c->nr_layers == DISK_CHAIN_MAX_LAYERS)
		return vmm_fail(-E2BIG, "disk in %s: %u copy-on-write layers already (one a fork generation)", c->dir,
				DISK_CHAIN_MAX_LAYERS);
	if ((ret = new_layer(c, &c->fds[c->nr_layers], &c->present[c->nr_layers])))
		return ret;
	c->nr_layers++;
	return 0;
}

int disk_chain_replace_top(struct disk_chain *c)
{
	unsigned top = c->nr_layers - 1;
	uint64_t *present;
	int fd, ret;

	if (!top)
		return vmm_fail(-EINVAL, "disk in %s: no layer to replace", c->dir);
	if ((ret = new_layer(c, &fd, &present)))
		return ret;
	/* the inherited top stays open in the parent: only this process's descriptor goes */
	close(c->fds[top]);
	free(c->present[top]);
	c->fds[top] = fd;
	c->present[top] = present;
	return 0;
}

static bool has(const struct disk_chain *c, unsigned layer, uint64_t cluster)
{
	return c->present[layer][cluster / 64] & (1ull << (cluster % 64));
}

static void mark(struct disk_chain *c, uint64_t cluster)
{
	c->present[c->nr_layers - 1][cluster / 64] |= 1ull << (cluster % 64);
}

/* The layer a cluster is read from: the topmost that holds it, else the image. */
static unsigned source(const struct disk_chain *c, uint64_t cluster)
{
	for (unsigned i = c->nr_layers - 1; i > 0; i--)
		if (has(c, i, cluster))
			return i;
	return 0;
}

/* out = the bytes [from, from + len) of the request's buffers. Returns how many iovecs. */
static unsigned slice(const struct iovec *iov, unsigned nr_iov, uint64_t from, uint64_t len, struct iovec *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nr_iov && len; i++) {
		uint64_t l = iov[i].iov_len;

		if (from >= l) {
			from -= l;
			continue;
		}
		out[n].iov_base = (uint8_t *)iov[i].iov_base + from;
		out[n].iov_len = l - from < len ? l - from : len;
		len -= out[n].iov_len;
		from = 0;
		n++;
	}
	return n;
}

/* All of [off, off + len) of the request's [from, ...) from or to one file. */
static int io_all(int fd, bool write, const struct iovec *iov, unsigned nr_iov, uint64_t from, uint64_t len,
		  uint64_t off)
{
	struct iovec s[MAX_SLICE];

	while (len) {
		unsigned n = slice(iov, nr_iov, from, len, s);
		ssize_t done = write ? pwritev(fd, s, (int)n, (off_t)off) : preadv(fd, s, (int)n, (off_t)off);

		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return done < 0 ? -errno : -EIO;
		from += (uint64_t)done;
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return 0;
}

static uint64_t total(const struct iovec *iov, unsigned nr_iov)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < nr_iov; i++)
		t += iov[i].iov_len;
	return t;
}

int64_t disk_chain_readv(struct disk_chain *c, const struct iovec *iov, unsigned nr_iov, uint64_t offset)
{
	uint64_t len = total(iov, nr_iov), done = 0;
	int ret;

	if (offset > c->size_bytes || len > c->size_bytes - offset)
		return -ERANGE;
	/* runs of clusters with one source: one preadv each */
	while (done < len) {
		uint64_t pos = offset + done, cl = pos / DISK_CLUSTER_BYTES;
		unsigned src = source(c, cl);
		uint64_t run = (cl + 1) * DISK_CLUSTER_BYTES - pos;

		while (done + run < len && source(c, (pos + run) / DISK_CLUSTER_BYTES) == src)
			run += DISK_CLUSTER_BYTES;
		if (run > len - done)
			run = len - done;
		if ((ret = io_all(c->fds[src], false, iov, nr_iov, done, run, pos)))
			return ret;
		done += run;
	}
	return (int64_t)done;
}

/* Cluster cl's bytes as the layers below the top hold them, into buf. */
static int read_below(struct disk_chain *c, uint64_t cl, uint8_t *buf)
{
	uint64_t off = cl * DISK_CLUSTER_BYTES, len = DISK_CLUSTER_BYTES;
	unsigned src = 0;
	struct iovec v;

	for (unsigned i = c->nr_layers - 1; i-- > 1;)
		if (has(c, i, cl)) {
			src = i;
			break;
		}
	if (off + len > c->size_bytes)
		len = c->size_bytes - off;
	memset(buf, 0, DISK_CLUSTER_BYTES);
	v = (struct iovec){ .iov_base = buf, .iov_len = len };
	return io_all(c->fds[src], false, &v, 1, 0, len, off);
}

int64_t disk_chain_writev(struct disk_chain *c, const struct iovec *iov, unsigned nr_iov, uint64_t offset)
{
	uint64_t len = total(iov, nr_iov), done = 0;
	int top = c->fds[c->nr_layers - 1], ret;

	if (c->nr_layers < 2)
		return -EINVAL; /* the image alone is written by the caller's own path */
	if (offset > c->size_bytes || len > c->size_bytes - offset)
		return -ERANGE;
	while (done < len) {
		uint64_t pos = offset + done, cl = pos / DISK_CLUSTER_BYTES;
		uint64_t in_cl = pos % DISK_CLUSTER_BYTES, chunk = DISK_CLUSTER_BYTES - in_cl;
		uint64_t cl_bytes = c->size_bytes - cl * DISK_CLUSTER_BYTES;

		if (chunk > len - done)
			chunk = len - done;
		if (cl_bytes > DISK_CLUSTER_BYTES)
			cl_bytes = DISK_CLUSTER_BYTES;
		if (!has(c, c->nr_layers - 1, cl) && (in_cl || chunk < cl_bytes)) {
			/* copy up: the cluster as the layers below have it, the new bytes over it, all to the top */
			uint8_t buf[DISK_CLUSTER_BYTES];
			struct iovec s[MAX_SLICE], v = { .iov_base = buf, .iov_len = cl_bytes };
			unsigned n = slice(iov, nr_iov, done, chunk, s);
			uint64_t at = in_cl;

			if ((ret = read_below(c, cl, buf)))
				return ret;
			for (unsigned i = 0; i < n; i++) {
				memcpy(buf + at, s[i].iov_base, s[i].iov_len);
				at += s[i].iov_len;
			}
			if ((ret = io_all(top, true, &v, 1, 0, cl_bytes, cl * DISK_CLUSTER_BYTES)))
				return ret;
		} else if ((ret = io_all(top, true, iov, nr_iov, done, chunk, pos))) {
			return ret;
		}
		mark(c, cl);
		done += chunk;
	}
	return (int64_t)done;
}

/* len bytes at off from in to out, in the kernel where it can (copy_file_range), else through a buffer. */
static int copy_range(int in, int out, uint64_t off, uint64_t len)
{
	/* on the heap: a large thread-local buffer would weigh on every thread's stack (its TLS) */
	enum { BUF_BYTES = 1 << 20 };
	uint8_t *buf = NULL;
	int ret = 0;

	while (len) {
		loff_t a = (loff_t)off, b = (loff_t)off;
		ssize_t n = copy_file_range(in, &a, out, &b, len, 0);

		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			if (!buf && !(buf = malloc(BUF_BYTES))) {
				ret = -ENOMEM;
				break;
			}
			n = pread(in, buf, len < BUF_BYTES ? len : BUF_BYTES, (off_t)off);
			if (n > 0 && pwrite(out, buf, (size_t)n, (off_t)off) != n)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	free(buf);
	return ret;
}

int disk_chain_copy(struct disk_chain *c, int out)
{
	uint64_t off = 0;
	int ret;

	if (ftruncate(out, (off_t)c->size_bytes))
		return -errno;
	/* the image's data (a block device, or a file system without SEEK_DATA: all of it) */
	while (off < c->size_bytes) {
		off_t data = lseek(c->fds[0], (off_t)off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole left */
		if (data < 0) {
			data = (off_t)off;
			hole = (off_t)c->size_bytes;
		} else {
			hole = lseek(c->fds[0], data, SEEK_HOLE);
			if (hole < 0 || (uint64_t)hole > c->size_bytes)
				hole = (off_t)c->size_bytes;
		}
		if ((ret = copy_range(c->fds[0], out, (uint64_t)data, (uint64_t)(hole - data))))
			return ret;
		off = (uint64_t)hole;
	}
	/* then each layer's clusters over it, bottom to top: runs of clusters it holds */
	for (unsigned i = 1; i < c->nr_layers; i++)
		for (uint64_t cl = 0; cl < c->nr_clusters;) {
			uint64_t end = cl;

			while (end < c->nr_clusters && has(c, i, end))
				end++;
			if (end > cl) {
				uint64_t from = cl * DISK_CLUSTER_BYTES, to = end * DISK_CLUSTER_BYTES;

				if (to > c->size_bytes)
					to = c->size_bytes;
				if ((ret = copy_range(c->fds[i], out, from, to - from)))
					return ret;
			}
			cl = end + 1;
		}
	return fdatasync(out) ? -errno : 0;
}

int disk_chain_flush(struct disk_chain *c)
{
	return fdatasync(c->fds[c->nr_layers - 1]) ? -errno : 0;
}
