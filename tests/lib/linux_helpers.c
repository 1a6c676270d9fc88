/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "x86/layout.h"
#include "x86/pvh.h"
#include "helpers.h"
#include "linux_helpers.h"
#include "require.h"

#ifndef THPVM_TEST_KERNEL_DIR_DEFAULT
#define THPVM_TEST_KERNEL_DIR_DEFAULT "guests/linux"
#endif

#define MAX_FILES 32
#define PAGE 4096ULL
#define ALIGN_UP_PAGE(x) (((x) + PAGE - 1) & ~(PAGE - 1))

static char dir[256];
static char files[MAX_FILES][PATH_MAX];
static unsigned nr_files;

struct thpvm_memmap *linux_test_map(uint64_t size_bytes)
{
	struct thpvm_memmap *map;
	uint64_t low = size_bytes < X86_MMIO_HOLE_GPA ? size_bytes : X86_MMIO_HOLE_GPA;
	struct thpvm_region_config lo = { .name = "ram-low", .gpa = 0, .size_bytes = low };
	struct thpvm_region_config hi = { .name = "ram-high", .gpa = X86_RAM_HIGH_GPA, .size_bytes = size_bytes - low };

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &lo, NULL), 0, "%s", thpvm_last_error());
	if (hi.size_bytes)
		cr_assert_eq(thpvm_memmap_add(map, &hi, NULL), 0, "%s", thpvm_last_error());
	return map;
}

const char *linux_test_kernel(const char *name)
{
	static char path[PATH_MAX];
	const char *kdir = getenv("THPVM_TEST_KERNEL_DIR");

	if (!kdir || !*kdir)
		kdir = THPVM_TEST_KERNEL_DIR_DEFAULT;
	snprintf(path, sizeof(path), "%s/%s", kdir, name);
	if (access(path, R_OK))
		cr_skip_test("no real kernel at %s (build guests/linux or set THPVM_TEST_KERNEL_DIR)", path);
	return path;
}

const char *linux_test_dir(void)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/thpvm-linux-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	return dir;
}

void linux_test_cleanup(void)
{
	for (unsigned i = 0; i < nr_files; i++)
		unlink(files[i]);
	nr_files = 0;
	if (dir[0])
		rmdir(dir);
	dir[0] = '\0';
}

void linux_run_fixture_init(void)
{
	REQUIRE_KVM();
}

void linux_run_fixture_fini(void)
{
	char cmd[sizeof(dir) + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", linux_test_dir());
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", linux_test_dir()); /* not cr_log_warn(): it fails the binary */
	linux_test_cleanup();
}

static char *new_path(const char *name)
{
	cr_assert_lt(nr_files, MAX_FILES);
	snprintf(files[nr_files], PATH_MAX, "%s/%s", linux_test_dir(), name);
	return files[nr_files++];
}

const char *linux_test_file(const char *name, const void *data, size_t len)
{
	char *path = new_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

const char *linux_test_pattern_file(const char *name, uint64_t size_bytes, uint32_t seed)
{
	uint8_t *buf = malloc(ALIGN_UP_PAGE(size_bytes));
	const char *path;

	cr_assert_not_null(buf);
	pattern_fill(buf, 0, ALIGN_UP_PAGE(size_bytes) / PAGE, 1, seed);
	path = linux_test_file(name, buf, size_bytes);
	free(buf);
	return path;
}

uint64_t linux_test_check_pattern(struct thpvm_memmap *map, uint64_t gpa, uint64_t size_bytes, uint32_t seed)
{
	uint64_t full = size_bytes / PAGE, tail = size_bytes % PAGE, bad;
	const uint8_t *hva = thpvm_memmap_gpa_to_hva(map, gpa, size_bytes);
	uint8_t page[PAGE];

	cr_assert_not_null(hva, "[0x%llx, +%llu) is not in one region", (unsigned long long)gpa,
			   (unsigned long long)size_bytes);
	bad = pattern_check(hva, 0, full, 1, seed);
	if (tail) {
		pattern_fill_page(page, full, 1, seed);
		bad += memcmp(hva + full * PAGE, page, tail) != 0;
	}
	return bad;
}

const char *linux_test_sparse_file(const char *name, uint64_t size_bytes)
{
	char *path = new_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size_bytes), 0);
	close(fd);
	return path;
}

void *linux_test_read(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		cr_assert_gt(n, 0, "read %s", path);
		done += (size_t)n;
	}
	close(fd);
	*len = done;
	return buf;
}

