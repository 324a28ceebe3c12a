#!/usr/bin/env bash
# bench/sync_events.sh — how fast `kizuna sync` loads a large usage-event
# CSV, against the sqlite3 shell's .import of the same file.
#
# Generates N usage events over 10000 accounts (bench/gen_events.c, built
# here with cc -O2) into a private temp directory, syncs the accounts once
# (untimed), and then times side by side in one hyperfine run, each on a
# fresh database (hyperfine --prepare):
#
#   (k) kizuna --config <stack> sync --source events     on a copy of the accounts-only store
#   (a) sqlite3 keyed.db  .import --skip 1 events.csv ev  table keyed and indexed as Kizuna's
#                                                         usage_events (unique event key,
#                                                         index on account and time)
#   (b) sqlite3 bare.db   .import --skip 1 events.csv ev  same columns, no key, no index:
#                                                         the floor of parsing and appending
#
# Each timed command runs under /usr/bin/time -v, which gives its peak
# RSS; kizuna sync also runs once on N/10 events, to show whether its
# memory grows with the file. After the timed runs it checks that the
# store holds N events and nothing in quarantine, that both sqlite tables
# hold N rows, and that a second `kizuna sync --source events` finds
# nothing new (and how long that takes).
#
# Usage: bench/sync_events.sh [options] [N]
#   N                      how many events (default 10000000; 1000000 is a quick run)
#   --accounts N           how many accounts (default 10000)
#   --runs N               timed runs per command (default 3 below 5 million events, else 1)
#   --export-markdown PATH write hyperfine's markdown table to PATH ('-' = stdout)
#   --export-json PATH     write hyperfine's JSON to PATH ('-' = stdout)
#   --build                run an incremental build of kizuna and the csv plugin first
#                          (without it, the build happens only when they are missing)
#   --keep                 keep the generated data and databases (their directory is printed)
# With neither --export option, the markdown table goes to stdout.
#
# Progress, the checks, the means, the ratios k/a and k/b and the peak RSS
# figures go to stderr.
#
# A benchmark, not a test: it exits non-zero when it could not run
# (missing tools, a failed build, a command that failed) or when a check
# shows the timed sync did not do the whole job (then the figures do not
# count), never because of the figure it measured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

events=10000000
accounts=10000
runs=""
export_md=""
export_json=""

parse_args 1 "--accounts:accounts:a number" "--runs:runs:a number" \
    "--export-markdown:export_md:a path" "--export-json:export_json:a path" \
    --build:build --keep:keep -- "$@"
