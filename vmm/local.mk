# x86 building blocks shared by the VMM and its unit tests
VMM_X86_SOURCES = \
	vmm/x86/layout.h \
	vmm/x86/pagetable.h \
	vmm/x86/pagetable.c \
	vmm/x86/gdt.h \
	vmm/x86/gdt.c

bin_PROGRAMS += vmm/thpvm
vmm_thpvm_SOURCES = \
	vmm/cli.h \
	vmm/main.c \
	vmm/commands.c \
	vmm/util.c \
	vmm/cmd_demo.c \
	vmm/bench/bench.h \
	vmm/bench/bench.c \
	vmm/bench/benches.c \
	vmm/bench/bench_coverage.c \
	$(VMM_X86_SOURCES)
vmm_thpvm_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
vmm_thpvm_LDADD = src/libthpvm.la $(JANSSON_LIBS) -lm
vmm_thpvm_SOURCES += vmm/bench/bench_collapse_mem.c
