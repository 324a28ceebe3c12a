#!/usr/bin/env bash
# bench/score_accounts.sh — how fast `kizuna score` scores a large book of
# business end to end, against the sqlite3 shell computing the same
# weighted score with one SQL statement.
#
# Generates N accounts with 10 numeric measures each (bench/gen_accounts.c,
# built here with cc -O2) into a private temp directory and, untimed,
# syncs them into a store (each measure an account trait of type double),
# rolls up the measures (`kizuna measures`), scores once (`kizuna score`)
# and loads the same CSV into a wide table m(id, m1 .. m10) of a separate
# sqlite3 database. It then times side by side in one hyperfine run:
#
#   (k) kizuna --config <stack> score     reads the 10 stored measure columns, scores
#                                         them with the bundled `weighted` scorer
#                                         (band-normalized, weighted, with every
#                                         measure's contribution) and stores the run:
#                                         combined score and grade, the scorer's score,
#                                         grade, baseline and 10 contribution columns
#   (s) sqlite3 ref.db "CREATE TABLE s AS SELECT id, 100.0 * (w1 * min(max((m1 - LOW1)
#       / (HIGH1 - LOW1), 0), 1) + ...) / (w1 + ... + w10) AS score FROM m"
#                                         the same scores alone, into a table
#
# Before each run (hyperfine --prepare) (k) finds no score run in the store
# (DELETE FROM score_columns; DELETE FROM score_runs: a second `kizuna
# score` of unchanged measures stores nothing, it is idempotent) and (s)
# finds no table s; both then flush dirty pages (sync). Every command
# gets the same fixed --as-of, so a new day during the run cannot make
# kizuna compute the measures again. Each timed command runs under
# /usr/bin/time -v, which gives its peak RSS.
#
# After the timed runs it checks that the score run holds N accounts, none
# unscored (`kizuna score --json`, which also finds nothing new to store),
# that the store holds that one run with its 15 full columns, that the
# timed runs computed no measure again, that table s has N rows with the
# same mean and grade counts as kizuna's, and for 5 random accounts that
# `kizuna account ID --json` gives the score of table s (to 1e-9) and
# contributions that add up to it (to 1e-9).
#
# Usage: bench/score_accounts.sh [options] [N]
#   N                      how many accounts (default 1000000; 10 to 9999999)
#   --runs N               timed runs per command (default 5)
#   --export-markdown PATH write hyperfine's markdown table to PATH ('-' = stdout)
#   --export-json PATH     write hyperfine's JSON to PATH ('-' = stdout)
#   --build                run an incremental build of kizuna, the csv and the weighted
#                          plugin first (without it, the build happens only when they are missing)
#   --keep                 keep the generated data and databases (their directory is printed)
# With neither --export option, the markdown table goes to stdout.
#
# Progress, the setup times, the checks, the means, the ratio k/s and the
# peak RSS figures go to stderr.
#
# A benchmark, not a test: it exits non-zero when it could not run
# (missing tools, a failed build, a command that failed) or when a check
# shows the timed runs did not do the whole job (then the figures do not
# count), never because of the figure it measured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

accounts=1000000
runs=5
export_md=""
export_json=""

parse_args 1 "--runs:runs:a number" \
    "--export-markdown:export_md:a path" "--export-json:export_json:a path" \
    --build:build --keep:keep -- "$@"
