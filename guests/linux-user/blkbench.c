/* SPDX-License-Identifier: MIT */
/*
 * blkbench: the measuring side of `thpvm bench blk` (vmm/bench/bench_blk.c),
 * a small static Linux program (Debian has no static fio). The same binary
 * runs in the Linux guest on its virtio-blk disk (/bin/blkbench in the guest
 * recipe's initramfs, thpvm.run=blkbench,/dev/vda,secs=2) and on the host
 * against the image file itself:
 *   blkbench PATH [secs=S] [size=BYTES] [qd=N] [seed=N]
 * For S seconds each (default 2), in this order: 4 KiB random reads, 4 KiB
 * random writes (offsets 4 KiB-aligned, uniform over the first size bytes:
 * default the whole file or device), 1 MiB sequential reads and 1 MiB
 * sequential writes (from offset 0, wrapping at size). Every request is
 * O_DIRECT (the page cache of the system it runs on is bypassed) when the
 * file system takes it; where it refuses O_DIRECT (EINVAL at open) the
 * requests are buffered and the line says direct=0. Random requests run on
 * qd threads (default 1: queue depth 1), each with pread/pwrite, so the
 * depth is qd; sequential ones on one thread. One line of results:
 *   blkbench-result direct=1 size=... secs=... qd=1 randread_iops=...
 *     randwrite_iops=... seqread_mibs=... seqwrite_mibs=...
 * Status 0, or 1 with a line on stderr when a request fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL 4096u
#define LARGE (1u << 20)
#define MAX_QD 64

struct job {
	int fd;
	int write;
	uint64_t size;          /* bytes the random offsets cover */
	uint64_t seed;
	double deadline;
	uint64_t ops;
	int err;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *alloc_buf(size_t len, uint64_t seed)
{
	unsigned char *b = aligned_alloc(4096, len);

	if (b)
		for (size_t i = 0; i < len; i += 8) {
			uint64_t v = xorshift(&seed);

			memcpy(b + i, &v, 8);
		}
	return b;
}

static void *random_job(void *arg)
{
	struct job *j = arg;
	uint64_t pages = j->size / SMALL;
	void *buf = alloc_buf(SMALL, j->seed);

	if (!buf) {
		j->err = ENOMEM;
		return NULL;
	}
	while (now() < j->deadline) {
		/* 4 requests between clock reads: the clock is not free in every guest */
		for (int k = 0; k < 4; k++) {
			off_t off = (off_t)(xorshift(&j->seed) % pages * SMALL);
			ssize_t n = j->write ? pwrite(j->fd, buf, SMALL, off) : pread(j->fd, buf, SMALL, off);

			if (n != (ssize_t)SMALL) {
				j->err = n < 0 ? errno : EIO;
				free(buf);
				return NULL;
			}
			j->ops++;
		}
	}
	free(buf);
	return NULL;
}

/* 4 KiB random requests on qd threads for secs: IOPS, or -1 with errno set */
static double run_random(int fd, int write, uint64_t size, unsigned qd, double secs, uint64_t seed)
{
	struct job jobs[MAX_QD];
	pthread_t th[MAX_QD];
	double start = now(), elapsed;
	uint64_t ops = 0;
	int err = 0;

	for (unsigned i = 0; i < qd; i++)
		jobs[i] = (struct job){ .fd = fd, .write = write, .size = size, .seed = seed * 2654435761u + i + 1,
					.deadline = start + secs };
	for (unsigned i = 0; qd > 1 && i < qd; i++)
		if (pthread_create(&th[i], NULL, random_job, &jobs[i])) {
			while (i--)
				pthread_join(th[i], NULL);
			errno = EAGAIN;
			return -1;
		}
	if (qd == 1)
		random_job(&jobs[0]);
	for (unsigned i = 0; i < qd; i++) {
		if (qd > 1)
			pthread_join(th[i], NULL);
		ops += jobs[i].ops;
		if (jobs[i].err)
			err = jobs[i].err;
	}
	elapsed = now() - start;
	if (err) {
		errno = err;
		return -1;
	}
	return (double)ops / elapsed;
}

