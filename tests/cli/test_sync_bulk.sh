#!/usr/bin/env bash
# An initial load of usage events: after its first batch the store leaves
# WAL mode for a rollback journal (new pages written once, not twice) and
# goes back to WAL at the end. Shown here:
#  - a load of three batches takes that path, ends in WAL mode with its
#    index, and stores what a load kept in WAL mode stores;
#  - a load killed inside a rollback-journal transaction keeps its whole
#    batches and nothing of the killed one, and the next sync finishes it;
#  - a hot journal left by a killed write does not stop a read-only command:
#    it is rolled back first, and the store is in WAL mode again;
#  - with another connection open on the store, the load stays in WAL mode.
. "$(dirname "$0")/lib.sh"
python_with sqlite3 python3

# 150,000 events: a first batch of 65,536 makes it an initial load
awk 'BEGIN { print "id,name"; for (a = 0; a < 500; a++) printf "acc-%d,Account %d\n", a, a }' >"$WORK/accounts.csv"
awk 'BEGIN { print "event_id,time,account_id,event,quantity";
  for (i = 0; i < 150000; i++)
    printf "ev-%07d,2026-%02d-%02dT%02d:%02d:00Z,acc-%d,feature.%d,%d\n", i, 1 + i % 12, 1 + i % 28, i % 24, i % 60, (i * 7919) % 500, i % 9, i % 5
}' >"$WORK/events.csv"
stack() { events_stack "$WORK/$1.xml" "$WORK/$1.db"; } # stack NAME
kz() { local name=$1; shift; "$KIZUNA" --config "$WORK/$name.xml" "$@"; }
q() { sqlite3 "$WORK/$1.db" "$2"; }
summary() {
  q "$1" "SELECT count(*), count(DISTINCT key), sum(quantity), sum(time_us % 1000003) FROM usage_events;
          SELECT name FROM sqlite_master WHERE name = 'usage_events_by_account';
          SELECT count(*) FROM quarantine;"
}
events() { q "$1" "SELECT count(*) FROM usage_events"; }

# ---- the whole load ----------------------------------------------------------
stack clean
run 0 kz clean sync --source crm
KIZUNA_LOG_LEVEL=debug run 0 kz clean sync --source usage
contains "$WORK/err" "the rest of the initial load goes through a rollback journal"
contains "$WORK/err" "the usage events' index took"
contains "$WORK/out" "read 150000 "
contains "$WORK/out" "inserted 150000 "
equals "$(q clean "PRAGMA journal_mode")" "wal" "back in WAL mode"
equals "$(q clean "PRAGMA integrity_check")" "ok" "integrity"
[ ! -s "$WORK/clean.db-journal" ] || fail "a rollback journal with content is left behind"
[ ! -e "$WORK/clean.db-bulk" ] || fail "the bulk lock file is left behind"
equals "$(events clean)" "150000" "events"

# ---- killed inside a rollback-journal transaction ----------------------------
stack killed
run 0 kz killed sync --source crm
"$KIZUNA" --config "$WORK/killed.xml" sync --source usage >/dev/null 2>&1 & # the binary itself: $! must be kizuna
pid=$!
for _ in $(seq 2000); do # a journal with content: a transaction after the first batch is under way
  [ -s "$WORK/killed.db-journal" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.005
done
[ -s "$WORK/killed.db-journal" ] || fail "the load never wrote a rollback journal"
killed=yes
kill -9 "$pid" 2>/dev/null || killed="no (it had ended)"
wait "$pid" 2>/dev/null || true
if pgrep -f "$WORK/killed.xml" >/dev/null; then fail "kizuna outlived its kill"; fi
stored=$(events killed)
# whole batches of 65,536; all 150,000 if a slow machine let the kill come
# during the index build or after the end
if [ "$stored" -ne 150000 ] && { [ "$stored" -eq 0 ] || [ $((stored % 65536)) -ne 0 ]; }; then
  fail "after the kill: $stored events, not whole batches"
fi
echo "killed: $killed; $stored events stored before the resume"
run 0 kz killed accounts --limit 1 # read-only, with whatever journal the kill left
equals "$(events killed)" "$stored" "a read-only command changes nothing"
equals "$(q killed "PRAGMA integrity_check")" "ok" "integrity after the kill"
run 0 kz killed sync --source usage
equals "$(summary killed)" "$(summary clean)" "resumed after the kill vs the whole load"
equals "$(q killed "PRAGMA journal_mode")" "wal" "WAL mode after the resumed load"

# ---- a hot journal and a read-only command ---------------------------------
# a write transaction that spills pages into the database and dies before
# it commits: the journal is hot, the database holds uncommitted pages
cp "$WORK/clean.db" "$WORK/hot.db"
sed "s#$WORK/clean.db#$WORK/hot.db#" "$WORK/clean.xml" >"$WORK/hot.xml"
"$py" - "$WORK/hot.db" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
assert c.execute("PRAGMA journal_mode = truncate").fetchone()[0] == "truncate"
c.execute("PRAGMA cache_size = 5")
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE accounts SET name = 'half-written'")
c.execute("DELETE FROM usage_events WHERE account_id = 'acc-7'")
os._exit(0)
PY
[ -s "$WORK/hot.db-journal" ] || fail "no hot journal to test with"
run 0 kz hot accounts --where "name = 'half-written'"
contains "$WORK/out" "0 accounts"
equals "$(q hot "PRAGMA journal_mode")" "wal" "WAL mode after the recovery"
equals "$(summary hot)" "$(summary clean)" "the hot journal rolled back"

# ---- another connection open: the load stays in WAL mode -------------------
stack shared
run 0 kz shared sync --source crm
"$py" - "$WORK/shared.db" "$WORK/hold" <<'PY' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("SELECT count(*) FROM accounts").fetchone()
open(sys.argv[2], "w").close()
while os.path.exists(sys.argv[2]):
    time.sleep(0.01)
PY
holder=$!
for _ in $(seq 500); do [ -e "$WORK/hold" ] && break; sleep 0.01; done
[ -e "$WORK/hold" ] || fail "the other connection did not open"
KIZUNA_LOG_LEVEL=debug run 0 kz shared sync --source usage
rm -f "$WORK/hold"
wait "$holder"
lacks "$WORK/err" "rollback journal"
contains "$WORK/err" "the usage events' index took"
equals "$(summary shared)" "$(summary clean)" "the load in WAL mode vs the other"
equals "$(q shared "PRAGMA journal_mode")" "wal" "still in WAL mode"
echo "ok"
