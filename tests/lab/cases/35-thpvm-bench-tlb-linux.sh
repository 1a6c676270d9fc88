# thpvm bench tlb --linux (issue 15, docs/benchmarks.md) once, small, in L1 (kvm-amd, NPT): a Linux
# guest per cell of host backing (thp, 4k, hugetlb: L1's pool is ours to set) x the guest kernel's
# THP (always, never), tlbbench in it. Asserted, never a timing (the lab's are emulated): every cell
# ran (none skipped) with a cycles-per-access figure > 0; the guest's THP mode took: AnonHugePages
# for tlbbench > 0 under always, 0 under never, whatever the backing; and KVM's stage-2 mappings are
# what 2D paging gives: THP and hugetlb guest RAM mapped with 2 MiB pages (pages_2m > 0) even under a
# guest with 4 KiB pages only, 4 KiB-backed RAM never (pages_2m = 0).
desc="thpvm bench tlb --linux"
out=/tmp/bench-tlb-linux.out
json=/tmp/bench-tlb-linux.json
descs="every cell ran|the guest's THP mode took|KVM maps THP and hugetlb RAM 2 MiB under either guest mode, 4k RAM never"
case_can_run "$desc" "$descs" || return 0
if ! thpvm bench tlb --help 2>&1 | grep -q -- --linux; then
	case_skip_all "$desc" "$descs" "thpvm bench tlb has no --linux"
	return 0
fi
# 640 MiB guests (Linux turns THP off under 512 MiB of RAM, whatever its command line): 320 hugetlb
# pages, and some to spare (L1's settings are the lab's)
echo 330 > /proc/sys/vm/nr_hugepages
timeout -s KILL 900 thpvm bench tlb --linux --guest-dir "$GUEST" --memory 640M --working-set 96M --laps 2 \
	--reps 1 --timeout 120 --json "$json" < /dev/null > "$out" 2>&1
rc=$?
echo 0 > /proc/sys/vm/nr_hugepages
# a table row: backing guest cyc/access x-best guest-THP-MiB pages_2m pages_4k HUGE%
row() { awk -v b="$1" -v g="$2" '$1 == b && $2 == g && NF == 8 { print; exit }' "$out"; }
ran=0 thp_ok=0 map_ok=0 why=''
for b in thp 4k hugetlb; do
	for g in always never; do
		r=$(row $b $g)
		set -- $r
		[ -n "$r" ] && awk -v v="$3" 'BEGIN { exit !(v > 0) }' && ran=$((ran + 1)) || why="$why $b/$g:no-row"
		[ -n "$r" ] || continue
		if [ $g = always ]; then awk -v v="$5" 'BEGIN { exit !(v > 0) }'; else [ "$5" = 0.0 ]; fi &&
			thp_ok=$((thp_ok + 1)) || why="$why $b/$g:guest-thp=$5"
		if [ $b = 4k ]; then [ "$6" = 0 ]; else awk -v v="$6" 'BEGIN { exit !(v > 0) }'; fi &&
			map_ok=$((map_ok + 1)) || why="$why $b/$g:pages_2m=$6"
	done
done
[ "$rc" = 0 ] && [ $ran = 6 ]
case_result "$desc" $? "every cell ran" "status $rc, $ran of 6 cells;$why" "$(tail -n 14 "$out")"
[ $thp_ok = 6 ]
case_result "$desc" $? "the guest's THP mode took" "$thp_ok of 6;$why"
[ $map_ok = 6 ]
case_result "$desc" $? "KVM maps THP and hugetlb RAM 2 MiB under either guest mode, 4k RAM never" "$map_ok of 6;$why"
diag "$(sed -n '/^Linux guest TLB/,$p' "$out")"
rm -f "$out" "$json"
