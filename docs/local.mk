EXTRA_DIST += docs/design.md docs/benchmarks.md
EXTRA_DIST += docs/lab.md
