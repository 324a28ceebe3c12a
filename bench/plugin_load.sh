#!/usr/bin/env bash
# bench/plugin_load.sh — how long `kizuna plugins` takes to load N plugins.
#
# Generates N distinct plugins (default 50) into a private temp directory,
# builds each the way a vendor would (hidden visibility, -z defs, -z now),
# checks that `kizuna plugins --json` accepts all of them, then times
#
#     KIZUNA_PLUGIN_PATH=<dir with N plugins> kizuna plugins --json >/dev/null
#
# against the same command with an empty plugin directory (the fixed cost
# of starting the process), side by side in one hyperfine run.
#
# Usage: bench/plugin_load.sh [options] [KIZUNA [COUNT]]
#   KIZUNA                 the kizuna binary (default: <repo>/build/bin/kizuna)
#   COUNT                  how many plugins to generate (default: 50)
#   --export-markdown PATH write hyperfine's markdown table to PATH ('-' = stdout)
#   --export-json PATH     write hyperfine's JSON to PATH ('-' = stdout)
#   --runs N               minimum number of timed runs per command (default 30, at least 20)
#   --warmup N             warmup runs per command (default 5)
#   --env NAME=VALUE       set NAME for both timed commands and the check (repeatable),
#                          e.g. --env KIZUNA_PLUGIN_PREFLIGHT=0
#   --keep                 keep the generated plugins (their directory is printed)
# With neither --export option, the markdown table goes to stdout.
#
# The mean of each command and their difference go to stderr at the end.
#
# A benchmark, not a test: it exits non-zero only when it could not run
# (missing tools, a plugin that does not build or is refused), never
# because of the figure it measured.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$script_dir/.." && pwd)

kizuna="$repo/build/bin/kizuna"
count=50
export_md=""
export_json=""
runs=30
warmup=5
keep=0
envs=()

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
die() { echo "plugin_load.sh: $*" >&2; exit 1; }

