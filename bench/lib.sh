# shellcheck shell=bash
# bench/lib.sh — what the benchmark scripts of bench/ have in common,
# sourced by each of them right after its `set -euo pipefail`:
#
#   . "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
#
# It holds the plumbing around the figures: the paths (script_dir, repo,
# kizuna, plugin_dir), --help from the script's own header comment, die
# and note, option parsing, installing missing tools with apt-get,
# building kizuna with cmake and running a private copy of it, the temp
# directory and its cleanup, building a C helper of bench/ with cc,
# hyperfine's exports, peak RSS from /usr/bin/time -v, and small
# formatting helpers. Each script keeps only what it measures and checks,
# and a fix to the plumbing is made once, not in five copies that drift.
#
# Sourcing it only sets variables and defines functions: nothing is
# installed, built or created until a script calls for it. Messages name
# the script that sourced it (die prefixes its file name) and, like all
# progress, go to stderr.

# The script that sourced this file: its header comment is its --help.
bench_script=${BASH_SOURCE[1]}
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$script_dir/.." && pwd)

# kizuna and its bundled plugins as `cmake --build build` leaves them.
kizuna="$repo/build/bin/kizuna"
plugin_dir="$repo/build/lib/kizuna/plugins"
build=0 # 1: build kizuna first (--build, or something is missing)
keep=0  # 1: keep the temp directory (--keep)

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$bench_script"; }
die() { echo "${bench_script##*/}: $*" >&2; exit 1; }
note() { echo "$*" >&2; }
# indent [FILE...]: FILE (or stdin) to stderr, each line indented by two spaces.
indent() { sed 's/^/  /' "$@" >&2; }

# ---- options ----------------------------------------------------------------