/* 1 MiB sequential requests for secs from offset 0, wrapping: MiB/s, or -1 with errno set */
static double run_seq(int fd, int write, uint64_t size, double secs, uint64_t seed)
{
	void *buf = alloc_buf(LARGE, seed);
	uint64_t off = 0, ops = 0, span = size / LARGE * LARGE;
	double start = now(), deadline = start + secs;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	while (now() < deadline) {
		ssize_t n = write ? pwrite(fd, buf, LARGE, (off_t)off) : pread(fd, buf, LARGE, (off_t)off);

		if (n != (ssize_t)LARGE) {
			if (n >= 0)
				errno = EIO;
			free(buf);
			return -1;
		}
		ops++;
		off += LARGE;
		if (off >= span)
			off = 0;
	}
	free(buf);
	return (double)ops / (now() - start);
}

static int arg_u64(const char *arg, const char *key, uint64_t *v)
{
	size_t len = strlen(key);
	char *end;

	if (strncmp(arg, key, len) || arg[len] != '=')
		return 0;
	errno = 0;
	*v = strtoull(arg + len + 1, &end, 0);
	if (errno || end == arg + len + 1 || *end) {
		fprintf(stderr, "blkbench: bad %s\n", arg);
		exit(2);
	}
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t secs = 2, size = 0, qd = 1, seed = 1, dev_size;
	static const char *const names[4] = { "randread_iops", "randwrite_iops", "seqread_mibs", "seqwrite_mibs" };
	double v[4];
	struct stat st;
	int fd, direct = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: blkbench PATH [secs=S] [size=BYTES] [qd=N] [seed=N]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (!arg_u64(argv[i], "secs", &secs) && !arg_u64(argv[i], "size", &size) && !arg_u64(argv[i], "qd", &qd) &&
		    !arg_u64(argv[i], "seed", &seed)) {
			fprintf(stderr, "blkbench: unknown argument %s\n", argv[i]);
			return 2;
		}
	if (!secs || secs > 3600 || !qd || qd > MAX_QD || !seed) {
		fprintf(stderr, "blkbench: secs 1..3600, qd 1..%d, seed > 0\n", MAX_QD);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		direct = 0;
		fd = open(argv[1], O_RDWR);
	}
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "blkbench: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &dev_size)) {
			fprintf(stderr, "blkbench: %s: BLKGETSIZE64: %s\n", argv[1], strerror(errno));
			return 1;
		}
	} else {
		dev_size = (uint64_t)st.st_size;
	}
	if (!size || size > dev_size)
		size = dev_size;
	if (size < LARGE) {
		fprintf(stderr, "blkbench: %s: %llu bytes, less than 1 MiB\n", argv[1], (unsigned long long)size);
		return 1;
	}
	v[0] = run_random(fd, 0, size, (unsigned)qd, (double)secs, seed);
	v[1] = v[0] < 0 ? -1 : run_random(fd, 1, size, (unsigned)qd, (double)secs, seed + 1);
	v[2] = v[1] < 0 ? -1 : run_seq(fd, 0, size, (double)secs, seed + 2);
	v[3] = v[2] < 0 ? -1 : run_seq(fd, 1, size, (double)secs, seed + 3);
	for (int i = 0; i < 4; i++)
		if (v[i] < 0) {
			fprintf(stderr, "blkbench: %s: %s failed: %s\n", argv[1], names[i], strerror(errno));
			return 1;
		}
	fdatasync(fd);
	close(fd);
	printf("blkbench-result direct=%d size=%llu secs=%llu qd=%llu %s=%.1f %s=%.1f %s=%.2f %s=%.2f\n", direct,
	       (unsigned long long)size, (unsigned long long)secs, (unsigned long long)qd, names[0], v[0], names[1], v[1],
	       names[2], v[2], names[3], v[3]);
	return 0;
}