positional=()
while [ $# -gt 0 ]; do
    case "$1" in
    --export-markdown) [ $# -ge 2 ] || die "$1 needs a path"; export_md=$2; shift 2 ;;
    --export-json) [ $# -ge 2 ] || die "$1 needs a path"; export_json=$2; shift 2 ;;
    --runs) [ $# -ge 2 ] || die "$1 needs a number"; runs=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || die "$1 needs a number"; warmup=$2; shift 2 ;;
    --env)
        [ $# -ge 2 ] || die "$1 needs NAME=VALUE"
        [[ "$2" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE, not '$2'"
        envs+=("$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; positional+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
    esac
done
[ ${#positional[@]} -le 2 ] || die "too many arguments (see --help)"
if [ ${#positional[@]} -ge 1 ]; then kizuna=${positional[0]}; fi
if [ ${#positional[@]} -ge 2 ]; then count=${positional[1]}; fi

if ! [[ "$count" =~ ^[1-9][0-9]*$ ]] || [ "$count" -gt 999 ]; then die "COUNT must be 1..999, not '$count'"; fi
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 20 ]; then die "--runs must be at least 20"; fi
if ! [[ "$warmup" =~ ^[0-9]+$ ]]; then die "--warmup must be a number"; fi
case "$kizuna" in /*) ;; *) kizuna="$PWD/$kizuna" ;; esac
[ -x "$kizuna" ] || die "no kizuna binary at $kizuna; build it with:
  cmake -S $repo -B $repo/build && cmake --build $repo/build -j2"

# ---- tools ------------------------------------------------------------------

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v jq >/dev/null || need_apt+=(jq)
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${need_apt[*]} with apt-get" >&2
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
fi

# ---- generate and build -----------------------------------------------------

# mktemp -d gives a 0700 directory under the world-writable /tmp; the host
# checks only the plugin file and its own directory, which must not be
# writable by others, so 0755 is what a real install would have.
work=$(mktemp -d "${TMPDIR:-/tmp}/kizuna-bench.XXXXXX")
cleanup() {
    if [ "$keep" -eq 1 ]; then
        echo "kept the generated plugins in $work" >&2
    else
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
chmod 0755 "$work"
src="$work/src"
plugins="$work/plugins"
empty="$work/empty"
mkdir -m 0755 "$src" "$plugins" "$empty"

width=${#count}
if [ "$width" -lt 2 ]; then width=2; fi

# One plugin: a health or probability scorer modelled on the SDK template,
# with a five-entry parameter table whose defaults the host parses; every
# third plugin also carries a channel with its own table (a required
# string, a secret, a duration, a bool). Ids and component names are
# unique, so the registry accepts every one.
gen_plugin() { # index id suffix
    local i=$1 n=$2 with_channel=$(( $1 % 3 == 0 ))
    local output=KZ_SCORE_HEALTH
    [ $(( i % 2 )) -eq 1 ] && output=KZ_SCORE_PROBABILITY
    cat <<EOF
/* Generated by bench/plugin_load.sh: benchmark plugin $n. */
#include <kizuna/kizuna.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    double target;
    int64_t floor;
    int64_t window_ms;
    int clamp;
} bench_scorer;

static int bench_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    double target = 1.0;
    int64_t floor = 0, window_ms = 0;
    int clamp = 1;
    if (host->param_double(ctx, "target", &target) != KZ_OK || !(target > 0)) {
        host->set_error(ctx, "parameter 'target' must be a number above 0");
        return KZ_ERR_INVALID;
    }
    host->param_int(ctx, "floor", &floor);
    host->param_duration(ctx, "window", &window_ms);
    host->param_bool(ctx, "clamp", &clamp);
    bench_scorer *s = host->alloc_mem(sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    s->target = target;
    s->floor = floor;
    s->window_ms = window_ms;
    s->clamp = clamp;
    *self = s;
    return KZ_OK;
}

static void bench_destroy(void *self)
{
    bench_scorer *s = self;
    s->host->free_mem(s);
}

static int bench_prepare(void *self, uint32_t n_columns, const kz_column *const *columns)
{
    bench_scorer *s = self;
    for (uint32_t c = 0; c < n_columns; c++)
        if (columns[c]->type != KZ_COLUMN_DOUBLE) {
            s->host->set_error(s->ctx, "measure '%s' is not numeric", columns[c]->name);
            return KZ_ERR_INVALID;
        }
    return KZ_OK;
}

static int bench_score(void *self, kz_score_batch *batch)
{
    bench_scorer *s = self;
    const uint32_t n = batch->n_accounts;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t present = 0;
        for (uint32_t c = 0; c < batch->n_columns; c++)
            present += !isnan(batch->columns[c]->values[i]);
        double score = 0;
        for (uint32_t c = 0; c < batch->n_columns; c++) {
            double v = batch->columns[c]->values[i], part = 0;
            if (!isnan(v)) {
                double ratio = v / s->target;
                if (s->clamp)
                    ratio = ratio < 0 ? 0 : ratio > 1 ? 1 : ratio;
                part = 100.0 / present * ratio;
            }
            score += part;
            if (batch->contributions != NULL)
                batch->contributions[(size_t)c * n + i] = part;
        }
        if (present == 0 || score < (double)s->floor)
            score = NAN;
        batch->scores[i] = $( [ "$output" = KZ_SCORE_PROBABILITY ] && echo 'isnan(score) ? score : 1.0 - score / 100.0' || echo score );
    }
    return KZ_OK;
}

static const kz_param_spec bench_scorer_params[] = {
    KZ_PARAM(KZ_PARAM_DOUBLE, "target", 0, "1.$i", "the level at which a measure counts as fully healthy"),
    KZ_PARAM(KZ_PARAM_INT, "floor", 0, "$i", "scores below this are reported as missing"),
    KZ_PARAM(KZ_PARAM_DURATION, "window", 0, "1h30m", "how far back measures are read"),
    KZ_PARAM(KZ_PARAM_BOOL, "clamp", 0, "yes", "cap each measure's share at the target"),
    KZ_PARAM(KZ_PARAM_STRING, "label", 0, "bench-$n", "a label for reports"),
    KZ_PARAM_END,
};

static const kz_scorer_vtable bench_scorer_vtable = {
    .size = sizeof(kz_scorer_vtable),
    .output = $output,
    .create = bench_create,
    .destroy = bench_destroy,
    .prepare = bench_prepare,
    .score = bench_score,
    .train = NULL,
};

static const kz_component bench_scorer_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SCORER,
    .name = "bench-score-$n",
    .summary = "Benchmark scorer $n: share of target per measure",
    .params = bench_scorer_params,
    .vtable = &bench_scorer_vtable,
};
EOF
    if [ "$with_channel" -eq 1 ]; then
        cat <<EOF

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    unsigned long sent;
} bench_channel;

static int bench_channel_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *endpoint = NULL;
    if (host->param_string(ctx, "endpoint", &endpoint) != KZ_OK || endpoint[0] == '\0') {
        host->set_error(ctx, "parameter 'endpoint' is required");
        return KZ_ERR_INVALID;
    }
    bench_channel *ch = host->alloc_mem(sizeof *ch);
    if (ch == NULL)
        return KZ_ERR_NOMEM;
    memset(ch, 0, sizeof *ch);
    ch->host = host;
    ch->ctx = ctx;
    *self = ch;
    return KZ_OK;
}

static void bench_channel_destroy(void *self)
{
    bench_channel *ch = self;
    ch->host->free_mem(ch);
}

static int bench_channel_deliver(void *self, const kz_touch *touch, kz_delivery *result)
{
    bench_channel *ch = self;
    if (touch->idempotency_key == NULL) {
        ch->host->set_error(ch->ctx, "touch has no idempotency key");
        return KZ_ERR_PERMANENT;
    }
    ch->sent++;
    snprintf(result->receipt, sizeof result->receipt, "bench-$n-%lu", ch->sent);
    return KZ_OK;
}

static const kz_param_spec bench_channel_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "endpoint", KZ_PARAM_REQUIRED, NULL, "where touches would go"),
    KZ_PARAM(KZ_PARAM_SECRET, "token", 0, NULL, "credential for the endpoint"),
    KZ_PARAM(KZ_PARAM_DURATION, "timeout", 0, "30s", "give up on a delivery after this long"),
    KZ_PARAM(KZ_PARAM_BOOL, "dry_run", 0, "false", "accept touches without sending them"),
    KZ_PARAM_END,
};

static const kz_channel_vtable bench_channel_vtable = {
    .size = sizeof(kz_channel_vtable),
    .tier = $(( i % 3 + 1 )),
    .create = bench_channel_create,
    .destroy = bench_channel_destroy,
    .deliver = bench_channel_deliver,
};

static const kz_component bench_channel_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_CHANNEL,
    .name = "bench-channel-$n",
    .summary = "Benchmark channel $n: acknowledges every touch",
    .params = bench_channel_params,
    .vtable = &bench_channel_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.bench.p$n", "Benchmark plugin $n", "1.0.$i", "Kizuna project", "Apache-2.0",
                 "Generated by bench/plugin_load.sh", &bench_scorer_component, &bench_channel_component)
EOF
    else
        cat <<EOF

KZ_PLUGIN_DEFINE("org.kizuna.bench.p$n", "Benchmark plugin $n", "1.0.$i", "Kizuna project", "Apache-2.0",
                 "Generated by bench/plugin_load.sh", &bench_scorer_component)
EOF
    fi
}

