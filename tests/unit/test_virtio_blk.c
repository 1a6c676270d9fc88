/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (suite virtio_blk): the test plays Linux's virtio_blk driver
 * against the real transport and device, whose I/O thread serves a real
 * image file on a real io_uring: what the guest writes is in the file,
 * what it reads is the file's, a flush completes, a read-only disk and
 * requests past the end are refused with IOERR, and a pause in the middle
 * of a burst of requests finishes them all first.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dev/virtio_blk.h"
#include "dev/virtio_dev.h"
#include "util/error.h"
#include "helpers.h"
#include "virtio_guest.h"

#define DISK_SECTORS 2048u          /* 1 MiB */
#define HDR_GPA      0x20000u       /* request headers, 16 bytes each */
#define STATUS_GPA   0x30000u       /* status bytes, one each */
#define DATA_GPA     0x40000u       /* data, 4 KiB each request */
#define FEATURES_RO  ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_SEG_MAX) | \
		      (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH))
#define FEATURES     (FEATURES_RO | (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

static char disk_path[256];

static void make_disk(uint64_t bytes)
{
	int fd;

	snprintf(disk_path, sizeof(disk_path), "%s/thpvm-blk-%d.img", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 getpid());
	cr_assert_geq(fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
	cr_assert_eq(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
}

static void teardown(void)
{
	unlink(disk_path);
}

TestSuite(virtio_blk, .fini = teardown);

struct disk {
	struct vguest g;
	struct virtio_blk *b;
	unsigned next_desc;
};

static void disk_up(struct disk *d, bool readonly)
{
	struct virtio_blk_config cfg = { .path = disk_path, .readonly = readonly };

	memset(d, 0, sizeof(*d));
	cr_assert_eq(virtio_blk_open(&cfg, &d->b), 0, "%s", vmm_last_error());
	vg_init(&d->g, virtio_blk_ops(d->b), d->b);
	cr_assert_eq(virtio_blk_start(d->b, &d->g.t), 0, "%s", vmm_last_error());
	vg_driver_up(&d->g, readonly ? FEATURES_RO | (1ull << VIRTIO_BLK_F_RO) : FEATURES);
	cr_assert_neq(vg_rd(&d->g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
}

static void disk_down(struct disk *d)
{
	virtio_blk_close(d->b);
	vg_fini(&d->g);
}

/*
 * Request slot k (its own header, 4 KiB of data, status byte), laid out as
 * Linux does: header (driver-written), data (device-written for a read),
 * status (device-written). Returns the chain's head; made available, the
 * doorbell rung only when kick.
 */
static uint16_t request(struct disk *d, unsigned k, uint32_t type, uint64_t sector, uint32_t data_bytes, bool kick)
{
	uint8_t *hdr = d->g.ram + HDR_GPA + 16 * k;
	uint16_t head = (uint16_t)d->next_desc, i = head;
	uint16_t dwrite = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ? VIRTQ_DESC_F_WRITE : 0;

	cr_assert(data_bytes <= 4096);
	memset(hdr, 0, 16);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	d->g.ram[STATUS_GPA + k] = 0xff;
	vg_set_desc(&d->g, i, HDR_GPA + 16 * k, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % VG_QSIZE));
	i = (uint16_t)((i + 1) % VG_QSIZE);
	if (data_bytes) {
		vg_set_desc(&d->g, i, DATA_GPA + 4096ull * k, data_bytes, dwrite | VIRTQ_DESC_F_NEXT,
			    (uint16_t)((i + 1) % VG_QSIZE));
		i = (uint16_t)((i + 1) % VG_QSIZE);
	}
	vg_set_desc(&d->g, i, STATUS_GPA + k, 1, VIRTQ_DESC_F_WRITE, 0);
	d->next_desc = (i + 1u) % VG_QSIZE;
	vg_make_available(&d->g, head, kick);
	return head;
}

/* One request, waited for: its status. */
static uint8_t one(struct disk *d, uint32_t type, uint64_t sector, uint32_t data_bytes, uint32_t *used_len)
{
	uint16_t want = (uint16_t)(vg_used_idx(&d->g) + 1), head;
	uint32_t id;

	head = request(d, 0, type, sector, data_bytes, true);
	cr_assert(vg_wait_used(&d->g, want), "request type %u done", type);
	vg_used_elem(&d->g, want - 1u, &id, used_len);
	cr_assert_eq(id, head);
	return d->g.ram[STATUS_GPA];
}

static uint8_t *data(struct disk *d, unsigned k)
{
	return d->g.ram + DATA_GPA + 4096ull * k;
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(disk_path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

Test(virtio_blk, identifies_with_its_capacity_and_features)
{
	struct disk d;
	uint64_t cap;
	uint32_t v;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	cr_expect_eq(vg_rd(&d.g, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	vg_wr(&d.g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = vg_rd(&d.g, VIRTIO_MMIO_DEVICE_FEATURES);
	cr_expect_eq(v, (uint32_t)FEATURES, "SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES; not RO");
	cr_assert_eq(virtio_mmio_access(&d.g.t, VIRTIO_MMIO_CONFIG, false, (uint8_t *)&cap, 8), 0);
	cr_expect_eq(cap, DISK_SECTORS);
	cr_assert_eq(virtio_mmio_access(&d.g.t, VIRTIO_MMIO_CONFIG + 20, false, (uint8_t *)&v, 4), 0);
	cr_expect_eq(v, 512, "blk_size");
	disk_down(&d);
}

Test(virtio_blk, writes_reach_the_file_and_reads_come_from_it)
{
	uint8_t back[1024];
	struct disk d;
	uint32_t len;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	for (unsigned i = 0; i < 1024; i++)
		data(&d, 0)[i] = (uint8_t)(i * 7 + 3);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_OUT, 3, 1024, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(len, 1, "a write writes only its status");
	file_read(3 * 512, back, sizeof(back));
	cr_expect_eq(memcmp(back, data(&d, 0), 1024), 0, "the file holds what the guest wrote");

	memset(data(&d, 0), 0, 4096);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 3, 1024, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(len, 1024 + 1, "a read writes its data and its status");
	cr_expect_eq(memcmp(back, data(&d, 0), 1024), 0, "the guest reads what the file holds");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_FLUSH, 0, 0, &len), VIRTIO_BLK_S_OK, "a flush (fdatasync) completes");
	cr_expect_geq(d.g.interrupts, 3);
	cr_expect_eq(d.g.errors, 0);
	disk_down(&d);
}

Test(virtio_blk, serial_unsupported_and_past_the_end)
{
	struct disk d;
	uint32_t len;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_GET_ID, 0, 20, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(len, 21);
	cr_expect_eq(strncmp((char *)data(&d, 0), strrchr(disk_path, '/') + 1, 20), 0, "the serial is the image's name");
	cr_expect_eq(one(&d, 12 /* no such type */, 0, 16, &len), VIRTIO_BLK_S_UNSUPP);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, DISK_SECTORS, 512, &len), VIRTIO_BLK_S_IOERR, "past the end");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, 1024, &len), VIRTIO_BLK_S_IOERR, "across the end");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_OUT, UINT64_MAX / 512, 512, &len), VIRTIO_BLK_S_IOERR, "a sector that wraps");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 0, 100, &len), VIRTIO_BLK_S_IOERR, "not whole sectors");
	disk_down(&d);
}