# parse_args MAX SPEC... -- ARG...: reads the command line ARG... into the
# variables the SPECs name. A SPEC is
#   --NAME:VAR                   a flag: sets VAR=1
#   --NAME:VAR:WHAT[:REGEX]      takes a value ("--NAME needs WHAT" when it is
#                                missing): sets VAR, or appends to the array VAR
#                                when VAR ends in []; with REGEX, a value that
#                                does not match it is refused ("--NAME wants WHAT")
# -h and --help print the usage and exit. Up to MAX other arguments go to
# the array `positional` ("too many arguments" beyond), `--` ends the
# options; with MAX 0 any other argument is refused ("unknown argument").
parse_args() {
    local max=$1 spec name var what regex found
    local -a specs=()
    shift
    while [ "$1" != -- ]; do specs+=("$1"); shift; done
    shift
    positional=()
    while [ $# -gt 0 ]; do
        found=0
        for spec in "${specs[@]}"; do
            IFS=: read -r name var what regex <<<"$spec"
            if [ "$1" = "$name" ]; then found=1; break; fi
        done
        if [ "$found" -eq 1 ] && [ -z "$what" ]; then
            printf -v "$var" 1
            shift
        elif [ "$found" -eq 1 ]; then
            [ $# -ge 2 ] || die "$1 needs $what"
            [ -z "$regex" ] || [[ "$2" =~ $regex ]] || die "$1 wants $what, not '$2'"
            case "$var" in
            *'[]') eval "${var%'[]'}+=(\"\$2\")" ;;
            *) printf -v "$var" '%s' "$2" ;;
            esac
            shift 2
        else
            case "$1" in
            -h | --help) usage; exit 0 ;;
            *) [ "$max" -gt 0 ] || die "unknown argument $1 (see --help)" ;;
            esac
            case "$1" in
            --) shift; positional+=("$@"); break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) positional+=("$1"); shift ;;
            esac
        fi
    done
    [ ${#positional[@]} -le "$max" ] || die "too many arguments (see --help)"
}

# ---- tools ------------------------------------------------------------------

need_apt=()
# want COMMAND [PACKAGE]: PACKAGE (default: COMMAND) is to be installed when
# there is no COMMAND on the PATH (for a path: no executable file there).
want() {
    case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null ;;
    esac || need_apt+=("${2:-$1}")
}

# install_wanted: installs what want found missing with apt-get when root,
# else dies saying how.
install_wanted() {
    [ ${#need_apt[@]} -gt 0 ] || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        note "installing ${need_apt[*]} with apt-get"
        # Update the package lists first when they are missing or the
        # package is not known yet.
        if ! apt-cache show "${need_apt[@]}" >/dev/null 2>&1; then
            apt-get update -qq >&2 || die "apt-get update failed"
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2 ||
            die "apt-get install ${need_apt[*]} failed"
    else
        die "missing ${need_apt[*]}; install with:
  sudo apt-get update && sudo apt-get install -y ${need_apt[*]}"
    fi
}

# ---- build ------------------------------------------------------------------

# cmake_build DIR WHAT TARGET...: configures DIR from the repo when it has
# no CMakeCache.txt, then builds TARGET... (WHAT names them for the note).
cmake_build() {
    local dir=$1 what=$2
    shift 2
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        note "configuring $dir"
        cmake -S "$repo" -B "$dir" >&2 || die "cmake configure failed"
    fi
    note "building $what in $dir"
    cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" --target "$@" >&2 ||
        die "the build failed"
}

# kizuna_built PLUGIN...: whether build/ holds kizuna and these plugins.
kizuna_built() {
    local p
    [ -x "$kizuna" ] || return 1
    for p; do [ -f "$plugin_dir/$p.so" ] || return 1; done
}

# build_kizuna WHAT PLUGIN...: with build=1, builds kizuna and PLUGIN... in
# build/ (WHAT names them for the note); then dies unless they are there.
build_kizuna() {
    local what=$1 p
    shift
    if [ "$build" -eq 1 ]; then cmake_build "$repo/build" "$what" kizuna "$@"; fi
    [ -x "$kizuna" ] || die "no kizuna binary at $kizuna after the build"
    for p; do
        [ -f "$plugin_dir/$p.so" ] || die "no $p plugin at $plugin_dir/$p.so after the build"
    done
}

# copy_kizuna [ABOUT]: runs every later command on a private copy of the
# binary and its plugins in $work, in the install layout (bin/,
# lib/kizuna/plugins/), so that a rebuild of build/ while the benchmark
# runs cannot mix two versions into one set of figures. Points kizuna and
# KIZUNA_PLUGIN_PATH at the copy and notes its version, build time (then
# ABOUT) and checksum.
# shellcheck disable=SC2120 # ABOUT is optional
copy_kizuna() {
    local built version
    built=$(built_at "$kizuna")
    mkdir -p "$work/kizuna/bin" "$work/kizuna/lib/kizuna/plugins"
    cp "$kizuna" "$work/kizuna/bin/kizuna"
    cp "$plugin_dir"/*.so "$work/kizuna/lib/kizuna/plugins/"
    kizuna="$work/kizuna/bin/kizuna"
    export KIZUNA_PLUGIN_PATH="$work/kizuna/lib/kizuna/plugins"
    version=$("$kizuna" --version) || die "the copy of kizuna does not run (was it being rebuilt? try again)"
    note "kizuna: $version, built $built${1:-}, sha256 $(sha12 "$kizuna"), copied to $kizuna"
}

# build_c NAME [CC ARGUMENT...]: compiles bench/NAME.c with cc -std=c11 -O2
# (and CC ARGUMENT..., e.g. -lm) to $work/NAME.
build_c() {
    cc -std=c11 -O2 -o "$work/$1" "$script_dir/$1.c" "${@:2}" || die "bench/$1.c did not build"
}

# ---- temp directory ---------------------------------------------------------

# make_work WHAT [PREFIX]: a private directory $work under $TMPDIR (default
# /tmp) named PREFIX.XXXXXX (default kizuna-bench), removed at exit unless
# keep=1 (then "kept WHAT in $work").
make_work() {
    work_what=$1
    work=$(mktemp -d "${TMPDIR:-/tmp}/${2:-kizuna-bench}.XXXXXX")
    trap cleanup EXIT
}
cleanup() {
    if [ "$keep" -eq 1 ]; then
        note "kept $work_what in $work"
    else
        rm -rf -- "$work"
    fi
}

# need_space KIB WHAT: dies unless $work's file system has KIB KiB free
# (WHAT: what needs them, e.g. "1000 events").
need_space() {
    local free_kb
    free_kb=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
    if [ "$free_kb" -lt "$1" ]; then
        die "$work has $((free_kb / 1024)) MiB free; $2 need about $(($1 / 1024)) MiB"
    fi
}

# ---- hyperfine --------------------------------------------------------------

# hyperfine_run ARGUMENT...: hyperfine --style basic ARGUMENT..., its
# report to stderr and its JSON and markdown exports to $json_out and
# $md_out in $work; returns hyperfine's status.
hyperfine_run() {
    json_out="$work/hyperfine.json"
    md_out="$work/hyperfine.md"
    hyperfine --style basic --export-json "$json_out" --export-markdown "$md_out" "$@" >&2
}

# hyperfine_timed ARGUMENT...: hyperfine_run ARGUMENT... (dies when a
# command fails), then notes how long it took and the load average, and
# writes the exports. Sets t_start (ms), when the timed runs began.
hyperfine_timed() {
    t_start=$(now_ms)
    hyperfine_run "$@" || die "hyperfine failed (a command exited non-zero)"
    note "timed in $((($(now_ms) - t_start) / 1000)) s; load average $(loadavg)"
    hyperfine_exports
}

# hyperfine_exports: the exports where --export-markdown and --export-json
# ($export_md, $export_json: a path, '-' for stdout, or empty) asked for
# them; with neither, the markdown table goes to stdout.
hyperfine_exports() {
    if [ -n "$export_md" ]; then emit "$md_out" "$export_md"; fi
    if [ -n "$export_json" ]; then emit "$json_out" "$export_json"; fi
    if [ -z "$export_md" ] && [ -z "$export_json" ]; then cat "$md_out"; fi
}
emit() { # file dest
    if [ "$2" = "-" ]; then cat "$1"; else cp "$1" "$2"; note "wrote $2"; fi
}

# jq definitions for a summary of hyperfine's JSON: s (seconds, rounded
# to ms), sd (" ± s s", or nothing for one run), r (a ratio to 3
# decimals), runs (of .times: "1 run", "N runs").
# shellcheck disable=SC2034 # used by the scripts
hyperfine_jq_defs='
    def s: . * 1000 | round / 1000;
    def sd: if . == null then "" else " ± \(. | s) s" end;
    def r: . * 1000 | round / 1000;
    def runs: length | if . == 1 then "1 run" else "\(.) runs" end;'

# ---- measuring --------------------------------------------------------------

# A timed command as hyperfine runs it: "$timev FILE CMD..." appends CMD's
# resource use to FILE, which peak_kb reads.
# shellcheck disable=SC2034 # used by the scripts
timev="/usr/bin/time -v -a -o"
# peak_kb FILE: the largest peak RSS (KiB) of the /usr/bin/time -v reports in FILE.
peak_kb() { awk -F': ' '/Maximum resident set size/ { if ($2 > m) m = $2 } END { print m + 0 }' "$1"; }
now_ms() { date +%s%3N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# problems: what the checks found wrong; fail_on_problems WHAT notes them
# and dies, saying WHAT (e.g. "the timed runs") did not do the whole job.
problems=()
fail_on_problems() {
    local p
    [ ${#problems[@]} -gt 0 ] || return 0
    for p in "${problems[@]}"; do note "CHECK FAILED: $p"; done
    die "the figures above do not count: $1 did not do the whole job"
}

# ---- formatting -------------------------------------------------------------

q() { printf '%q' "$1"; }                                           # quoted for a shell command line
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }  # KiB in, MiB out
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }   # ms in, seconds out
built_at() { date -u -r "$1" '+%Y-%m-%d %H:%M:%S UTC'; }            # a file's mtime
sha12() { sha256sum "$1" | cut -c1-12; }                            # a file's short checksum
cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }
ram() { awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo; }

# run_noting WHAT OUT CMD...: runs CMD with stdout to OUT, noting every 20 s
# that it still runs; dies when it fails. Sets $took (ms).
# shellcheck disable=SC2034 # took: read by the scripts
run_noting() {
    local what=$1 out=$2 t0 pid rc=0 tenths=0
    shift 2
    t0=$(now_ms)
    "$@" >"$out" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        tenths=$((tenths + 1))
        if [ $((tenths % 200)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
            note "  $what: still running after $((tenths / 10)) s"
        fi
    done
    wait "$pid" || rc=$?
    took=$(($(now_ms) - t0))
    [ "$rc" -eq 0 ] || die "$what failed (exit $rc; its output: $out)"
}
