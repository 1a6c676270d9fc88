#!/bin/bash
# Where the KVM tests ran, from the logs make check left:
#   tests/kvm-report.sh BUILD_DIR [SANITIZED_BUILD_DIR]
# For each place (this host's KVM, the sanitized build on this host, each
# L1 of the nested lab): how many KVM tests ran, passed, failed, and how many
# were skipped and why. Exit status 1 when a KVM test was skipped on this host
# for lack of KVM and did not pass in the lab either (the lab could have run
# it), when the lab skipped a test for any reason but "KVM here is ..." (a
# test of another kind of KVM host, e.g. kvm-pvm's emulated ring 0, which no
# lab can be), or when the lab did not run at all although
# qemu-system-x86_64 is installed. The lab's logs are automake's
# (tests/lab/NAME.log beside NAME.trs); L1's console is NAME.console.log.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: kvm-report.sh BUILD_DIR [SANITIZED_BUILD_DIR]" >&2; exit 2; }
build=$1 asan=${2:-}
thpvm=$build/vmm/thpvm
tmp=$(mktemp -d "${TMPDIR:-/tmp}/thpvm-kvm-report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

# RESULT<TAB>NAME<TAB>REASON for every test case in automake logs: lines like
#   PASS: tests/kvm/test_vm 3 - vm::name  (0.1s)
#   SKIP: tests/kvm/test_vm 1 - vm::name # SKIP /dev/kvm is not usable here
#   PASS: tests/lab/kvm-l1-backports.lab 7 - tests/kvm/test_vm: vm::name
results() {
	sed -n -E 's/^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR): [^ ]+ [0-9]+ - (.*)$/\1\t\2/p' "$@" 2>/dev/null |
		awk -F'\t' '{
			name = $2; reason = ""
			i = index(name, " # SKIP"); if (i) { reason = substr(name, i + 7); name = substr(name, 1, i - 1) }
			sub(/^tests\/kvm\/[a-z0-9_]+: /, "", name)        # the lab names the binary first
			# the lab appends a failure'"'"'s first assertion: " [file:line: message]"
			i = index(name, " ["); if (i && $1 != "SKIP" && name ~ /\]$/) {
				reason = substr(name, i + 2, length(name) - i - 2); name = substr(name, 1, i - 1) }
			sub(/[ \t]+\([0-9.]+s\)[ \t]*$/, "", name)        # Criterion appends the duration
			sub(/[ \t]+$/, "", name); sub(/^[ \t]+/, "", reason)
			print $1 "\t" name "\t" reason }'
}
summary() { # summary LABEL FILE: one line of counts, then the skip reasons
	local label=$1 f=$2 ran pass fail skip
	pass=$(awk -F'\t' '$1 == "PASS" || $1 == "XFAIL"' "$f" | wc -l)
	fail=$(awk -F'\t' '$1 == "FAIL" || $1 == "ERROR" || $1 == "XPASS"' "$f" | wc -l)
	skip=$(awk -F'\t' '$1 == "SKIP"' "$f" | wc -l)
	ran=$((pass + fail))
	printf '  %s: %d ran (%d passed, %d failed), %d skipped\n' "$label" "$ran" "$pass" "$fail" "$skip"
	awk -F'\t' '$1 == "SKIP" { r = $3; sub(/: [^:]*$/, "", r); n[r]++ } END { for (r in n) printf "      %3d skipped: %s\n", n[r], r }' "$f" |
		sort -rn -k1
	# every failure with its reason, so the end of a CI log says why
	awk -F'\t' '$1 == "FAIL" || $1 == "ERROR" || $1 == "XPASS" {
		printf "      %s: %s%s\n", tolower($1), $2, $3 == "" ? "" : " [" substr($3, 1, 300) "]" }' "$f" | head -n 20
}

kvm_logs() { find "$1/tests/kvm" -name 'test_*.log' 2>/dev/null | sort; }
lab_logs() { find "$1/tests/lab" -name '*.trs' 2>/dev/null | sed 's/\.trs$/.log/' | sort; }
# a lab skip that is not a failure: the test is about another kind of KVM host
other_host='^KVM here is '