/* One {sector, num_sectors, flags} segment as a request's data. */
static uint8_t zero_request(struct disk *d, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint32_t len;

	memcpy(data(d, 0), &sector, 8);
	memcpy(data(d, 0) + 8, &num, 4);
	memcpy(data(d, 0) + 12, &flags, 4);
	return one(d, type, 0, 16, &len);
}

Test(virtio_blk, discard_and_write_zeroes_read_back_as_zeros)
{
	uint8_t back[4096], zero[4096] = { 0 };
	struct disk d;
	uint32_t len;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	memset(data(&d, 0), 0x77, 4096);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_OUT, 16, 4096, &len), VIRTIO_BLK_S_OK);
	memset(data(&d, 0), 0x77, 4096);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_OUT, 24, 4096, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0), VIRTIO_BLK_S_OK);
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_DISCARD, 24, 8, 0), VIRTIO_BLK_S_OK);
	file_read(16 * 512, back, sizeof(back));
	cr_expect_eq(memcmp(back, zero, 4096), 0, "write-zeroes: zeros in the image");
	file_read(24 * 512, back, sizeof(back));
	cr_expect_eq(memcmp(back, zero, 4096), 0, "a discard punched a hole: zeros");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 16, 4096, &len), VIRTIO_BLK_S_OK);
	cr_expect(vg_all_zero(data(&d, 0), 4096), "and the guest reads zeros");
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_WRITE_ZEROES, DISK_SECTORS - 4, 8, 0), VIRTIO_BLK_S_IOERR, "past the end");
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_DISCARD, 0, 8, 1), VIRTIO_BLK_S_IOERR, "unmap is write-zeroes' flag");
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, 0), VIRTIO_BLK_S_IOERR, "no sectors");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_DISCARD, 0, 32, &len), VIRTIO_BLK_S_UNSUPP, "two segments: one at most");

	/* forked: zeros through the layers, the image under them untouched */
	memset(data(&d, 0), 0x55, 4096);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_OUT, 40, 4096, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(virtio_blk_fork_prepare(d.b), 0);
	cr_assert_eq(virtio_blk_start(d.b, &d.g.t), 0);
	cr_expect_eq(zero_request(&d, VIRTIO_BLK_T_WRITE_ZEROES, 40, 8, 1), VIRTIO_BLK_S_OK);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 40, 4096, &len), VIRTIO_BLK_S_OK);
	cr_expect(vg_all_zero(data(&d, 0), 4096), "the guest reads zeros");
	file_read(40 * 512, back, sizeof(back));
	cr_expect_eq(back[0], 0x55, "the image under the layer keeps its bytes");
	disk_down(&d);
}

