EXTRA_DIST += docs/design.md docs/benchmarks.md
EXTRA_DIST += docs/ctl.md
EXTRA_DIST += docs/linux-boot.md
EXTRA_DIST += docs/snapshot-format.md
EXTRA_DIST += docs/collapse.md
EXTRA_DIST += docs/design.md docs/benchmarks.md docs/vmm.md docs/payload-abi.md
EXTRA_DIST += docs/lab.md
EXTRA_DIST += docs/bench-collapse.png
