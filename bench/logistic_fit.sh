#!/usr/bin/env bash
# bench/logistic_fit.sh — how fast the `logistic` scorer fits a churn model
# to a million accounts, against R's glm(family = binomial) on the same
# file, and whether both find the same estimate.
#
# Generates N accounts with 10 measures (bench/gen_logit.c, built here with
# cc -O2: 8 numeric and 2 categorical with 3 and 4 levels, 14 coefficients
# with the intercept; churn drawn from a known logistic model with a fixed
# seed) as a CSV in a private temp directory, then, in one run:
#
#   (R) Rscript bench/logistic_fit.R data.csv RUNS   reads the CSV (not timed), then times
#                                                    glm(churn ~ ., family = binomial)
#   (k) logit_fit logistic.so data.csv RUNS          reads the CSV (not timed), then times the
#                                                    scorer's train() (bench/logit_fit.c: the
#                                                    plugin dlopened behind a minimal kz_host)
#
# Each side reports its best of RUNS runs. The plugin is compiled here
# from plugins/logistic/ with the flags a vendor would use (cc -std=c11
# -O2 -fPIC -fvisibility=hidden -shared -pthread -Wl,-z,defs -Wl,-z,now),
# so the figures do not depend on how build/ was configured (a Debug
# build is -O0); --plugin times a built one instead. Then it compares
# every coefficient of the two fits (relative difference at most 1e-6)
# and prints the ratio R/k of the best times (target: at least 5).
#
# Usage: bench/logistic_fit.sh [options] [N]
#   N                how many accounts (default 1000000)
#   --runs N         timed runs per side (default 3)
#   --plugin PATH    time this logistic.so, e.g. build/lib/kizuna/plugins/logistic.so
#   --keep           keep the generated data (its directory is printed)
#
# The summary (a markdown table, the ratio, the largest coefficient
# difference) goes to stdout; progress and each side's full output to
# stderr.
#
# A benchmark, not a test: it exits non-zero when it could not run
# (missing tools, a failed build, a command that failed) or when the two
# fits disagree (then the figures do not count), never because of the
# figure it measured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

accounts=1000000
runs=3
plugin=""
max_rel=1e-6

parse_args 1 "--runs:runs:a number" "--plugin:plugin:a path" --keep:keep -- "$@"
if [ ${#positional[@]} -eq 1 ]; then accounts=${positional[0]}; fi

if ! [[ "$accounts" =~ ^[1-9][0-9]{0,8}$ ]] || [ "$accounts" -lt 100 ]; then
    die "N must be a number from 100 to 100000000, not '$accounts'"
fi
if ! [[ "$runs" =~ ^[1-9][0-9]?$ ]]; then die "--runs must be 1..99, not '$runs'"; fi
if [ -n "$plugin" ] && [ ! -f "$plugin" ]; then die "no plugin at $plugin"; fi

# ---- tools ------------------------------------------------------------------

want cc gcc
want Rscript r-base-core
install_wanted

make_work "the data"

# ---- build ------------------------------------------------------------------

build_c gen_logit -lm
build_c logit_fit -I"$repo/include" -ldl
if [ -z "$plugin" ]; then
    plugin="$work/logistic.so"
    cc -std=c11 -O2 -fPIC -fvisibility=hidden -shared -pthread -Wl,-z,defs -Wl,-z,now -I"$repo/include" \
        -DKZ_PLUGIN_VERSION='"bench"' -o "$plugin" "$repo"/plugins/logistic/*.c -lm ||
        die "plugins/logistic/ did not build"
    note "plugin: plugins/logistic/ compiled with cc -O2 ($(cc --version | head -n 1))"
else
    note "plugin: $plugin, built $(built_at "$plugin")"
fi
note "R: $(Rscript --version 2>&1 | head -n 1)"
note "machine: $(nproc) cores, $(cpu_model), $(ram)"

# ---- generate ---------------------------------------------------------------

data="$work/data.csv"
t0=$(now_ms)
"$work/gen_logit" "$accounts" "$data" || die "gen_logit $accounts failed"
note "generated $accounts accounts in $(($(now_ms) - t0)) ms ($(($(stat -c %s "$data") / 1048576)) MiB): $data"

# ---- time -------------------------------------------------------------------

note "timing, best of $runs runs each; load average $(loadavg)"
Rscript "$script_dir/logistic_fit.R" "$data" "$runs" >"$work/r.out" || die "Rscript logistic_fit.R failed"
note "R glm:"
indent "$work/r.out"
"$work/logit_fit" "$plugin" "$data" "$runs" >"$work/k.out" || die "logit_fit failed"
note "kizuna logistic train():"
indent "$work/k.out"
note "load average $(loadavg)"

# ---- compare ----------------------------------------------------------------

# Kizuna names a level "region=north" and the intercept "(intercept)";
# R says "regionnorth" and "(Intercept)".
awk -v max_rel="$max_rel" '
    FNR == 1 { side++ }
    $1 == "seconds" { secs[side] = $2 }
    $1 == "iterations" { iters[side] = $2 }
    $1 == "deviance" { dev[side] = $2 }
    $1 == "coef" {
        name = $2
        if (side == 2) { gsub(/=/, "", name); if (name == "(intercept)") name = "(Intercept)" }
        coef[side, name] = $3
        if (side == 1) names[++n] = name; else k_terms++
    }
    END {
        worst = 0; missing = 0
        for (i = 1; i <= n; i++) {
            if (!((2, names[i]) in coef)) { print "kizuna has no coefficient " names[i] > "/dev/stderr"; missing++; continue }
            r = coef[1, names[i]]; k = coef[2, names[i]]
            rel = (r == k) ? 0 : (k - r) / r; if (rel < 0) rel = -rel
            if (rel > worst) { worst = rel; worst_name = names[i] }
        }
        printf "| fit | best of runs (s) | iterations | deviance |\n| --- | ---: | ---: | ---: |\n"
        printf "| R glm(family = binomial) | %.3f | %d | %.10f |\n", secs[1], iters[1], dev[1]
        printf "| kizuna logistic train() | %.3f | %d | %.10f |\n", secs[2], iters[2], dev[2]
        printf "\nratio R/kizuna = %.1f (target: at least 5)\n", secs[1] / secs[2]
        printf "max relative coefficient difference = %.2g (%s; limit %s, %d coefficients)\n",
            worst, worst_name, max_rel, n
        if (missing > 0 || k_terms != n || worst > max_rel) exit 1
    }
' "$work/r.out" "$work/k.out" || die "the fits disagree: the figures above do not count"