echo "== Where the KVM tests ran =="
host_kvm=$("$thpvm" host --json 2>/dev/null | sed -n 's/.*"what": "\(.*\)".*/\1/p' | head -n 1)
mapfile -t logs < <(kvm_logs "$build")
if [ ${#logs[@]} -gt 0 ]; then
	results "${logs[@]}" > "$tmp/host"
	summary "this host (${host_kvm:-KVM unknown})" "$tmp/host"
else
	: > "$tmp/host"
	echo "  this host: no KVM test logs in $build/tests/kvm (make check did not run them)"
fi
if [ -n "$asan" ]; then
	mapfile -t alogs < <(kvm_logs "$asan")
	if [ ${#alogs[@]} -gt 0 ]; then
		results "${alogs[@]}" > "$tmp/asan"
		summary "this host, -fsanitize=address,undefined build (${host_kvm:-KVM unknown})" "$tmp/asan"
	fi
	mapfile -t alabs < <(lab_logs "$asan")
	for l in "${alabs[@]}"; do
		results "$l" > "$tmp/one"
		what=$(sed -n 's/^# KVM suite in the nested lab: //p' "$l" | head -n 1)
		summary "nested lab $(basename "$l" .log), -fsanitize=address,undefined build (${what:-did not start})" "$tmp/one"
	done
fi

: > "$tmp/lab"
mapfile -t labs < <(lab_logs "$build")
for l in "${labs[@]}"; do
	results "$l" > "$tmp/one"
	what=$(sed -n 's/^# KVM suite in the nested lab: //p' "$l" | head -n 1)
	secs=$(sed -n 's/^lab: L1 ran \([0-9.]*s[^,]*\),.*/\1/p' "$l" | tail -n 1)
	summary "nested lab $(basename "$l" .log) (${what:-did not start}${secs:+; L1 ran ${secs}})" "$tmp/one"
	cat "$tmp/one" >> "$tmp/lab"
	if awk -F'\t' -v o="$other_host" '$1 == "SKIP" && $3 !~ o' "$tmp/one" | grep -q .; then
		echo "  FAIL: the lab skipped KVM tests it could run: it is the host that runs everything"
		status=1
	fi
	if grep -q '^Bail out!' "$l"; then
		echo "  FAIL: $(grep -m1 '^Bail out!' "$l")"
		status=1
	fi
done

# a test the host skipped for lack of KVM must have passed in the lab, unless
# the lab, too, is the wrong kind of host for it
awk -F'\t' -v o="$other_host" '$1 == "SKIP" && $3 ~ o { print $2 }' "$tmp/lab" | sort -u > "$tmp/other"
awk -F'\t' '$1 == "SKIP" && $3 ~ /\/dev\/kvm/ { print $2 }' "$tmp/host" | sort -u |
	comm -23 - "$tmp/other" > "$tmp/need"
if [ -s "$tmp/other" ]; then
	echo "  $(wc -l < "$tmp/other") KVM tests are for another kind of KVM host than this one and the lab's:"
	sed 's/^/      /' "$tmp/other"
fi
awk -F'\t' '$1 == "PASS" { print $2 }' "$tmp/lab" | sort -u > "$tmp/lab-pass"
missing=$(comm -23 "$tmp/need" "$tmp/lab-pass" | wc -l)
need=$(wc -l < "$tmp/need")
if [ "$need" -gt 0 ]; then
	echo "  $need KVM tests skipped here for lack of /dev/kvm: $((need - missing)) of them passed in the lab"
fi
if [ "$missing" -gt 0 ]; then
	echo "  FAIL: $missing KVM tests ran nowhere, although the lab could run them:"
	comm -23 "$tmp/need" "$tmp/lab-pass" | head -n 20 | sed 's/^/      /'
	status=1
fi
if [ ${#labs[@]} -eq 0 ]; then
	if command -v qemu-system-x86_64 > /dev/null; then
		echo "  FAIL: the nested lab did not run (make check runs tests/lab/*.lab)"
		status=1
	else
		echo "  the nested lab did not run: qemu-system-x86_64 is not installed (scripts/install-deps.sh)"
	fi
fi
exit $status
