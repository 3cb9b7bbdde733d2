#!/usr/bin/env bash
# Publishing, monitoring and serving benchmark (issue 15).
#
#   bench/tiles.sh [LEAVES...]      default: 1000000
#   BEFORE=path/to/old/tiles bench/tiles.sh ...   also run each step with an
#                                   older build of bench/tiles, alternating
#
# For each size: an embedded log of LEAVES ~100-byte leaves (bench/tiles
# mklog, kept and reused), then, one process per step under
# /usr/bin/time -v (wall time, CPU, peak RSS): reading every leaf in
# publish-sized ranges from the page cache (read-warm) and from the disk
# (read-cold, after evicting the log's files from the page cache): the
# baselines; publishing the whole log as tlog-tiles into a fresh directory,
# with the log warm and cold; a monitor catching up on it from the
# published directory; a bounded loopback load of tile requests against
# the read-only handler, in one process (net/http's client, then a minimal
# keep-alive client: -raw), and as two processes. Results: bench/out/tiles.tsv
# (with the load average at each step). The box is shared: compare ratios
# within one run. Publications are never deleted inside a run: ext4 makes
# file creation slow for minutes after a mass deletion.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
go build -o "$out/tiles" ./bench/tiles
res="$out/tiles.tsv"
[ -f "$res" ] || printf "leaves\tstep\tbinary\tseconds\tper_second\tuser_s\tsys_s\tpeak_rss_mib\tload1\n" >"$res"
run=$(date +%H%M%S)
measure() { # name leaves binary cmd...
	local name=$1 n=$2 bin=$3
	shift 3
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -v "$bin" "$@" >"$out/$name.out" 2>"$out/$name.time"
	local wall rss count user sys
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$name.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$out/$name.time")
	user=$(awk -F': ' '/User time/ {print $2}' "$out/$name.time")
	sys=$(awk -F': ' '/System time/ {print $2}' "$out/$name.time")
	count=$(awk '/ in [0-9.]+s: / {print $2}' "$out/$name.out" | tail -1)
	printf "%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\n" "$n" "$name" "$(basename "$bin")" "$wall" "$(echo "$count / $wall" | bc -l)" "$user" "$sys" "$rss" "$load" | tee -a "$res"
}
bins=("$out/tiles")
if [ -n "${BEFORE:-}" ]; then
	bins=("$BEFORE" "$out/tiles")
fi
for n in "${sizes[@]}"; do
	log="$out/tiles-log-$n"
	[ -f "$log/checkpoint" ] || "$out/tiles" mklog -log "$log" -n "$n"
	measure "read-warm-$n" "$n" "$out/tiles" read -log "$log"
	"$out/tiles" evict -log "$log" >/dev/null
	measure "read-cold-$n" "$n" "$out/tiles" read -log "$log"
	for b in "${bins[@]}"; do
		pub="$out/tiles-pub-$n-$run-$(basename "$b")"
		measure "publish-warm-$n" "$n" "$b" publish -log "$log" -out "$pub"
	done
	"$out/tiles" evict -log "$log" >/dev/null
	measure "publish-cold-$n" "$n" "$out/tiles" publish -log "$log" -out "$pub-cold"
	for b in "${bins[@]}"; do
		measure "monitor-$n" "$n" "$b" monitor -log "$log" -out "$pub" -state "$out/tiles-mon-$n-$run-$(basename "$b")"
	done
	for b in "${bins[@]}"; do
		measure "serve-$n" "$n" "$b" serve -log "$log" -out "$pub" -requests 200000 -max-time 20s
	done
	# The same with the minimal keep-alive client (-raw): less of the two
	# cores goes to the load generator.
	measure "serve-raw-$n" "$n" "$out/tiles" serve -log "$log" -out "$pub" -requests 400000 -max-time 20s -raw
	# Server and load generator as two processes: the server's CPU time
	# per request is its own (server_us_per_request in the .out file).
	for b in "${bins[@]}"; do
		measure "server-$n" "$n" "$b" server -out "$pub" -addr 127.0.0.1:18181 -max-time 22s &
		sleep 1
		measure "load-$n" "$n" "$out/tiles" load -out "$pub" -url http://127.0.0.1:18181/BENCH/ -requests 10000000 -max-time 20s -raw
		wait
		awk -F'\t' -v n="$n" -v b="$(basename "$b")" '$1==n && $2=="server-"n && $3==b {s=$6+$7; c=$5*$4} END {if (c>0) printf "%s %s: server %.1f us CPU per request\n", n, b, s/c*1e6}' "$res"
	done
done
