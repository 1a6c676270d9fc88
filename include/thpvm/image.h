/* SPDX-License-Identifier: MIT */
/*
 * A region's image on disk (docs/snapshot-format.md): the region's bytes at
 * their own offsets (gpa - the region's gpa), so every 2 MiB extent sits at
 * a 2 MiB-aligned offset and the file can be mapped straight onto guest RAM
 * or read into it with O_DIRECT; extents never touched, and extents whose
 * every page is present and zero, are holes. Beside the file, one byte per
 * extent says which is which (the caller keeps it, e.g. in a snapshot's
 * state file). Written and read with io_uring, O_DIRECT where the file
 * system takes it (buffered otherwise), or with pread/pwrite where io_uring
 * is not allowed; the stats say which.
 */
#ifndef THPVM_IMAGE_H
#define THPVM_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <thpvm/memmap.h>

#ifdef __cplusplus
extern "C" {
#endif

#define THPVM_IMAGE_EXTENTS(X)                                                                  \
	X(THPVM_IMAGE_ABSENT, 0, "absent")   /* never touched: a hole, left untouched by a load */ \
	X(THPVM_IMAGE_ZERO, 0, "zero")       /* every page present and zero: a hole */             \
	X(THPVM_IMAGE_DATA, 0, "data")       /* in the file, at its own offset */

enum thpvm_image_extent {
	THPVM_IMAGE_EXTENTS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_IMAGE_EXTENTS
};

#define THPVM_IMAGE_RESULTS(X)                                                                  \
	X(THPVM_IMAGE_OK, 0, "ok")                                                              \
	X(THPVM_IMAGE_OPEN_FAILED, EIO, "cannot open the memory file")                          \
	X(THPVM_IMAGE_NOT_REGULAR, EINVAL, "the memory file is not a regular file")             \
	X(THPVM_IMAGE_SIZE_MISMATCH, EINVAL, "the memory file's size is not the region's")       \
	X(THPVM_IMAGE_BAD_MAP, EINVAL, "the extent map names an unknown extent state")          \
	X(THPVM_IMAGE_SHORT_READ, EIO, "the memory file ends before an extent it should hold")  \
	X(THPVM_IMAGE_IO_FAILED, EIO, "reading or writing the memory file failed")              \
	X(THPVM_IMAGE_URING_FAILED, ENOMEM, "cannot set up io_uring")                           \
	X(THPVM_IMAGE_NO_MEMORY, ENOMEM, "out of memory")                                       \
	X(THPVM_IMAGE_CANCELLED, ECANCELED, "cancelled by the progress callback")

enum thpvm_image_result {
	THPVM_IMAGE_RESULTS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_IMAGE_RESULTS
};

struct thpvm_image_stats {
	uint64_t nr_extents;
	uint64_t nr[THPVM_NR_IMAGE_EXTENTS];   /* extents per state */
	uint64_t bytes;                         /* written or read */
	uint64_t ns;                            /* the whole call, open to close */
	bool direct;                            /* O_DIRECT (false: the file system refused it) */
	unsigned queue_depth;                   /* requests in flight at most (1 without io_uring) */
	/*
	 * 0: io_uring. Else the errno io_uring_setup gave (ENOSYS: no io_uring
	 * in the kernel; EPERM: kernel.io_uring_disabled or a seccomp filter;
	 * EACCES: an LSM), and the file went through pread/pwrite, one request
	 * at a time, still O_DIRECT where the file system takes it.
	 */
	int uring_error;
	bool fixed_file;                        /* the file went through io_uring_register_files */
	bool fixed_buffers;                     /* the memory went through io_uring_register_buffers */
};

/* The most requests an image keeps in flight (thpvm_image_io_config.queue_depth). */
#define THPVM_IMAGE_MAX_QUEUE_DEPTH 64

/*
 * How every image and thpvm_image_measure_disk() use io_uring, for the
 * whole process (the defaults were chosen by thpvm bench snapshot, which
 * sweeps these; docs/benchmarks.md). A call already under way keeps the
 * settings it started with.
 */
struct thpvm_image_io_config {
	unsigned queue_depth;      /* requests in flight, 1..THPVM_IMAGE_MAX_QUEUE_DEPTH; 0: the default */
	bool register_file;        /* io_uring_register_files of the file, IOSQE_FIXED_FILE */
	/*
	 * io_uring_register_buffers over the memory a call moves (its data
	 * extents, up to 1 GiB per buffer), READ_FIXED/WRITE_FIXED: the pages
	 * are pinned once for the call instead of per request. Where the
	 * kernel refuses (RLIMIT_MEMLOCK, too many buffers) the call goes on
	 * without, and its stats say so.
	 */
	bool register_buffers;
};

/* Sets the process's image I/O settings (NULL: the defaults). Returns 0 or -EINVAL (a depth out of range). */
int thpvm_image_io_config_set(const struct thpvm_image_io_config *cfg);
/* The settings in force: the defaults unless thpvm_image_io_config_set() changed them. */
void thpvm_image_io_config_get(struct thpvm_image_io_config *cfg);

const char *thpvm_image_extent_str(enum thpvm_image_extent state);
const char *thpvm_image_result_str(enum thpvm_image_result result);
const char *thpvm_image_result_name(enum thpvm_image_result result);
int thpvm_image_result_errno(enum thpvm_image_result result);

/*
 * Writes region's image to path (created 0600 or truncated, then fsynced;
 * the caller renames it into place), and map[i] gets extent i's state
 * (thpvm_region_nr_extents() bytes). The region must not change meanwhile
 * (a paused VM). An extent partly present is written whole: its absent
 * pages read as zero, which allocates them. A region mapped from a file
 * (THPVM_BACKING_FILE) has no absent extent: its pages not faulted in yet
 * hold the file's bytes, which are read (from the page cache) and saved.
 * progress (may be NULL) is called as the data goes out, as a prefault's
 * (thpvm_region_prefault()): progress(done, total, arg) with done the bytes
 * written so far, never decreasing, the last call at done == total (the
 * data extents' bytes; no call when there are none); a non-zero return
 * cancels the save (-ECANCELED, the file left partial for the caller to
 * remove). Returns 0 or -errno, with thpvm_last_error() naming the file and
 * the problem.
 */
int thpvm_region_image_save(struct thpvm_region *region, const char *path, uint8_t *map,
			    thpvm_progress_fn progress, void *arg, struct thpvm_image_stats *stats);

/*
 * Reads the DATA extents of map from path into region (eager restore:
 * reads straight into guest RAM, so a THP region gets its huge pages as it
 * fills). ZERO and ABSENT extents read as zero afterwards, as they did when
 * saved: where the region already holds pages there (a machine that wrote
 * its image before the restore), they are discarded, else left untouched.
 * The file must be exactly the region's size; the map is checked before
 * anything is read. The DATA extents are faulted in ahead of the reads by
 * a thread the call starts (every signal blocked in it) and joins before
 * it returns, whatever the outcome. progress as for a save (bytes read),
 * called on the calling thread. Returns 0 or -errno, thpvm_last_error()
 * says why.
 */
int thpvm_region_image_load(struct thpvm_region *region, const char *path, const uint8_t *map,
			    thpvm_progress_fn progress, void *arg, struct thpvm_image_stats *stats);

/*
 * The disk's own bandwidth, what an image can reach at best: writes size
 * bytes (a multiple of 2 MiB) to a new file at path and reads them back,
 * through the images' own I/O loop (the same requests of 2 MiB from 2 MiB
 * pages, as many in flight, O_DIRECT or not and io_uring or not as an image
 * would be), then removes the file. write and read get each pass's stats:
 * write's ns runs from the open to the fsync, read's from the open to the
 * close; the page cache holds none of the file when the read starts.
 * Returns 0 or -errno, thpvm_last_error() says why.
 */
int thpvm_image_measure_disk(const char *path, uint64_t size, struct thpvm_image_stats *write,
			     struct thpvm_image_stats *read);

#ifdef __cplusplus
}
#endif

#endif
