# The Linux guest recipe (docs/lab.md): Debian's kernel packages and a
# busybox initramfs, built into
#   $(builddir)/guests/linux/            Debian 12's kernel (bookworm, 6.1)
#   $(builddir)/guests/linux-backports/  bookworm-backports' kernel (6.12)
# each with bzImage vmlinux config kernel-release modules/ initramfs.cpio.
# The nested lab boots either as L1 and either as L2.
# Hook for Linux user programs in the guest (tlbbench, memtest, ...): define
#   LINUX_GUEST_BINS = path/to/static-program ...
# (build-tree paths of static executables) BEFORE guests/local.mk includes this
# file; each becomes /bin/NAME in the initramfs, run with thpvm.run=NAME.
LINUX_GUEST_FILES = \
	guests/linux/build.sh \
	guests/linux/fetch-kernel.sh \
	guests/linux/extract-kernel.sh \
	guests/linux/extract-vmlinux.sh \
	guests/linux/mkinitramfs.sh \
	guests/linux/initramfs/init
EXTRA_DIST += $(LINUX_GUEST_FILES)

# Always runs the script: it is quick when nothing changed (the .deb is
# cached in ~/.cache/thpvm and unpacked again only when it changes).
linux-guest: $(LINUX_GUEST_BINS)
	$(AM_V_GEN)$(top_srcdir)/guests/linux/build.sh guests/linux $(LINUX_GUEST_BINS)
	$(AM_V_GEN)$(top_srcdir)/guests/linux/build.sh --suite bookworm-backports guests/linux-backports $(LINUX_GUEST_BINS)
.PHONY: linux-guest