struct synth_bz synth_bz_default(void)
{
	return (struct synth_bz){
		.version = 0x020f,
		.loadflags = LOADED_HIGH,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.relocatable = 1,
		.kernel_alignment = 0x200000,
		.pref_address = 0x1000000,
		.init_size = 0x800000,
		.cmdline_size = 255,
		.initrd_addr_max = 0x7fffffff,
		.pm_bytes = 3 * PAGE + 0x230,
		.setup_sects = 4,
	};
}

void *synth_bz_build(const struct synth_bz *s, size_t *len)
{
	uint64_t setup = ((uint64_t)(s->setup_sects ? s->setup_sects : 4) + 1) * 512;
	uint8_t *img = calloc(1, setup + ALIGN_UP_PAGE(s->pm_bytes));
	struct setup_header h;

	cr_assert_not_null(img);
	memset(&h, 0, sizeof(h));
	h.setup_sects = s->setup_sects;
	h.syssize = (uint32_t)((s->pm_bytes + 15) / 16);
	h.boot_flag = 0xaa55;
	h.jump = (uint16_t)(0xeb | (sizeof(h) + 0x1f1 - 0x202) << 8); /* the header runs to kernel_info_offset */
	h.header = 0x53726448;
	h.version = s->version;
	h.loadflags = s->loadflags;
	h.code32_start = 0x100000;
	h.initrd_addr_max = s->initrd_addr_max;
	h.kernel_alignment = s->kernel_alignment;
	h.relocatable_kernel = s->relocatable;
	h.min_alignment = 21;
	h.xloadflags = s->xloadflags;
	h.cmdline_size = s->cmdline_size;
	h.pref_address = s->pref_address;
	h.init_size = s->init_size;
	memcpy(img + 0x1f1, &h, sizeof(h));
	pattern_fill(img + setup, 0, ALIGN_UP_PAGE(s->pm_bytes) / PAGE, 1, SYNTH_BZ_SEED);
	*len = setup + h.syssize * 16ULL;
	return img;
}

void *synth_elf_build(const struct synth_elf *s, size_t *len)
{
	unsigned nr_ph = s->nr_segs + (s->pvh_note || s->other_notes ? 1 : 0);
	uint64_t off = sizeof(Elf64_Ehdr) + nr_ph * sizeof(Elf64_Phdr), note_off = off, size;
	uint8_t notes[256], *img;
	unsigned note_len = 0;
	Elf64_Ehdr eh = { 0 };

	/* notes: unrelated ones first when asked, like a real vmlinux */
	if (s->other_notes) {
		static const struct { const char *name; uint32_t type; } other[] = { { "Xen", 6 }, { "GNU", 3 }, { "Linux", 1 } };

		for (unsigned i = 0; i < 3; i++) {
			Elf64_Nhdr n = { .n_namesz = (uint32_t)strlen(other[i].name) + 1, .n_descsz = 8, .n_type = other[i].type };

			memcpy(notes + note_len, &n, sizeof(n));
			note_len += sizeof(n);
			memset(notes + note_len, 0, 16);
			memcpy(notes + note_len, other[i].name, n.n_namesz);
			note_len += (n.n_namesz + 3) & ~3u;
			memset(notes + note_len, 0x5a, 8);
			note_len += 8;
		}
	}
	if (s->pvh_note) {
		Elf64_Nhdr n = { .n_namesz = 4, .n_descsz = s->note_descsz, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };

		memcpy(notes + note_len, &n, sizeof(n));
		note_len += sizeof(n);
		memcpy(notes + note_len, "Xen", 4);
		note_len += 4;
		memset(notes + note_len, 0, 8);
		memcpy(notes + note_len, &s->entry, s->note_descsz <= 8 ? s->note_descsz : 8);
		note_len += (s->note_descsz + 3) & ~3u;
	}
	off = ALIGN_UP_PAGE(note_off + note_len);
	size = off;
	for (unsigned i = 0; i < s->nr_segs; i++)
		size += ALIGN_UP_PAGE(s->segs[i].filesz);
	img = calloc(1, size);
	cr_assert_not_null(img);

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = s->elf_class;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = s->machine;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0xffffffff81000000ULL;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)nr_ph;
	memcpy(img, &eh, sizeof(eh));
	for (unsigned i = 0; i < s->nr_segs; i++) {
		Elf64_Phdr ph = {
			.p_type = PT_LOAD,
			.p_flags = PF_R | PF_W | PF_X,
			.p_offset = off,
			.p_vaddr = 0xffffffff80000000ULL + s->segs[i].paddr,
			.p_paddr = s->segs[i].paddr,
			.p_filesz = s->segs[i].filesz,
			.p_memsz = s->segs[i].memsz,
			.p_align = PAGE,
		};

		memcpy(img + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		pattern_fill(img + off, 0, ALIGN_UP_PAGE(s->segs[i].filesz) / PAGE, 1, SYNTH_ELF_SEED + i);
		off += ALIGN_UP_PAGE(s->segs[i].filesz);
	}
	if (nr_ph > s->nr_segs) {
		Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_len, .p_memsz = note_len, .p_align = 4 };

		memcpy(img + sizeof(eh) + s->nr_segs * sizeof(ph), &ph, sizeof(ph));
		memcpy(img + note_off, notes, note_len);
	}
	*len = size;
	return img;
}

