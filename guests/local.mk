# Payload guests: flat binaries built from GNU as sources (docs/payload-abi.md).
# Each links guests/rt (header, port-I/O layer) and guests/lib (helpers) with
# guests/payload.ld, then objcopy -O binary. No host flags (sanitizers, PIE)
# reach them: they run at CPL3 in a guest, not on the host.
PAYLOAD_ABI_H = $(top_srcdir)/guests/include/payload_abi.h $(top_srcdir)/guests/include/chase.h \
	$(top_srcdir)/guests/include/pl_asm.h
PAYLOAD_LDS = $(top_srcdir)/guests/payload.ld
PAYLOAD_RT_SRCS = \
	$(top_srcdir)/guests/rt/header.S \
	$(top_srcdir)/guests/rt/portio.S \
	$(top_srcdir)/guests/lib/util.S \
	$(top_srcdir)/guests/lib/chase.S
PAYLOAD_DEPS = $(PAYLOAD_RT_SRCS) $(PAYLOAD_LDS) $(PAYLOAD_ABI_H)
PAYLOAD_LINK = $(CC) -nostdlib -nostartfiles -static -no-pie -ffreestanding \
	-I$(top_srcdir)/guests/include -Wa,--noexecstack \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -Wl,-T,$(PAYLOAD_LDS)
PAYLOAD_BIN = $(OBJCOPY) -O binary

PAYLOAD_BINS = \
	guests/selftest.bin \
	guests/triplefault.bin \
	guests/tlbbench.bin \
	guests/memtest.bin \
	guests/forktest.bin

# A multiboot v1 test kernel (ELF32) for the Linux machine's multiboot loader (tests/kvm/test_multiboot.c)
MULTIBOOT_TEST_KERNELS = guests/multiboot/mbtest.elf
EXTRA_DIST += guests/multiboot/mbtest.S guests/multiboot/mbtest.ld
CLEANFILES += $(MULTIBOOT_TEST_KERNELS)
noinst_DATA = $(MULTIBOOT_TEST_KERNELS)
guests/multiboot/mbtest.elf: $(top_srcdir)/guests/multiboot/mbtest.S $(top_srcdir)/guests/multiboot/mbtest.ld
	@$(MKDIR_P) guests/multiboot
	$(AM_V_GEN)$(CC) -m32 -nostdlib -nostartfiles -static -no-pie -ffreestanding -Wa,--noexecstack \
		-Wl,-T,$(top_srcdir)/guests/multiboot/mbtest.ld -Wl,-z,max-page-size=0x1000 -Wl,--build-id=none \
		-Wl,--no-warn-rwx-segments -o $@ $(top_srcdir)/guests/multiboot/mbtest.S

payloaddir = $(pkglibdir)/payloads
payload_DATA = $(PAYLOAD_BINS)
CLEANFILES += $(PAYLOAD_BINS) guests/selftest.elf guests/triplefault.elf guests/tlbbench.elf guests/memtest.elf \
	guests/forktest.elf
EXTRA_DIST += \
	guests/include/payload_abi.h \
	guests/include/chase.h \
	guests/include/pl_asm.h \
	guests/payload.ld \
	guests/rt/header.S \
	guests/rt/portio.S \
	guests/lib/util.S \
	guests/lib/chase.S \
	guests/selftest.S \
	guests/triplefault.S \
	guests/tlbbench.S \
	guests/memtest.S \
	guests/forktest.S

guests/selftest.elf: $(top_srcdir)/guests/selftest.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/selftest.S $(PAYLOAD_RT_SRCS)
guests/triplefault.elf: $(top_srcdir)/guests/triplefault.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/triplefault.S $(PAYLOAD_RT_SRCS)
guests/tlbbench.elf: $(top_srcdir)/guests/tlbbench.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/tlbbench.S $(PAYLOAD_RT_SRCS)
guests/memtest.elf: $(top_srcdir)/guests/memtest.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/memtest.S $(PAYLOAD_RT_SRCS)