Test(virtio_blk, a_readonly_disk_refuses_writes_and_says_so)
{
	uint8_t before[512], after[512];
	struct disk d;
	uint32_t v, len;

	make_disk(DISK_SECTORS * 512ull);
	file_read(0, before, sizeof(before));
	disk_up(&d, true);
	vg_wr(&d.g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = vg_rd(&d.g, VIRTIO_MMIO_DEVICE_FEATURES);
	cr_expect_neq(v & (1u << VIRTIO_BLK_F_RO), 0, "RO offered");
	memset(data(&d, 0), 0xab, 512);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_OUT, 0, 512, &len), VIRTIO_BLK_S_IOERR);
	file_read(0, after, sizeof(after));
	cr_expect_eq(memcmp(before, after, 512), 0, "the image is unchanged");
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 0, 512, &len), VIRTIO_BLK_S_OK, "reads work");
	cr_expect_eq(v & (1u << VIRTIO_BLK_F_DISCARD), 0, "no discard offered");
	memset(data(&d, 0), 0, 16);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, &len), VIRTIO_BLK_S_IOERR, "nor write-zeroes taken");
	disk_down(&d);
}

/* A burst of requests, the I/O thread stopped (a pause) right after the doorbell: every one completes first. */
Test(virtio_blk, a_stop_finishes_every_request_in_flight)
{
	enum { N = 40 }; /* 3 descriptors each: 120 of the queue's 128 */
	struct disk d;
	uint16_t start;
	uint32_t id, len;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	start = vg_used_idx(&d.g);
	for (unsigned k = 0; k < N; k++) {
		memset(data(&d, k), (int)k + 1, 4096);
		request(&d, k, VIRTIO_BLK_T_OUT, 8ull * k, 4096, k == N - 1);
	}
	virtio_blk_stop(d.b);
	cr_expect_eq(vg_used_idx(&d.g), (uint16_t)(start + N), "all %d done when the stop returns", N);
	for (unsigned k = 0; k < N; k++) {
		uint8_t back[4096];

		vg_used_elem(&d.g, start + k, &id, &len);
		cr_expect_eq(d.g.ram[STATUS_GPA + k], VIRTIO_BLK_S_OK, "request %u", k);
		file_read(4096ull * k, back, sizeof(back));
		cr_expect(back[0] == k + 1 && back[4095] == k + 1, "request %u's data in the file", k);
	}
	/* started again (a resume, or a forked child): it goes on */
	cr_assert_eq(virtio_blk_start(d.b, &d.g.t), 0);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 8, 512, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(data(&d, 0)[0], 2, "request 1's data read back");
	disk_down(&d);
}

/* A fork: parent and child go on with disks of their own over the image as it was (disk_chain.h). */
Test(virtio_blk, a_forked_disk_keeps_parent_and_child_apart)
{
	uint8_t back[512];
	struct disk d;
	uint32_t len;
	int status;
	pid_t pid;

	make_disk(DISK_SECTORS * 512ull);
	disk_up(&d, false);
	memset(data(&d, 0), 'A', 512);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_OUT, 5, 512, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(virtio_blk_layers(d.b), 1);
	cr_assert_eq(virtio_blk_fork_prepare(d.b), 0, "%s", vmm_last_error());
	cr_expect_eq(virtio_blk_layers(d.b), 2, "the disk as it is now frozen under a layer");
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* the child's start (iobus_start_all in a forked VM) gives it a top of its own */
		int ok = !virtio_blk_start(d.b, &d.g.t);

		memset(data(&d, 0), 'C', 512);
		ok = ok && one(&d, VIRTIO_BLK_T_OUT, 5, 512, &len) == VIRTIO_BLK_S_OK;
		usleep(200 * 1000); /* the parent writes meanwhile */
		memset(data(&d, 0), 0, 512);
		ok = ok && one(&d, VIRTIO_BLK_T_IN, 5, 512, &len) == VIRTIO_BLK_S_OK && data(&d, 0)[0] == 'C' &&
		     data(&d, 0)[511] == 'C';
		ok = ok && one(&d, VIRTIO_BLK_T_FLUSH, 0, 0, &len) == VIRTIO_BLK_S_OK;
		virtio_blk_stop(d.b);
		_exit(ok ? 0 : 1);
	}
	virtio_blk_fork_parent(d.b);
	memset(data(&d, 0), 'P', 512);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_OUT, 5, 512, &len), VIRTIO_BLK_S_OK);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child wrote and read back its own sector");
	memset(data(&d, 0), 0, 512);
	cr_assert_eq(one(&d, VIRTIO_BLK_T_IN, 5, 512, &len), VIRTIO_BLK_S_OK);
	cr_expect(data(&d, 0)[0] == 'P' && data(&d, 0)[511] == 'P', "the parent reads its own write, not the child's");
	file_read(5 * 512, back, sizeof(back));
	cr_expect(back[0] == 'A' && back[511] == 'A', "the image keeps the disk as it was at the fork");
	disk_down(&d);
}

