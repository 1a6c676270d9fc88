#!/bin/bash
# Runs every libFuzzer target for a bounded time, two at a time (one per core):
#   fuzz/run.sh SRC_FUZZ_DIR OUT_DIR SECONDS TARGET...
# Each target starts from its seeds (SRC/corpus/T), its past findings
# (SRC/regress/T) and what earlier runs here found (OUT/corpus/T, kept).
# Prints per target the executions, the corpus and the coverage; exits 1 on
# any finding, which is left in OUT/findings/T-* with the command to replay it.
set -uo pipefail
src=$1 out=$2 secs=$3
shift 3
mkdir -p "$out/findings" "$out/logs"

one() {
	local t=$1 dict=()
	mkdir -p "$out/corpus/$t" "$src/regress/$t"
	[ -f "$src/$t.dict" ] && dict=(-dict="$src/$t.dict")
	# stderr of the code under test is closed (-close_fd_mask=2: the parsers print one line per refusal);
	# libFuzzer keeps its own, so a finding's report still reaches the log
	"$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -close_fd_mask=2 \
		-print_final_stats=1 -artifact_prefix="$out/findings/$t-" "${dict[@]}" \
		"$out/corpus/$t" "$src/corpus/$t" "$src/regress/$t" > "$out/logs/$t.log" 2>&1
}

failed=0
set -- "$@"
while [ $# -gt 0 ]; do
	pids=() names=()
	for t in "$1" "${2:-}"; do
		[ -n "$t" ] || continue
		one "$t" & pids+=($!) names+=("$t")
	done
	shift; [ $# -gt 0 ] && shift
	for i in "${!pids[@]}"; do
		t=${names[$i]}
		if wait "${pids[$i]}"; then
			execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log")
			cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/logs/$t.log" | sed -E 's/.*cov: ([0-9]+).*corp: ([0-9]+)\/([^ ]+).*/cov \1, corpus \2 inputs (\3)/')
			echo "fuzz $t: ${secs} s, ${execs:-?} executions, ${cov:-?}: no finding"
		else
			failed=1
			echo "fuzz $t: FINDING (log: $out/logs/$t.log)"
			grep -E 'ERROR: |fuzz check failed|SUMMARY|Test unit written|deadly signal' "$out/logs/$t.log" | head -n 8 | sed 's/^/  /'
			for f in "$out/findings/$t-"*; do
				[ -e "$f" ] || continue
				echo "  replay: $out/fuzz_$t $f"
				echo "  keep it as a regression test: cp $f $src/regress/$t/"
			done
		fi
	done
done
exit $failed
