#!/usr/bin/env bash
# `kizuna sync` killed with SIGKILL at random points, 20 times, then run to
# the end: the store holds exactly what one clean run stores — same rows,
# same quarantine, no duplicates — and passes PRAGMA integrity_check.
# Twice: with the generating test source, and with the csv source reading
# a large events file (with bad rows) through a <map>.
. "$(dirname "$0")/lib.sh"

gen_stack() { # gen_stack FILE DB
  cat >"$1" <<XML
<kizuna version="1">
  <store path="$2"/>
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/source</dir></plugins>
  <sources>
    <source name="gen" component="test-gen">
      <param name="accounts">3000</param>
      <param name="events">40</param>
      <param name="batch">200</param>
      <param name="bad">97</param>
    </source>
  </sources>
</kizuna>
XML
}

# a large events file: 400,000 events (about 28 MB), 1 in 1000 for an unknown account
awk 'BEGIN { print "id,name"; for (a = 0; a < 2000; a++) printf "acc-%d,Account %d\n", a, a }' >"$WORK/accounts.csv"
awk 'BEGIN { srand(7); print "event_id,time,account_id,event,quantity";
  for (i = 0; i < 400000; i++) {
    a = (i % 1000 == 999) ? "acc-missing" : "acc-" int(rand() * 2000)
    printf "ev-%09d,2026-%02d-%02dT%02d:%02d:%02dZ,%s,feature.%d,%.1f\n", i, 1 + i % 12, 1 + i % 28, i % 24, i % 60, (i * 7) % 60, a, i % 30, (i % 100) / 4
  } }' >"$WORK/events.csv"
csv_stack() { events_stack "$1" "$2"; } # csv_stack FILE DB

# forget_cursors DB: the next sync starts from the beginning of its input
# (a kill before the store's first migration committed leaves no table)
forget_cursors() {
  if [ "$(sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE name = 'source_cursors'")" = 1 ]; then
    sqlite3 "$1" "DELETE FROM source_cursors"
  fi
}

kill_test() { # kill_test STACK_WRITER
  rm -f "$WORK"/clean.db* "$WORK"/killed.db*
  "$1" "$WORK/clean.xml" "$WORK/clean.db"
  "$1" "$WORK/killed.xml" "$WORK/killed.db"

  start=$(date +%s%N)
  run 0 "$KIZUNA" --config "$WORK/clean.xml" sync
  clean_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$clean_ms" -gt 0 ] || clean_ms=1

  # 20 kills at random points inside a run. A run may finish before its
  # kill comes (a resumed run has less left to do, and a busy machine makes
  # the clean run's time a poor guide): such a round does not count, the
  # next one starts from the beginning of the input, and the window for the
  # kill point shrinks, so the test does not depend on the machine's load.
  kills=0 attempts=0 window_ms=$((clean_ms / 3 + 1))
  while [ "$kills" -lt 20 ] && [ "$attempts" -lt 80 ]; do
    attempts=$((attempts + 1))
    "$KIZUNA" --config "$WORK/killed.xml" sync >/dev/null 2>&1 &
    pid=$!
    delay_ms=$(( 20 + (RANDOM * 32768 + RANDOM) % window_ms ))
    sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    if kill -9 "$pid" 2>/dev/null; then
      kills=$((kills + 1))
      wait "$pid" 2>/dev/null || true
      # start the next round from the beginning half the time, so kills land all over the file
      if [ $((RANDOM % 2)) -eq 0 ]; then forget_cursors "$WORK/killed.db"; fi
    else
      wait "$pid" 2>/dev/null || true
      forget_cursors "$WORK/killed.db"
      window_ms=$((window_ms * 2 / 3 + 1))
    fi
    # what is stored at any kill point is consistent
    equals "$(sqlite3 "$WORK/killed.db" 'PRAGMA integrity_check')" "ok" "integrity after round $attempts"
  done
  echo "killed 20 runs mid-way in $attempts rounds (a whole run takes ${clean_ms} ms)"
  [ "$kills" -eq 20 ] || fail "only $kills of $attempts runs were still going when killed"

  run 0 "$KIZUNA" --config "$WORK/killed.xml" sync
  equals "$(summary "$WORK/killed.db")" "$(summary "$WORK/clean.db")" "store after 20 kills vs a clean run"
  equals "$(sqlite3 "$WORK/killed.db" 'PRAGMA integrity_check')" "ok" "integrity"
  # and once more: nothing new, nothing changed
  run 0 "$KIZUNA" --config "$WORK/killed.xml" sync
  contains "$WORK/out" "nothing new"
  equals "$(summary "$WORK/killed.db")" "$(summary "$WORK/clean.db")" "after a further sync"
}

summary() { # the store's content, as one comparable text
  sqlite3 "$1" "SELECT 'accounts', count(*), sum(arr_minor) FROM accounts;
                SELECT 'events', count(*), count(DISTINCT key), sum(quantity), sum(time_us % 1000003) FROM usage_events;
                SELECT 'quarantine', count(*), count(DISTINCT file || ':' || line || ':' || entity) FROM quarantine;
                SELECT 'cursor', instance, cursor FROM source_cursors ORDER BY instance;
                SELECT 'index', name FROM sqlite_master WHERE name = 'usage_events_by_account';"
}

kill_test gen_stack
kill_test csv_stack
equals "$(sqlite3 "$WORK/killed.db" 'SELECT count(*) FROM usage_events')" "399600" "csv events stored"
equals "$(sqlite3 "$WORK/killed.db" 'SELECT count(*) FROM quarantine')" "400" "csv events quarantined"
# the initial load dropped the events index and built it at the end; killed runs too
equals "$(sqlite3 "$WORK/killed.db" "SELECT count(*) FROM sqlite_master WHERE name = 'usage_events_by_account'")" "1" \
  "events index after the kills"
# while a live sync holds the bulk lock, opening the store leaves the missing
# index to that sync; once nobody holds it, opening the store restores it
index_count() { sqlite3 "$WORK/killed.db" "SELECT count(*) FROM sqlite_master WHERE name = 'usage_events_by_account'"; }
sqlite3 "$WORK/killed.db" "DROP INDEX usage_events_by_account"
flock "$WORK/killed.db-bulk" "$KIZUNA" --config "$WORK/killed.xml" quarantine >/dev/null
equals "$(index_count)" "0" "index left to the (pretend) live initial load"
run 0 "$KIZUNA" --config "$WORK/killed.xml" quarantine
equals "$(index_count)" "1" "index restored once no sync holds the lock"
[ ! -e "$WORK/killed.db-bulk" ] || fail "stale bulk lock file left behind"
echo "ok"