/* PATH,snapshot: the guest writes a private layer; the image is opened read-only and never changes. */
Test(virtio_blk, a_snapshot_disk_keeps_its_writes_private)
{
	struct virtio_backend be;
	uint8_t back[512], zero[512] = { 0 };
	struct disk d;
	char spec[300];
	uint32_t len;

	make_disk(DISK_SECTORS * 512ull);
	snprintf(spec, sizeof(spec), "%s,snapshot", disk_path);
	cr_assert_eq(virtio_blk_backend(spec, &be), 0, "%s", vmm_last_error());
	memset(&d, 0, sizeof(d));
	d.b = be.opaque;
	cr_expect_eq(virtio_blk_layers(d.b), 2, "a private layer from the start");
	vg_init(&d.g, virtio_blk_ops(d.b), d.b);
	cr_assert_eq(virtio_blk_start(d.b, &d.g.t), 0);
	vg_driver_up(&d.g, FEATURES);
	memset(data(&d, 0), 'S', 512);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_OUT, 9, 512, &len), VIRTIO_BLK_S_OK, "writable to the guest");
	memset(data(&d, 0), 0, 512);
	cr_expect_eq(one(&d, VIRTIO_BLK_T_IN, 9, 512, &len), VIRTIO_BLK_S_OK);
	cr_expect_eq(data(&d, 0)[0], 'S');
	file_read(9 * 512, back, sizeof(back));
	cr_expect_eq(memcmp(back, zero, 512), 0, "the image is not written");
	/* and a second writer of the image is not refused: this one never writes it */
	struct virtio_blk_config cfg = { .path = disk_path };
	struct virtio_blk *w;

	cr_expect_eq(virtio_blk_open(&cfg, &w), 0, "%s", vmm_last_error());
	virtio_blk_close(w);
	disk_down(&d);
}

Test(virtio_blk, bad_images_and_a_second_writer_are_refused)
{
	struct virtio_blk_config cfg = { .path = "/nonexistent/disk.img" };
	struct virtio_blk *a, *b;
	char dir[256];

	cr_expect_eq(virtio_blk_open(&cfg, &a), -ENOENT);
	cr_expect(strstr(vmm_last_error(), "disk '/nonexistent/disk.img'"), "%s", vmm_last_error());
	snprintf(dir, sizeof(dir), "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cfg.path = dir;
	cfg.readonly = true;
	cr_expect_eq(virtio_blk_open(&cfg, &a), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "not a regular file"), "%s", vmm_last_error());
	make_disk(1000);
	cfg.path = disk_path;
	cr_expect_eq(virtio_blk_open(&cfg, &a), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "not a whole number of 512-byte sectors"), "%s", vmm_last_error());
	make_disk(0);
	cr_expect_eq(virtio_blk_open(&cfg, &a), -EINVAL);

	make_disk(DISK_SECTORS * 512ull);
	cfg.readonly = false;
	cr_assert_eq(virtio_blk_open(&cfg, &a), 0);
	cr_expect_eq(virtio_blk_open(&cfg, &b), -EBUSY, "a second writer");
	cr_expect(strstr(vmm_last_error(), "another process has it open for writing"), "%s", vmm_last_error());
	cfg.readonly = true;
	cr_assert_eq(virtio_blk_open(&cfg, &b), 0, "a reader beside it");
	virtio_blk_close(b);
	virtio_blk_close(a);
	cfg.readonly = false;
	cr_assert_eq(virtio_blk_open(&cfg, &b), 0, "the lock went with the first writer");
	virtio_blk_close(b);
}

Test(virtio_blk, the_disk_option_names_its_problem)
{
	struct virtio_backend be;

	cr_expect_eq(virtio_blk_backend("/tmp/x.img,rw", &be), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "unknown option 'rw' (PATH[,readonly|,snapshot])"), "%s", vmm_last_error());
	cr_expect_eq(virtio_blk_backend(",readonly", &be), -EINVAL);
	cr_expect(strstr(vmm_last_error(), "expected PATH[,readonly|,snapshot]"), "%s", vmm_last_error());
}
