/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>
#include "kvm_stats.h"
#include "util/error.h"

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* file shorter than its header says */
		done += (size_t)n;
	}
	return 0;
}

void kvm_stats_close(struct kvm_stats *s)
{
	if (s->fd >= 0)
		close(s->fd);
	for (unsigned i = 0; s->stats && i < s->nr_stats; i++)
		free(s->stats[i].name);
	free(s->stats);
	free(s->id);
	free(s->data);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static int parse_fail(struct kvm_stats *s, int err, const char *what)
{
	kvm_stats_close(s);
	return vmm_fail(err, "KVM statistics: %s", what);
}

int kvm_stats_parse(int fd, struct kvm_stats *out)
{
	struct kvm_stats_header hdr;
	size_t desc_len;
	char *descs;
	uint64_t end = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->fd = fd;
	if ((ret = pread_full(fd, &hdr, sizeof(hdr), 0)))
		return parse_fail(out, ret, "cannot read the header");
	if (!hdr.name_size || hdr.name_size > KVM_STATS_MAX_NAME)
		return parse_fail(out, -EBADMSG, "name size out of range");
	if (hdr.num_desc > KVM_STATS_MAX_DESC)
		return parse_fail(out, -EBADMSG, "too many descriptors");
	out->id = calloc(1, hdr.name_size + 1);
	out->stats = calloc(hdr.num_desc ? hdr.num_desc : 1, sizeof(*out->stats));
	desc_len = sizeof(struct kvm_stats_desc) + hdr.name_size;
	descs = malloc(desc_len * (hdr.num_desc ? hdr.num_desc : 1));
	if (!out->id || !out->stats || !descs) {
		free(descs);
		return parse_fail(out, -ENOMEM, "out of memory");
	}
	if ((ret = pread_full(fd, out->id, hdr.name_size, hdr.id_offset)) ||
	    (ret = pread_full(fd, descs, desc_len * hdr.num_desc, hdr.desc_offset))) {
		free(descs);
		return parse_fail(out, ret, "cannot read the id or descriptors");
	}
	for (unsigned i = 0; i < hdr.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * desc_len);
		struct kvm_stat *st = &out->stats[i];

		if (!d->size || d->size > KVM_STATS_MAX_ITEMS || d->offset % 8 ||
		    (d->flags & KVM_STATS_TYPE_MASK) > KVM_STATS_TYPE_MAX ||
		    strnlen(d->name, hdr.name_size) == hdr.name_size || !d->name[0]) {
			free(descs);
			out->nr_stats = i;
			return parse_fail(out, -EBADMSG, "malformed descriptor");
		}
		st->name = strdup(d->name);
		if (!st->name) {
			free(descs);
			out->nr_stats = i;
			return parse_fail(out, -ENOMEM, "out of memory");
		}
		st->flags = d->flags;
		st->exponent = d->exponent;
		st->size = d->size;
		st->offset = d->offset;
		st->bucket_size = d->bucket_size;
		out->nr_stats = i + 1;
		if ((uint64_t)d->offset + d->size * 8ULL > end)
			end = (uint64_t)d->offset + d->size * 8ULL;
	}
	free(descs);
	out->data_offset = hdr.data_offset;
	out->data_size = (uint32_t)end;
	out->data = calloc(1, end ? end : 8);
	if (!out->data)
		return parse_fail(out, -ENOMEM, "out of memory");
	return 0;
}

int kvm_stats_open(int kvm_object_fd, struct kvm_stats *out)
{
	int fd = ioctl(kvm_object_fd, KVM_GET_STATS_FD, NULL);

	if (fd < 0) {
		memset(out, 0, sizeof(*out));
		out->fd = -1;
		return vmm_fail(-errno, "KVM_GET_STATS_FD: %s", strerror(errno));
	}
	return kvm_stats_parse(fd, out);
}

int kvm_stats_read(struct kvm_stats *s)
{
	int ret;

	if (s->fd < 0)
		return vmm_fail(-EBADF, "KVM statistics are closed");
	if (!s->data_size)
		return 0;
	ret = pread_full(s->fd, s->data, s->data_size, s->data_offset);
	if (ret)
		return vmm_fail(ret, "reading KVM statistics %s: %s", s->id, strerror(-ret));
	s->valid = true;
	return 0;
}

const struct kvm_stat *kvm_stats_find(const struct kvm_stats *s, const char *name)
{
	for (unsigned i = 0; i < s->nr_stats; i++)
		if (!strcmp(s->stats[i].name, name))
			return &s->stats[i];
	return NULL;
}

const uint64_t *kvm_stats_items(const struct kvm_stats *s, const struct kvm_stat *stat)
{
	return s->data + stat->offset / 8;
}

bool kvm_stat_is_hist(uint32_t flags)
{
	uint32_t type = flags & KVM_STATS_TYPE_MASK;

	return type == KVM_STATS_TYPE_LINEAR_HIST || type == KVM_STATS_TYPE_LOG_HIST;
}

int kvm_stats_get(const struct kvm_stats *s, const char *name, uint64_t *value)
{
	const struct kvm_stat *st = kvm_stats_find(s, name);
	const uint64_t *v;

	if (!st)
		return -ENOENT;
	v = kvm_stats_items(s, st);
	*value = 0;
	if (!kvm_stat_is_hist(st->flags))
		*value = v[0];
	else
		for (unsigned i = 0; i < st->size; i++)
			*value += v[i];
	return 0;
}

const char *kvm_stat_type_str(uint32_t flags)
{
	static const char *const type[] = { "cumulative", "instant", "peak", "linear-hist", "log-hist" };
	uint32_t t = (flags & KVM_STATS_TYPE_MASK) >> KVM_STATS_TYPE_SHIFT;

	return t < 5 ? type[t] : "unknown";
}

const char *kvm_stat_unit_str(uint32_t flags)
{
	static const char *const unit[] = { "", "bytes", "seconds", "cycles", "boolean" };
	uint32_t u = (flags & KVM_STATS_UNIT_MASK) >> KVM_STATS_UNIT_SHIFT;

	return u < 5 ? unit[u] : "unknown";
}

json_t *kvm_stats_to_json(const struct kvm_stats *s)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < s->nr_stats; i++) {
		const struct kvm_stat *st = &s->stats[i];
		const uint64_t *v = kvm_stats_items(s, st);

		if (st->size == 1 && !kvm_stat_is_hist(st->flags)) {
			json_object_set_new(o, st->name, json_integer((json_int_t)v[0]));
		} else {
			json_t *a = json_array();

			for (unsigned k = 0; k < st->size; k++)
				json_array_append_new(a, json_integer((json_int_t)v[k]));
			json_object_set_new(o, st->name, a);
		}
	}
	return o;
}
