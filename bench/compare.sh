#!/usr/bin/env bash
# Same-run comparison of this tree's trialog with an earlier revision's.
#
#   bench/compare.sh REV [ROWS...]     default ROWS: 1000000 10000000
#
# Builds REV (a git revision) into bench/out/trialog-REV, then for each
# size ingests the same bench/genlb table with both binaries, alternating
# (old, new) so that the box's noise hits both alike; for the first size
# also proves the whole dataset and verifies it with each. Wall time and
# peak RSS from /usr/bin/time -v. Results: bench/out/compare.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/compare.sh REV [ROWS...]}
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
out=bench/out
mkdir -p "$out"
old="$out/trialog-$(git rev-parse --short "$rev")"
if [ ! -x "$old" ]; then
	tmp=$(mktemp -d)
	git worktree add -q --detach "$tmp" "$rev"
	(cd "$tmp" && go build -o "$OLDPWD/$old" ./cmd/trialog)
	git worktree remove --force "$tmp"
fi
go build -o "$out/trialog" ./cmd/trialog
go build -o "$out/genlb" ./bench/genlb
res="$out/compare.tsv"
printf "rows\tbinary\tstep\tseconds\trows_per_s\tpeak_rss_mib\n" >"$res"
measure() { # rows binary step cmd...
	local rows=$1 bin=$2 step=$3
	shift 3
	/usr/bin/time -v "$@" >/dev/null 2>"$out/compare.time"
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/compare.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$out/compare.time")
	printf "%s\t%s\t%s\t%s\t%.0f\t%s\n" "$rows" "$bin" "$step" "$wall" "$(echo "$rows / $wall" | bc -l)" "$rss" | tee -a "$res"
}
first=1
for n in "${sizes[@]}"; do
	data="$out/lb-$n.arrow"
	[ -f "$data" ] || "$out/genlb" -rows "$n" -out "$data"
	for bin in "$old" "$out/trialog"; do
		name=$(basename "$bin")
		rm -rf "$out/cmp-log"
		"$bin" init --log "$out/cmp-log" --trial BENCH >/dev/null
		measure "$n" "$name" ingest "$bin" ingest --log "$out/cmp-log" --trial BENCH --dataset LB "$data"
		if [ "$first" = 1 ]; then
			# Since the disclosure log, prove states a purpose and recipient.
			disclose=()
			if "$bin" prove --help 2>&1 | grep -q -- --no-consent-check; then
				disclose=(--purpose main --recipient bench --no-consent-check)
			fi
			measure "$n" "$name" prove "$bin" prove --log "$out/cmp-log" --trial BENCH --dataset LB "${disclose[@]}" --out "$out/cmp.pkg.arrow" "$data"
			measure "$n" "$name" verify "$bin" verify --key "$out/cmp-log/trials/BENCH/checkpoint.vkey" "$out/cmp.pkg.arrow"
			rm -f "$out/cmp.pkg.arrow"
		fi
		echo "$n $name tree: $(du -sh "$out/cmp-log/trials/BENCH/tree" | cut -f1)" | tee -a "$out/compare-disk.txt"
		rm -rf "$out/cmp-log"
	done
	first=0
done
echo "results in $res"