# shellcheck disable=SC2054 # the commas belong to the linker options
cflags=(-std=c11 -O2 -fPIC -fvisibility=hidden -shared -Wl,-z,defs -Wl,-z,now -I"$repo/include")
ids=()
for ((i = 1; i <= count; i++)); do
    n=$(printf "%0${width}d" "$i")
    ids+=("org.kizuna.bench.p$n")
    gen_plugin "$i" "$n" >"$src/bench_p$n.c"
done

jobs=$(nproc 2>/dev/null || echo 2)
echo "building $count plugins in $plugins ($jobs jobs)" >&2
# Each job compiles one source to <plugins>/bench_pNN.so.
# shellcheck disable=SC2016 # $0, $1 and $@ are the inner sh's
printf '%s\n' "$src"/bench_p*.c |
    xargs -P "$jobs" -I{} sh -c 'f=$1; shift; out=$0/$(basename "$f" .c).so; cc "$@" -o "$out" "$f" || exit 255' \
        "$plugins" {} "${cflags[@]}" ||
    die "a generated plugin did not build (sources in $src; rerun with --keep to look)"
chmod 0755 "$plugins"/*.so

# ---- check ------------------------------------------------------------------

real_plugins=$(cd "$plugins" && pwd -P)
listing=$(env ${envs[@]+"${envs[@]}"} KIZUNA_PLUGIN_PATH="$plugins" "$kizuna" plugins --json) || die "kizuna plugins --json failed"
loaded=$(jq --arg d "$real_plugins/" '[.plugins[] | select(.path | startswith($d)) | .id] | sort' <<<"$listing")
refused=$(jq --arg d "$real_plugins/" '[.refused[] | select(.path | startswith($d))]' <<<"$listing")
expected=$(printf '%s\n' "${ids[@]}" | jq -R . | jq -s 'sort')
if [ "$(jq length <<<"$refused")" -ne 0 ]; then
    jq -r '.[] | "  \(.path): \(.reason)"' <<<"$refused" >&2
    die "kizuna refused some of the generated plugins (above)"
fi
if [ "$(jq -c . <<<"$loaded")" != "$(jq -c . <<<"$expected")" ]; then
    die "kizuna lists $(jq length <<<"$loaded") of the $count generated plugins"
fi
others=$(jq --arg d "$real_plugins/" '[.plugins[] | select(.path | startswith($d) | not) | .id] | join(", ")' -r <<<"$listing")
n_components=$(jq --arg d "$real_plugins/" '[.plugins[] | select(.path | startswith($d)) | .components[]] | length' <<<"$listing")
echo "ok: kizuna lists all $count generated plugins ($n_components components), refuses none" >&2
if [ -n "$others" ]; then
    echo "note: both commands also load the default plugin directory: $others" >&2
fi

empty_listing=$(env ${envs[@]+"${envs[@]}"} KIZUNA_PLUGIN_PATH="$empty" "$kizuna" plugins --json) || die "kizuna plugins --json failed on an empty dir"
[ "$(jq '.refused | length' <<<"$empty_listing")" -eq 0 ] || die "kizuna refuses files with an empty plugin dir"

# ---- time -------------------------------------------------------------------

json_out="$work/hyperfine.json"
md_out="$work/hyperfine.md"
label_n="$count plugins"
label_0="empty plugin dir (baseline)"
q_kizuna=$(printf '%q' "$kizuna")
q_env=""
for e in ${envs[@]+"${envs[@]}"}; do q_env+="${e%%=*}=$(printf '%q' "${e#*=}") "; done
if [ -n "$q_env" ]; then echo "environment for both commands: $q_env" >&2; fi
hyperfine --style basic --warmup "$warmup" --min-runs "$runs" \
    --export-json "$json_out" --export-markdown "$md_out" \
    -n "$label_n" "${q_env}KIZUNA_PLUGIN_PATH=$(printf '%q' "$plugins") $q_kizuna plugins --json >/dev/null" \
    -n "$label_0" "${q_env}KIZUNA_PLUGIN_PATH=$(printf '%q' "$empty") $q_kizuna plugins --json >/dev/null" >&2 ||
    die "hyperfine failed"

emit() { # file dest
    if [ "$2" = "-" ]; then cat "$1"; else cp "$1" "$2"; echo "wrote $2" >&2; fi
}
if [ -n "$export_md" ]; then emit "$md_out" "$export_md"; fi
if [ -n "$export_json" ]; then emit "$json_out" "$export_json"; fi
if [ -z "$export_md" ] && [ -z "$export_json" ]; then cat "$md_out"; fi

# ---- summary ----------------------------------------------------------------

jq -r --arg a "$label_n" --arg b "$label_0" --argjson count "$count" '
    def ms: . * 1000 * 100 | round / 100;
    (.results[] | select(.command == $a)) as $n |
    (.results[] | select(.command == $b)) as $e |
    "mean, \($a): \($n.mean | ms) ms ± \($n.stddev | ms) ms (\($n.times | length) runs)",
    "mean, \($b): \($e.mean | ms) ms ± \($e.stddev | ms) ms (\($e.times | length) runs)",
    "difference: \(($n.mean - $e.mean) | ms) ms, \((($n.mean - $e.mean) / $count * 1000000) | round) µs per plugin"
' "$json_out" >&2