if [ ${#positional[@]} -eq 1 ]; then accounts=${positional[0]}; fi

if ! [[ "$accounts" =~ ^[1-9][0-9]{0,6}$ ]] || [ "$accounts" -lt 10 ]; then
    die "N must be a number from 10 to 9999999, not '$accounts'"
fi
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then die "--runs must be a number of at least 1"; fi

# The health model: NAME WEIGHT LOW HIGH, one line per measure. Band
# LOW..HIGH normalizes a value x to clamp((x - LOW) / (HIGH - LOW), 0, 1),
# 1 = healthy; LOW > HIGH when less is healthier. The scorer's `measures`
# parameter, the generator's value ranges and the SQL of (s) all come
# from this table.
model='m1 3 0 100
m2 1 50 0
m3 2 0 1
m4 0.5 10 2
m5 1.5 -5 5
m6 2 1000 0
m7 1 0 30
m8 4 0.2 0.9
m9 1 365 30
m10 2.5 -1 1'
n_measures=$(wc -l <<<"$model")

# ---- tools ------------------------------------------------------------------

want cc gcc
want jq
want hyperfine
want sqlite3
want /usr/bin/time time
if [ "$build" -eq 1 ] || ! kizuna_built csv weighted; then
    build=1
    want cmake
fi
install_wanted

# ---- build kizuna -----------------------------------------------------------

build_kizuna "kizuna, the csv and the weighted plugin" csv weighted

make_work "the data and databases"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$repo/build/CMakeCache.txt" 2>/dev/null || true)
copy_kizuna " (CMAKE_BUILD_TYPE ${build_type:-unknown})"
note "weighted plugin: sha256 $(sha12 "$KIZUNA_PLUGIN_PATH/weighted.so")"
note "sqlite3 shell: $(sqlite3 --version | cut -d' ' -f1-2)"
note "machine: $(nproc) cores, $(cpu_model), $(ram)"

# ---- generate ---------------------------------------------------------------

# About 90 bytes of CSV per account; the store takes about 850 bytes per
# account (mostly the 10 traits in account_traits and its index; then the
# measure columns and a score run's 15 columns), the reference database
# about 160 (measured at 1 million accounts: 1.1 GB in all). Ask for 1.5 KiB.
need_space $((accounts * 3 / 2)) "$accounts accounts"

build_c gen_accounts -lm
gen="$work/gen_accounts"


data="$work/data"
mkdir "$data"
bands=()
params=""
terms=""
weights=""
while read -r name weight low high; do
    bands+=("$low..$high")
    params+="        $name weight=$weight band=$low..$high"$'\n'
    terms+="${terms:+ + }$weight * min(max(($name - ($low)) / (($high) - ($low)), 0), 1)"
    weights+="${weights:+ + }$weight"
done <<<"$model"

setup_t0=$(now_ms)
t0=$(now_ms)
"$gen" "$accounts" "$data" "${bands[@]}" || die "gen_accounts $accounts failed"
note "generated $accounts accounts with $n_measures measures in $(secs $(($(now_ms) - t0)))" \
    "($(mib $(($(stat -c %s "$data/accounts.csv") / 1024)))): $data/accounts.csv"

stack="$data/kizuna.xml"
{
    cat <<'EOF'
<?xml version="1.0"?>
<kizuna version="1">
  <store path="kz.db"/>
  <sources>
    <source name="crm" component="csv">
      <param name="path">accounts.csv</param>
      <map entity="account">
        <field name="id" from="id"/>
EOF
    while read -r name _; do
        echo "        <trait name=\"$name\" from=\"$name\" type=\"double\"/>"
    done <<<"$model"
    printf '      </map>\n    </source>\n  </sources>\n  <measures>\n'
    while read -r name _; do
        echo "    <measure name=\"$name\" kind=\"trait\" trait=\"$name\"/>"
    done <<<"$model"
    printf '  </measures>\n  <scorers>\n    <scorer name="health10" component="weighted">\n'
    printf '      <param name="measures">\n%s      </param>\n' "$params"
    cat <<'EOF'
    </scorer>
  </scorers>
  <health>
    <use scorer="health10"/>
    <grade name="red" below="40"/><grade name="yellow" below="70"/><grade name="green"/>
  </health>
</kizuna>
EOF
} >"$stack"
"$kizuna" --config "$stack" check >"$data/check.out" 2>&1 || {
    indent "$data/check.out"
    die "kizuna check refuses the generated stack config $stack"
}

# The default as-of is the end of today (UTC); fixed here, so that every
# command of the run rolls up as of the same day.
as_of=$(date -u -d '+1 day' +%F)

note "syncing $accounts accounts with $n_measures double traits each (untimed; the longest step of the setup)"
run_noting "kizuna sync" "$data/sync.out" "$kizuna" --config "$stack" sync
sync_ms=$took
indent "$data/sync.out"
stored=$(sqlite3 "$data/kz.db" 'SELECT count(*) FROM accounts')
[ "$stored" -eq "$accounts" ] || die "the sync stored $stored of $accounts accounts"
note "synced in $(secs "$sync_ms")"

note "rolling up the measures as of $as_of (untimed)"
run_noting "kizuna measures" "$data/measures.json" "$kizuna" --config "$stack" measures --as-of "$as_of" --json
measures_ms=$took
bad=$(jq --argjson n "$accounts" '[.measures[] | select(.present != $n or .type != "number")] | length' \
    "$data/measures.json")
[ "$bad" -eq 0 ] || die "$bad measures are not numbers present for all $accounts accounts (see $data/measures.json)"
note "rolled up $n_measures measures in $(secs "$measures_ms")"

# The reference: the same CSV in a wide table of its own database, as the
# sqlite3 shell's .import reads it (REAL affinity turns the text into doubles).
ref="$data/ref.db"
cols=$(while read -r name _; do printf ', %s REAL' "$name"; done <<<"$model")
t0=$(now_ms)
sqlite3 "$ref" "CREATE TABLE m(id TEXT PRIMARY KEY$cols)" || die "could not create $ref"
sqlite3 "$ref" -cmd '.mode csv' ".import --skip 1 $data/accounts.csv m" || die "the .import into $ref failed"
import_ms=$(($(now_ms) - t0))
ref_rows=$(sqlite3 "$ref" 'SELECT count(*) FROM m')
[ "$ref_rows" -eq "$accounts" ] || die "the reference table m holds $ref_rows rows, not $accounts"
not_real=$(sqlite3 "$ref" "SELECT count(*) FROM m WHERE $(while read -r name _; do printf 'typeof(%s) != %s OR ' "$name" "'real'"; done <<<"$model")0")
[ "$not_real" -eq 0 ] || die "$not_real rows of the reference table m hold a value that is not a double"
note "loaded the reference table m ($ref_rows rows) in $(secs "$import_ms")"

run_noting "the first kizuna score" "$data/score-first.json" "$kizuna" --config "$stack" score --as-of "$as_of" --json
first_ms=$took
jq -e --argjson n "$accounts" '.stored == true and .accounts == $n' "$data/score-first.json" >/dev/null ||
    die "the first kizuna score did not store a run of $accounts accounts (see $data/score-first.json)"
note "scored once, untimed, in $(secs "$first_ms"): $(jq -c .grades "$data/score-first.json")"
setup_ms=$(($(now_ms) - setup_t0))
note "setup took $(secs "$setup_ms") in all (sync $(secs "$sync_ms"), measures $(secs "$measures_ms")," \
    ".import $(secs "$import_ms"), first score $(secs "$first_ms"))"
# Fold the WAL into the file, so that each timed run starts alike.
sqlite3 "$data/kz.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null

# ---- time -------------------------------------------------------------------

score_sql="CREATE TABLE s AS SELECT id, 100.0 * ($terms) / ($weights) AS score FROM m"
label_k="kizuna score (k)"
label_s="sqlite3 CREATE TABLE s AS SELECT (s)"
# Each prepare resets one database and then flushes the page cache's dirty
# pages (sync), so no run pays for the previous one's writeback.
prep_k="sqlite3 $(q "$data/kz.db") 'DELETE FROM score_columns; DELETE FROM score_runs;' && sync"
prep_s="sqlite3 $(q "$ref") 'DROP TABLE IF EXISTS s' && sync"
cmd_k="$timev $(q "$data/rss-k.txt") $(q "$kizuna") --config $(q "$stack") score --as-of $as_of >$(q "$data/score.out")"
cmd_s="$timev $(q "$data/rss-s.txt") sqlite3 $(q "$ref") $(q "$score_sql")"

note "timing $accounts accounts, $runs run(s) per command (warm page cache); load average $(loadavg)"
note "(s) runs: $score_sql"
hyperfine_timed --runs "$runs" \
    --prepare "$prep_k" -n "$label_k" "$cmd_k" \
    --prepare "$prep_s" -n "$label_s" "$cmd_s"

# ---- check ------------------------------------------------------------------

note ""
note "kizuna score, last timed run:"
indent "$data/score.out"

# The last timed run is the one in the store: scoring again finds the same
# measures and model and stores nothing.
"$kizuna" --config "$stack" score --as-of "$as_of" --json >"$data/score-check.json" ||
    die "kizuna score --json after the timed runs failed"
read -r k_accounts k_stored k_unscored k_red k_yellow k_green k_mean < <(jq -r \
    '[.accounts, .stored, .grades.unscored, .grades.red, .grades.yellow, .grades.green, .mean] | @tsv' \
    "$data/score-check.json")
note "kizuna score --json: accounts $k_accounts, stored $k_stored (nothing new), grades red $k_red," \
    "yellow $k_yellow, green $k_green, unscored $k_unscored, mean $k_mean"
[ "$k_accounts" -eq "$accounts" ] || problems+=("the score run holds $k_accounts accounts, not $accounts")
[ "$k_unscored" -eq 0 ] || problems+=("$k_unscored accounts are unscored")
[ "$k_stored" = false ] || problems+=("a second kizuna score stored a new run: the timed runs' run was not complete")

# One run, with its 15 columns: combined score and grade, and the scorer's
# score, grade, baseline and one contribution per measure; doubles are 8
# bytes per account, grades 1.
read -r n_runs n_cols col_bytes < <(sqlite3 -separator ' ' "$data/kz.db" \
    'SELECT (SELECT count(*) FROM score_runs), count(*), total(length(vals)) FROM score_columns')
want_cols=$((5 + n_measures))
want_bytes=$(((want_cols - 2) * 8 * accounts + 2 * accounts))
note "store: $n_runs score run, $n_cols score columns, $(printf '%.0f' "$col_bytes") bytes"
[ "$n_runs" -eq 1 ] || problems+=("the store holds $n_runs score runs, not 1")
[ "$n_cols" -eq "$want_cols" ] || problems+=("the score run has $n_cols columns, not $want_cols")
[ "$(printf '%.0f' "$col_bytes")" -eq "$want_bytes" ] || problems+=("the score columns hold $col_bytes bytes, not $want_bytes")

# The timed runs read the stored measures: none was computed again.
recomputed=$(sqlite3 "$data/kz.db" "SELECT count(*) FROM measure_columns WHERE computed_us >= $((t_start * 1000))")
[ "$recomputed" -eq 0 ] || problems+=("$recomputed measures were computed again during the timed runs")

# Table s against kizuna's run: rows, mean, grades (a score within 1e-9 of
# a grade bound may fall on either side of it).
read -r s_rows s_mean s_red s_yellow s_green s_edge < <(sqlite3 -separator ' ' "$ref" \
    "SELECT count(*), printf('%.17g', avg(score)), total(score < 40), total(score >= 40 AND score < 70), total(score >= 70),
            total(abs(score - 40) <= 1e-9 OR abs(score - 70) <= 1e-9) FROM s")
s_red=${s_red%.0} s_yellow=${s_yellow%.0} s_green=${s_green%.0} s_edge=${s_edge%.0}
note "table s: $s_rows rows, grades red $s_red, yellow $s_yellow, green $s_green, mean $s_mean"
[ "$s_rows" -eq "$accounts" ] || problems+=("table s holds $s_rows rows, not $accounts")
awk -v a="$k_mean" -v b="$s_mean" 'BEGIN { d = a - b; exit !(d <= 1e-9 && d >= -1e-9) }' ||
    problems+=("kizuna's mean score $k_mean is not table s's $s_mean")
for grade in "red $k_red $s_red" "yellow $k_yellow $s_yellow" "green $k_green $s_green"; do
    read -r g kv sv <<<"$grade"
    [ $((kv > sv ? kv - sv : sv - kv)) -le "$s_edge" ] || problems+=("kizuna grades $kv accounts $g, table s $sv")
done

# Five random accounts, one by one through `kizuna account`.
note "5 random accounts: kizuna account ID --json against table s"
while IFS='|' read -r id s_score; do
    "$kizuna" --config "$stack" account "$id" --json >"$data/account.json" 2>"$data/account.err" || {
        problems+=("kizuna account $id failed: $(head -c 300 "$data/account.err")")
        continue
    }
    read -r a_score a_sum a_n a_scorer < <(jq -r \
        '.health | [.score, (.scorers[0].contributions | map(.value) | add), (.scorers[0].contributions | length),
                    .scorers[0].name] | @tsv' "$data/account.json")
    note "  $id: kizuna $a_score (contributions add up to $a_sum, $a_n of them, scorer $a_scorer), table s $s_score"
    awk -v a="$a_score" -v b="$s_score" 'BEGIN { d = a - b; exit !(a != "null" && d <= 1e-9 && d >= -1e-9) }' ||
        problems+=("account $id: kizuna scores $a_score, table s $s_score")
    awk -v a="$a_score" -v b="$a_sum" 'BEGIN { d = a - b; exit !(b != "null" && d <= 1e-9 && d >= -1e-9) }' ||
        problems+=("account $id: the contributions add up to $a_sum, not the score $a_score")
    [ "$a_n" -eq "$n_measures" ] || problems+=("account $id has $a_n contributions, not $n_measures")
    [ "$a_scorer" = health10 ] || problems+=("account $id: the first scorer is '$a_scorer', not health10")
done < <(sqlite3 "$ref" "SELECT id, printf('%.17g', score) FROM s ORDER BY random() LIMIT 5")

# ---- summary ----------------------------------------------------------------

rss_k=$(peak_kb "$data/rss-k.txt")
rss_s=$(peak_kb "$data/rss-s.txt")

note ""
note "setup (untimed): $(secs "$setup_ms") in all: kizuna sync $(secs "$sync_ms"), kizuna measures" \
    "$(secs "$measures_ms"), .import of the reference $(secs "$import_ms"), first kizuna score $(secs "$first_ms")"
jq -r --arg k "$label_k" --arg s "$label_s" --argjson n "$accounts" "$hyperfine_jq_defs"'
    (.results[] | select(.command == $k)) as $K |
    (.results[] | select(.command == $s)) as $S |
    "mean, \($k): \($K.mean | s) s\($K.stddev | sd) (\($K.times | runs)), \($n / $K.mean | round) accounts/s",
    "mean, \($s): \($S.mean | s) s\($S.stddev | sd) (\($S.times | runs)), \($n / $S.mean | round) accounts/s",
    "k/s = \($K.mean / $S.mean | r)  (target: below 1.0; kizuna is \($S.mean / $K.mean | r)x as fast)"
' "$json_out" >&2
note "peak RSS: kizuna score $(mib "$rss_k"), sqlite3 $(mib "$rss_s") (at $accounts accounts)"

fail_on_problems "the timed runs"
note "ok: the score run holds all $accounts accounts, none unscored, with its $want_cols columns and nothing" \
    "recomputed; table s holds $accounts rows with the same mean and grades; 5 accounts match to 1e-9"