void expect_load_refused(struct thpvm_memmap *map, const struct linux_load_config *cfg, int err,
			 enum linux_result result, const char *needle)
{
	struct linux_boot boot;
	int ret = linux_load(map, cfg, &boot);
	const char *msg = linux_last_error();

	cr_assert_eq(ret, -err, "expected -%d (%s), got %d: %s", err, linux_result_name(result), ret, msg);
	cr_assert_eq(linux_last_result(), result, "got %s, want %s: %s", linux_result_name(linux_last_result()),
		     linux_result_name(result), msg);
	cr_assert_eq(linux_result_errno(result), err);
	cr_assert(msg[0] && !strchr(msg, '\n'), "one-line message expected: '%s'", msg);
	cr_assert(strstr(msg, needle), "message '%s' does not mention '%s'", msg, needle);
	cr_log_info("refused as expected: %s", msg);
}

const char *synth_pvh_kernel(const char *name, const uint8_t *code, size_t len)
{
	struct synth_elf se = {
		.elf_class = ELFCLASS64, .machine = EM_X86_64,
		.segs = { { 0x1000000, 0x2000, 0x2000 } }, .nr_segs = 1,
		.pvh_note = true, .note_descsz = 8, .entry = 0x1000100,
	};
	size_t img_len;
	uint8_t *img = synth_elf_build(&se, &img_len);
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + ((const Elf64_Ehdr *)img)->e_phoff);
	const char *path;

	cr_assert_leq(len, 0x2000 - 0x100, "the code fits its segment");
	memcpy(img + ph[0].p_offset + 0x100, code, len);
	path = linux_test_file(name, img, img_len);
	free(img);
	return path;
}

/* Writes img (malloc'd, len bytes) to a file name in the test directory and frees it; returns the path. */
static const char *image_file(const char *name, void *img, size_t len)
{
	const char *path = linux_test_file(name, img, len);

	free(img);
	return path;
}

const char *synth_bz_file(const char *name, const struct synth_bz *s)
{
	size_t len;
	void *img = synth_bz_build(s, &len);

	return image_file(name, img, len);
}

const char *synth_elf_file(const char *name, const struct synth_elf *s)
{
	size_t len;
	void *img = synth_elf_build(s, &len);

	return image_file(name, img, len);
}

struct synth_elf synth_elf_default(void)
{
	return (struct synth_elf){
		.elf_class = ELFCLASS64,
		.machine = EM_X86_64,
		.segs = { { 0x1000000, 0x2000, 0x3000 } },
		.nr_segs = 1,
		.pvh_note = true,
		.note_descsz = 4,
		.entry = 0x1000010,
	};
}

void linux_fixture_init(void)
{
	fix_map = linux_test_map(64 * MIB);
}

void linux_fixture_fini(void)
{
	map_fixture_fini();
	linux_test_cleanup();
}

void linux_fixture_load(const char *kernel_path, uint64_t ram_bytes, const char *cmdline, unsigned nr_cpus,
			uint64_t initrd_size, struct linux_boot *b)
{
	struct linux_load_config cfg = {
		.kernel_path = kernel_path,
		.initrd_path = initrd_size ? linux_test_pattern_file("initrd", initrd_size, LINUX_TEST_INITRD_SEED) : NULL,
		.cmdline = cmdline,
		.nr_cpus = nr_cpus,
	};

	fix_map = linux_test_map(ram_bytes);
	cr_assert_eq(linux_load(fix_map, &cfg, b), 0, "%s", linux_last_error());
}
