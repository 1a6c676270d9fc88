EXTRA_DIST += docs/design.md docs/benchmarks.md
