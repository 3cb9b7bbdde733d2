#!/usr/bin/env bash
# Publishing, monitoring and serving benchmark (issue 15).
#
#   bench/tiles.sh [LEAVES...]      default: 1000000
#
# For each size: an embedded log of LEAVES ~100-byte leaves (bench/tiles
# mklog), then, one process per step under /usr/bin/time -v (wall time,
# peak RSS): reading every leaf in publish-sized ranges (the baseline),
# publishing the whole log as tlog-tiles, a monitor catching up on it from
# the published directory, and a bounded loopback load of tile requests
# against the read-only handler. Results: bench/out/tiles.tsv. The box is
# shared: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
go build -o "$out/tiles" ./bench/tiles
res="$out/tiles.tsv"
[ -f "$res" ] || printf "leaves\tstep\tseconds\tper_second\tpeak_rss_mib\n" >"$res"
measure() { # name leaves cmd...
	local name=$1 n=$2
	shift 2
	/usr/bin/time -v "$@" >"$out/$name.out" 2>"$out/$name.time"
	local wall rss count
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$name.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$out/$name.time")
	count=$(awk '/ in [0-9.]+s: / {print $2}' "$out/$name.out" | tail -1)
	printf "%s\t%s\t%s\t%.0f\t%s\n" "$n" "$name" "$wall" "$(echo "$count / $wall" | bc -l)" "$rss" | tee -a "$res"
}
for n in "${sizes[@]}"; do
	log="$out/tiles-log-$n" pub="$out/tiles-pub-$n"
	[ -f "$log/checkpoint" ] || "$out/tiles" mklog -log "$log" -n "$n"
	rm -rf "$pub" "$out/tiles-mon-$n"
	sync
	measure "read-$n" "$n" "$out/tiles" read -log "$log"
	measure "publish-$n" "$n" "$out/tiles" publish -log "$log" -out "$pub"
	measure "monitor-$n" "$n" "$out/tiles" monitor -log "$log" -out "$pub" -state "$out/tiles-mon-$n"
	measure "serve-$n" "$n" "$out/tiles" serve -log "$log" -out "$pub" -requests 100000 -max-time 30s
done