if [ ${#positional[@]} -eq 1 ]; then events=${positional[0]}; fi

if ! [[ "$events" =~ ^[1-9][0-9]{0,11}$ ]] || [ "$events" -lt 10 ]; then
    die "N must be a number from 10 to 999999999999, not '$events'"
fi
if ! [[ "$accounts" =~ ^[1-9][0-9]{0,5}$ ]]; then die "--accounts must be 1..999999, not '$accounts'"; fi
if [ -z "$runs" ]; then
    if [ "$events" -ge 5000000 ]; then runs=1; else runs=3; fi
fi
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then die "--runs must be a number of at least 1"; fi
small=$((events / 10))

# ---- tools ------------------------------------------------------------------

want cc gcc
want jq
want hyperfine
want sqlite3
want /usr/bin/time time
if [ "$build" -eq 1 ] || ! kizuna_built csv; then
    build=1
    want cmake
fi
install_wanted

# ---- build kizuna -----------------------------------------------------------

build_kizuna "kizuna and the csv plugin" csv

make_work "the data and databases"
copy_kizuna
note "sqlite3 shell: $(sqlite3 --version | cut -d' ' -f1-2)"
note "machine: $(nproc) cores, $(cpu_model), $(ram)"

# ---- generate ---------------------------------------------------------------

# About 72 bytes of CSV per event; at the end the store (with its WAL),
# the keyed and the bare table take about 1.9, 2 and 1.1 times the CSV's
# size (measured at 10 million events: 4.4 GB in all). Ask for 7x.
need_space $(((events + small) * 72 * 7 / 1024)) "$events events"

build_c gen_events
gen="$work/gen_events"

# stack_dir NAME EVENTS: a directory with accounts.csv, events.csv and the
# stack config, and an accounts-only store synced from it.
stack_dir() {
    local dir="$work/$1" n=$2 t0 t1
    mkdir "$dir"
    t0=$(now_ms)
    "$gen" "$n" "$accounts" "$dir" || die "gen_events $n $accounts failed"
    t1=$(now_ms)
    note "generated $n events over $accounts accounts in $((t1 - t0)) ms" \
        "($(mib $(($(stat -c %s "$dir/events.csv") / 1024)))): $dir/events.csv"
    cat >"$dir/kizuna.xml" <<'EOF'
<?xml version="1.0"?>
<kizuna version="1">
  <store path="kizuna.db"/>
  <sources>
    <source name="accounts" component="csv">
      <param name="path">accounts.csv</param>
      <map entity="account">
        <field name="id" from="id"/><field name="name" from="name"/>
        <field name="region" from="region"/><field name="plan" from="plan"/>
      </map>
    </source>
    <source name="events" component="csv">
      <param name="path">events.csv</param>
      <map entity="usage_event">
        <field name="id" from="event_id"/><field name="time" from="time"/>
        <field name="account_id" from="account_id"/><field name="user_id" from="user_id"/>
        <field name="name" from="event"/><field name="quantity" from="quantity"/>
      </map>
    </source>
  </sources>
</kizuna>
EOF
    "$kizuna" --config "$dir/kizuna.xml" sync --source accounts >"$dir/accounts-sync.out" ||
        die "kizuna sync --source accounts failed in $dir"
    local stored
    stored=$(sqlite3 "$dir/kizuna.db" 'SELECT count(*) FROM accounts')
    [ "$stored" -eq "$accounts" ] || die "the accounts sync stored $stored of $accounts accounts"
    # Fold the WAL into the file, so that one file is the whole store.
    sqlite3 "$dir/kizuna.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    [ ! -s "$dir/kizuna.db-wal" ] || die "could not checkpoint $dir/kizuna.db"
    mv "$dir/kizuna.db" "$dir/accounts-only.db"
    rm -f "$dir/kizuna.db-wal" "$dir/kizuna.db-shm"
}

stack_dir big "$events"
stack_dir small "$small"
big="$work/big"

# (a) mirrors usage_events of core/store/store.c (migration 2): the event's
# id is the primary key of a WITHOUT ROWID table, with an index on
# (account, time). Kizuna stores the time as integer microseconds and has
# three more columns (product, traits, source); .import takes the CSV's
# columns as they are, so here the time stays text.
keyed_schema='CREATE TABLE ev(event_id TEXT PRIMARY KEY NOT NULL, time TEXT, account_id TEXT, user_id TEXT, event TEXT, quantity REAL) WITHOUT ROWID; CREATE INDEX ev_by_account ON ev(account_id, time);'
bare_schema='CREATE TABLE ev(event_id TEXT, time TEXT, account_id TEXT, user_id TEXT, event TEXT, quantity REAL);'

# ---- time -------------------------------------------------------------------

label_k="kizuna sync (k)"
label_a="sqlite3 .import, keyed + indexed (a)"
label_b="sqlite3 .import, bare table (b)"
# Each prepare resets one database and then flushes the page cache's dirty
# pages (sync), so no run pays for the previous one's writeback.
prep_k="rm -f $(q "$big")/kizuna.db $(q "$big")/kizuna.db-wal $(q "$big")/kizuna.db-shm && cp $(q "$big/accounts-only.db") $(q "$big/kizuna.db") && sync"
prep_a="rm -f $(q "$big/keyed.db") $(q "$big/keyed.db-journal") && sqlite3 $(q "$big/keyed.db") $(q "$keyed_schema") && sync"
prep_b="rm -f $(q "$big/bare.db") $(q "$big/bare.db-journal") && sqlite3 $(q "$big/bare.db") $(q "$bare_schema") && sync"
cmd_k="$timev $(q "$big/rss-k.txt") $(q "$kizuna") --config $(q "$big/kizuna.xml") sync --source events >$(q "$big/sync.out")"
cmd_a="$timev $(q "$big/rss-a.txt") sqlite3 $(q "$big/keyed.db") -cmd '.mode csv' $(q ".import --skip 1 $big/events.csv ev")"
cmd_b="$timev $(q "$big/rss-b.txt") sqlite3 $(q "$big/bare.db") -cmd '.mode csv' $(q ".import --skip 1 $big/events.csv ev")"

note "timing $events events, $runs run(s) per command (warm page cache); load average $(loadavg)"
hyperfine_timed --runs "$runs" \
    --prepare "$prep_k" -n "$label_k" "$cmd_k" \
    --prepare "$prep_a" -n "$label_a" "$cmd_a" \
    --prepare "$prep_b" -n "$label_b" "$cmd_b"

# ---- check ------------------------------------------------------------------

note ""
note "kizuna sync --source events, last timed run:"
indent "$big/sync.out"
stored=$(sqlite3 "$big/kizuna.db" 'SELECT count(*) FROM usage_events')
quarantined=$(sqlite3 "$big/kizuna.db" 'SELECT count(*) FROM quarantine')
keyed_rows=$(sqlite3 "$big/keyed.db" 'SELECT count(*) FROM ev')
bare_rows=$(sqlite3 "$big/bare.db" 'SELECT count(*) FROM ev')
note "rows: store usage_events $stored, quarantine $quarantined; sqlite keyed $keyed_rows, bare $bare_rows (of $events)"
[ "$stored" -eq "$events" ] || problems+=("the store holds $stored usage events, not $events")
[ "$keyed_rows" -eq "$events" ] || problems+=("the keyed sqlite table holds $keyed_rows rows, not $events")
[ "$bare_rows" -eq "$events" ] || problems+=("the bare sqlite table holds $bare_rows rows, not $events")
if [ "$quarantined" -ne 0 ]; then
    problems+=("kizuna quarantined $quarantined records")
    note "kizuna quarantine (first 20):"
    "$kizuna" --config "$big/kizuna.xml" quarantine | head -n 20 | indent || true
fi

t0=$(now_ms)
resync=$("$kizuna" --config "$big/kizuna.xml" sync --source events) || die "the second kizuna sync failed"
t1=$(now_ms)
note "second kizuna sync --source events ($((t1 - t0)) ms):"
indent <<<"$resync"
grep -q 'nothing new' <<<"$resync" || problems+=("the second sync did not report nothing new")

# Peak RSS at N/10, on a fresh copy of its accounts-only store.
cp "$work/small/accounts-only.db" "$work/small/kizuna.db"
/usr/bin/time -v -o "$work/small/rss-k.txt" \
    "$kizuna" --config "$work/small/kizuna.xml" sync --source events >"$work/small/sync.out" ||
    die "kizuna sync --source events failed on $small events"
small_stored=$(sqlite3 "$work/small/kizuna.db" 'SELECT count(*) FROM usage_events')
[ "$small_stored" -eq "$small" ] || problems+=("the N/10 store holds $small_stored usage events, not $small")

# ---- summary ----------------------------------------------------------------

wall() { awk -F': ' '/Elapsed \(wall clock\)/ { v = $2 } END { print v }' "$1"; }
rss_k=$(peak_kb "$big/rss-k.txt")
rss_a=$(peak_kb "$big/rss-a.txt")
rss_b=$(peak_kb "$big/rss-b.txt")
rss_small=$(peak_kb "$work/small/rss-k.txt")

note ""
jq -r --arg k "$label_k" --arg a "$label_a" --arg b "$label_b" --argjson n "$events" "$hyperfine_jq_defs"'
    (.results[] | select(.command == $k)) as $K |
    (.results[] | select(.command == $a)) as $A |
    (.results[] | select(.command == $b)) as $B |
    "mean, \($k): \($K.mean | s) s\($K.stddev | sd) (\($K.times | runs)), \($n / $K.mean | round) events/s",
    "mean, \($a): \($A.mean | s) s\($A.stddev | sd) (\($A.times | runs)), \($n / $A.mean | round) rows/s",
    "mean, \($b): \($B.mean | s) s\($B.stddev | sd) (\($B.times | runs)), \($n / $B.mean | round) rows/s",
    "k/a = \($K.mean / $A.mean | r)  (target: at most 0.333, i.e. 3x faster than the keyed import; now \($A.mean / $K.mean | r)x)",
    "k/b = \($K.mean / $B.mean | r)  (target: at most 1.5)"
' "$json_out" >&2
note "peak RSS, kizuna sync: $(mib "$rss_k") at $events events, $(mib "$rss_small") at $small events" \
    "(ratio $(awk -v a="$rss_k" -v b="$rss_small" 'BEGIN { printf "%.2f", (b > 0) ? (a / b) : 0 }'))"
note "kizuna sync of $small events took $(wall "$work/small/rss-k.txt") (m:ss.cc, one run)"
note "peak RSS, sqlite3 .import at $events events: keyed $(mib "$rss_a"), bare $(mib "$rss_b")"

fail_on_problems "the timed sync"
note "ok: the store holds all $events events, none quarantined; a second sync finds nothing new"