guests/forktest.elf: $(top_srcdir)/guests/forktest.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/forktest.S $(PAYLOAD_RT_SRCS)

guests/selftest.bin: guests/selftest.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/selftest.elf $@
guests/triplefault.bin: guests/triplefault.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/triplefault.elf $@
guests/tlbbench.bin: guests/tlbbench.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/tlbbench.elf $@
guests/memtest.bin: guests/memtest.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/memtest.elf $@
guests/forktest.bin: guests/forktest.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/forktest.elf $@

# The same payload cores as static Linux programs (guests/linux-user/rt.S:
# system calls instead of port I/O), for Linux guests' initramfs.
LINUX_USER_LINK = $(CC) -nostdlib -nostartfiles -static -no-pie -ffreestanding \
	-I$(top_srcdir)/guests/include -Wa,--noexecstack \
	-Wl,--build-id=none -Wl,-z,noexecstack
LINUX_USER_SRCS = $(top_srcdir)/guests/linux-user/rt.S $(top_srcdir)/guests/lib/util.S $(top_srcdir)/guests/lib/chase.S
LINUX_USER_DEPS = $(LINUX_USER_SRCS) $(PAYLOAD_ABI_H)
LINUX_USER_BINS = guests/linux-user/tlbbench guests/linux-user/memtest guests/linux-user/selftest \
	guests/linux-user/blkbench
linuxuserdir = $(pkglibdir)/linux-user
linuxuser_DATA = $(LINUX_USER_BINS)
CLEANFILES += $(LINUX_USER_BINS)
EXTRA_DIST += guests/linux-user/rt.S guests/linux-user/blkbench.c

guests/linux-user/tlbbench: $(top_srcdir)/guests/tlbbench.S $(LINUX_USER_DEPS)
	@$(MKDIR_P) guests/linux-user
	$(AM_V_GEN)$(LINUX_USER_LINK) -o $@ $(top_srcdir)/guests/tlbbench.S $(LINUX_USER_SRCS)
guests/linux-user/memtest: $(top_srcdir)/guests/memtest.S $(LINUX_USER_DEPS)
	@$(MKDIR_P) guests/linux-user
	$(AM_V_GEN)$(LINUX_USER_LINK) -o $@ $(top_srcdir)/guests/memtest.S $(LINUX_USER_SRCS)
guests/linux-user/selftest: $(top_srcdir)/guests/selftest.S $(LINUX_USER_DEPS)
	@$(MKDIR_P) guests/linux-user
	$(AM_V_GEN)$(LINUX_USER_LINK) -o $@ $(top_srcdir)/guests/selftest.S $(LINUX_USER_SRCS)
# blkbench (`thpvm bench blk`'s measuring side, in the guest and on the host): C against Debian's static
# glibc, none of the host's flags (sanitizers, PIE) on a program that runs in a libc-less guest
guests/linux-user/blkbench: $(top_srcdir)/guests/linux-user/blkbench.c
	@$(MKDIR_P) guests/linux-user
	$(AM_V_GEN)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -o $@ $(top_srcdir)/guests/linux-user/blkbench.c
# The Linux guest's initramfs carries the payload cores as Linux programs.
LINUX_GUEST_BINS = $(LINUX_USER_BINS)
include guests/linux/local.mk

# collbench: the guest's side of `thpvm bench collapse` (a pointer chase timed before a fork, after the
# child's split of every extent, and lap after lap while the collapse thread recovers)
PAYLOAD_BINS += guests/collbench.bin
CLEANFILES += guests/collbench.elf
EXTRA_DIST += guests/collbench.S
guests/collbench.elf: $(top_srcdir)/guests/collbench.S $(PAYLOAD_DEPS)
	@$(MKDIR_P) guests
	$(AM_V_GEN)$(PAYLOAD_LINK) -o $@ $(top_srcdir)/guests/collbench.S $(PAYLOAD_RT_SRCS)
guests/collbench.bin: guests/collbench.elf
	$(AM_V_GEN)$(PAYLOAD_BIN) guests/collbench.elf $@
