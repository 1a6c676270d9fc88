lib_LTLIBRARIES += src/libthpvm.la
src_libthpvm_la_SOURCES = \
	src/internal.h \
	src/kernel_compat.h \
	src/errmsg.c \
	src/host_thp.c \
	src/thp_policy.c \
	src/memmap.c \
	src/region_map.c \
	src/extent.c \
	src/pagemap.c \
	src/smaps.c \
	src/coverage.c \
	src/coverage_report.c \
	src/image_io.h \
	src/image_io.c \
	src/image_disk.c \
	src/image.c
src_libthpvm_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(URING_CFLAGS)
src_libthpvm_la_LIBADD = $(JANSSON_LIBS) $(URING_LIBS)
src_libthpvm_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0
# The collapse thread (docs/collapse.md): scan -> choose -> collapse -> account.
src_libthpvm_la_SOURCES += \
	src/collapse/collapse_internal.h \
	src/collapse/result.c \
	src/collapse/config.c \
	src/collapse/scan.c \
	src/collapse/policy.c \
	src/collapse/engine.c \
	src/collapse/engine_madv.c \
	src/collapse/engine_remap.c \
	src/collapse/staging.c \
	src/collapse/uffd.c \
	src/collapse/vma.c \
	src/collapse/account.c \
	src/collapse/thread.c
