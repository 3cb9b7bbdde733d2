#!/usr/bin/env bash
# Ingest and verification benchmark for trialog's embedded log.
#
#   bench/run.sh [ROWS...]        default: 1000000 10000000
#
# For each size: generate an LB-like Arrow IPC table (bench/genlb), run
# the SHA-256 reference (bench/shabase: read + canonical bytes + plain
# SHA-256, no commitments, no log), then `trialog ingest` end to end under
# /usr/bin/time -v (wall time, peak RSS). For the first size only (a
# whole-dataset package of 10M rows is ~9 GB), prove the whole dataset
# and time `trialog verify` of it. Results: bench/out/results.tsv. The box
# is shared and noisy: compare ratios from one run, not absolute figures
# across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
go build -o "$out/trialog" ./cmd/trialog
go build -o "$out/genlb" ./bench/genlb
go build -o "$out/shabase" ./bench/shabase
res="$out/results.tsv"
printf "rows\tstep\tseconds\trows_per_s\tpeak_rss_mib\n" >"$res"
measure() { # name rows cmd...
	local name=$1 rows=$2
	shift 2
	/usr/bin/time -v "$@" >"$out/$name.out" 2>"$out/$name.time"
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$name.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$out/$name.time")
	printf "%s\t%s\t%s\t%.0f\t%s\n" "$rows" "$name" "$wall" "$(echo "$rows / $wall" | bc -l)" "$rss" | tee -a "$res"
}
first=1
for n in "${sizes[@]}"; do
	data="$out/lb-$n.arrow"
	[ -f "$data" ] || "$out/genlb" -rows "$n" -out "$data"
	rm -rf "$out/log-$n"
	"$out/trialog" init --log "$out/log-$n" --trial BENCH >/dev/null
	measure "sha256-reference-$n" "$n" "$out/shabase" "$data"
	measure "ingest-$n" "$n" "$out/trialog" ingest --log "$out/log-$n" --trial BENCH --dataset LB "$data"
	if [ "$first" = 1 ]; then
		measure "prove-$n" "$n" "$out/trialog" prove --log "$out/log-$n" --trial BENCH --dataset LB --purpose main --recipient bench --no-consent-check --out "$out/lb-$n.pkg.arrow" "$data"
		measure "verify-$n" "$n" "$out/trialog" verify --key "$out/log-$n/trials/BENCH/checkpoint.vkey" "$out/lb-$n.pkg.arrow"
		rm -f "$out/lb-$n.pkg.arrow"
		first=0
	fi
	du -sh "$out/log-$n" | tee -a "$out/disk.txt"
	rm -rf "$out/log-$n"
done
echo "results in $res"
