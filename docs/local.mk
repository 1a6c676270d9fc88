EXTRA_DIST += docs/design.md docs/benchmarks.md docs/vmm.md docs/payload-abi.md
