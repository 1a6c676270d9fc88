/* SPDX-License-Identifier: MIT */
/*
 * A region's image on disk (docs/snapshot-format.md): the region's bytes at
 * their own offsets (gpa - the region's gpa), so every 2 MiB extent sits at
 * a 2 MiB-aligned offset and the file can be mapped straight onto guest RAM
 * or read into it with O_DIRECT; extents never touched, and extents whose
 * every page is present and zero, are holes. Beside the file, one byte per
 * extent says which is which (the caller keeps it, e.g. in a snapshot's
 * state file). Written and read with io_uring, O_DIRECT where the file
 * system takes it (buffered otherwise, and the stats say so).
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
	X(THPVM_IMAGE_NO_MEMORY, ENOMEM, "out of memory")

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
	unsigned queue_depth;                   /* io_uring requests in flight at most */
};

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
 * hold the file's bytes, which are read (from the page cache) and saved. Returns 0 or -errno, with
 * thpvm_last_error() naming the file and the problem.
 */
int thpvm_region_image_save(struct thpvm_region *region, const char *path, uint8_t *map,
			    struct thpvm_image_stats *stats);

/*
 * Reads the DATA extents of map from path into region (eager restore:
 * reads straight into guest RAM, so a THP region gets its huge pages as it
 * fills). ZERO and ABSENT extents read as zero afterwards, as they did when
 * saved: where the region already holds pages there (a machine that wrote
 * its image before the restore), they are discarded, else left untouched.
 * The file must be exactly the region's size; the map is checked before
 * anything is read. Returns 0 or -errno, thpvm_last_error() says why.
 */
int thpvm_region_image_load(struct thpvm_region *region, const char *path, const uint8_t *map,
			    struct thpvm_image_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
