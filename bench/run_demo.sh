#!/usr/bin/env bash
# bench/run_demo.sh — `kizuna run` end to end on the demo company
# (sdk/examples/demo, ~2,000 accounts) and on a larger company generated
# the same way (100,000 accounts by default). Target: the demo under 10 s on
# this machine, sync included.
#
# For each size it generates the company with kz_gen_demo (untimed) into a
# private temp directory, then times with /usr/bin/time (wall seconds and
# peak RSS) on a fresh store:
#
#   kizuna run --as-of 2026-11-01     the first run: sync of every file,
#                                     measures, score, lifecycle, assignment,
#                                     playbooks into the outbox, delivery
#   kizuna run --as-of 2026-11-01     again: nothing new to sync or send
#
# and prints one markdown table row per run (size, files, seconds, peak RSS,
# touches written and delivered).
#
# Usage: bench/run_demo.sh [--sizes "2000 100000"] [--build] [--keep]
set -euo pipefail
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

sizes="2000 100000"
parse_args 0 --sizes:sizes:"a list of account counts" --build:build --keep:keep -- "$@"
want /usr/bin/time time
want jq
install_wanted
if [ "$build" -eq 1 ]; then cmake_build "$repo/build" "kizuna and the demo generator" kizuna kz_gen_demo; fi
build_kizuna "kizuna" csv xml weighted orgmodels log
gen="$repo/build/bin/kz_gen_demo"
[ -x "$gen" ] || die "no $gen: build the kz_gen_demo target (or pass --build)"
make_work "the generated companies and their stores" kizuna-run-demo
copy_kizuna

echo "| accounts | input files | run | wall | peak RSS | touches written | delivered |"
echo "|---:|---:|:---|---:|---:|---:|---:|"
for n in $sizes; do
    dir="$work/demo-$n"
    note "generating $n accounts into $dir"
    "$gen" --accounts "$n" "$dir" >&2
    size=$(du -sh "$dir/data" | cut -f1)
    for which in first again; do
        /usr/bin/time -v -o "$work/time" "$kizuna" --config "$dir/kizuna.xml" run --as-of 2026-11-01 --json \
            >"$work/run.json" 2>"$work/run.err" || { cat "$work/run.err" >&2; die "kizuna run failed at $n accounts"; }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f s", s }' "$work/time")
        echo "| $n | $size | $which | $wall | $(mib "$(peak_kb "$work/time")") | $(jq .playbooks.written "$work/run.json") | $(jq .deliver.delivered "$work/run.json") |"
    done
done
note "machine: $(nproc) cores, $(cpu_model), $(ram); load $(loadavg)"
