#!/usr/bin/env bash
# bench/score_kernel.sh — how long the `weighted` scorer takes to score a
# book of business: 1 million accounts x 10 measures, with contributions,
# in batches of 65 536 accounts as the host scores them.
#
# Builds bench/score_kernel.c with `cc -O2` against the SDK headers of the
# tree, copies the built plugin (<build dir>/lib/kizuna/plugins/weighted.so)
# next to it, and runs it: the program generates the measures in memory
# (fixed seed, about 2% missing), checks untimed that every batch's
# contributions add up to its scores, then times scoring every account,
# best of RUNS runs. The best figure, in milliseconds, goes to stdout;
# every run's figure, the check and the machine go to stderr.
#
# Usage: bench/score_kernel.sh [options]
#   --accounts N      accounts to score (default 1000000)
#   --runs N          timed runs; the best counts (default 5)
#   --build-dir DIR   the CMake build tree with the plugin (default: <repo>/build)
#   --build           run an incremental build of the weighted plugin first
#                     (without it, the build happens only when the plugin is missing)
#
# The figure is the plugin as the tree builds it: a Debug tree compiles it
# without optimization, several times slower than the shipped -O2 code;
# the script says so when it sees one (CMAKE_BUILD_TYPE in CMakeCache.txt).
#
# A benchmark, not a test: it exits non-zero when it could not run
# (missing tools, a failed build, a failed check), never because of the
# figure it measured. The target is under 50 ms.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

build_dir="$repo/build"
accounts=1000000
runs=5

parse_args 0 "--accounts:accounts:a number" "--runs:runs:a number" "--build-dir:build_dir:a directory" \
    --build:build -- "$@"
if ! [[ "$accounts" =~ ^[1-9][0-9]{0,7}$ ]]; then die "--accounts must be 1..99999999, not '$accounts'"; fi
if ! [[ "$runs" =~ ^[1-9][0-9]{0,2}$ ]]; then die "--runs must be 1..999, not '$runs'"; fi
case "$build_dir" in /*) ;; *) build_dir="$PWD/$build_dir" ;; esac

command -v cc >/dev/null || die "no C compiler (cc); on Debian: sudo apt-get install -y gcc"
plugin="$build_dir/lib/kizuna/plugins/weighted.so"
if [ "$build" -eq 1 ] || [ ! -f "$plugin" ]; then
    command -v cmake >/dev/null || die "no cmake to build the plugin with; on Debian: sudo apt-get install -y cmake"
    cmake_build "$build_dir" "the weighted plugin" weighted
fi
[ -f "$plugin" ] || die "no plugin at $plugin after the build"

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
case "$build_type" in
Release | RelWithDebInfo | MinSizeRel) ;;
*) note "WARNING: $build_dir is a '${build_type:-no type}' build: its plugin is not optimized, so this" \
    "figure is not the shipped kernel's (configure a tree with -DCMAKE_BUILD_TYPE=RelWithDebInfo and" \
    "pass --build-dir)" ;;
esac

make_work "" kizuna-score-kernel # removed at exit: no --keep here

# A private copy of the plugin, so a rebuild while this runs cannot change it.
cp "$plugin" "$work/weighted.so"
build_c score_kernel -Wall -Wextra -I"$repo/include" -ldl -lm

note "plugin: $plugin (${build_type:-no build type}, built $(built_at "$plugin"))"
note "machine: $(nproc) cores, $(cpu_model); load average $(loadavg)"
best=$("$work/score_kernel" "$work/weighted.so" "$accounts" "$runs") || die "score_kernel failed"
echo "$best"
note "best of $runs: $best ms to score $accounts accounts x 10 measures with contributions (target: under 50 ms)"
