#!/usr/bin/env bash
# Same-run comparison of verifying one data file with a full and with a
# derived whole-version detached package (docs/package-format.md).
#
#   bench/derived.sh [ROWS] [ROUNDS]     defaults: 1000000 5
#
# Builds this tree's trialog and bench/genlb, ingests a genlb table, proves
# it both ways, then verifies the data file with each package in turn,
# alternating (full, derived) ROUNDS times so that the box's noise hits
# both alike. Wall and CPU time and peak RSS from /usr/bin/time, with the
# load average before each run. Results: bench/out/derived.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
rounds=${2:-5}
out=bench/out
mkdir -p "$out"
go build -o "$out/trialog" ./cmd/trialog
go build -o "$out/genlb" ./bench/genlb
data="$out/lb-$rows.arrow"
[ -f "$data" ] || "$out/genlb" -rows "$rows" -out "$data"
log="$out/derived-log"
rm -rf "$log"
"$out/trialog" init --log "$log" --trial BENCH >/dev/null
"$out/trialog" ingest --log "$log" --trial BENCH --dataset LB "$data" >/dev/null
"$out/trialog" prove --log "$log" --trial BENCH --dataset LB --purpose main --recipient bench --no-consent-check --detached --form full --out "$out/lb.full.arrow" "$data" >/dev/null
"$out/trialog" prove --log "$log" --trial BENCH --dataset LB --purpose main --recipient bench --no-consent-check --detached --form derived --out "$out/lb.derived.arrow" "$data" >/dev/null
key="$log/trials/BENCH/checkpoint.vkey"
res="$out/derived.tsv"
printf "round\tpackage\tpackage_bytes\twall_s\tuser_s\tsys_s\tpeak_rss_mib\tload1\n" >"$res"
for r in $(seq 1 "$rounds"); do
	for form in full derived; do
		pkg="$out/lb.$form.arrow"
		load=$(cut -d' ' -f1 /proc/loadavg)
		/usr/bin/time -f "%e %U %S %M" -o "$out/derived.time" "$out/trialog" verify --key "$key" "$pkg" "$data" >/dev/null
		read -r wall user sys rss <"$out/derived.time"
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n" "$r" "$form" "$(stat -c %s "$pkg")" "$wall" "$user" "$sys" "$(echo "$rss / 1024" | bc -l)" "$load" | tee -a "$res"
	done
done
rm -rf "$log" "$out/lb.full.arrow" "$out/lb.derived.arrow"
echo "results in $res"
