#!/usr/bin/env bash
# tests/cli/test_run_sigkill.sh — `kizuna run` killed with SIGKILL 20 times
# while it delivers, then run to the end: every touch is delivered, and the
# receiver (a real HTTP server on loopback that counts each idempotency
# key) got every key, and no more repeats than kills (a kill can cut short
# at most the one attempt in flight, which is then sent again with the
# same key for the receiver to drop); the store passes PRAGMA
# integrity_check after every kill. Then two runs started at once on a new
# store: one delivers while the other waits for the outbox's lock, and
# each touch is sent once.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"
command -v sqlite3 >/dev/null || fail "sqlite3 is needed"

export KIZUNA_HOOK_SECRET=kill-test-secret
start_http_receiver "$KIZUNA_HOOK_SECRET"

# the sample company with 400 more accounts, each renewing next year
cp -r "$KZ_SOURCE_DIR/sdk/examples/sample/." "$WORK/"
for i in $(seq 1 400); do
  printf 'K-%04d,"Kill Test %d",emea,smb,Starter,4800.00,EUR,01/15/2026,01/15/2027,csm-3,Health,10\n' "$i" "$i"
done >>"$WORK/data/accounts.csv"
cat >"$WORK/extra.xml" <<'XML'
  <playbooks>
    <playbook name="renewal" channel="hook" to="none">
      <trigger on="before" date="renewal_date" days="3650"/>
      <subject>{account.name} renews on {account.renewal_date}</subject><body>{account.id}</body></playbook>
  </playbooks>
XML
echo "    <channel name=\"hook\" component=\"webhook\"><param name=\"url\">http://127.0.0.1:$PORT/steady</param>" \
  "<param name=\"secret\" env=\"KIZUNA_HOOK_SECRET\"/></channel>" >"$WORK/channels.xml"
sample_config "$WORK/kizuna.xml" "$WORK/channels.xml" "$WORK/extra.xml"

kz() { KIZUNA_NOW=2026-10-15T08:00:00Z "$KIZUNA" --config "$WORK/kizuna.xml" "$@"; }
lines() { wc -l <"$WORK/hooks.log"; }

# each round: start a run, wait until the receiver has seen 1 to 12 more
# requests (so the kill lands inside the delivery), then SIGKILL it
kills=0 rounds=0
while [ "$kills" -lt 20 ] && [ "$rounds" -lt 60 ]; do
  rounds=$((rounds + 1))
  target=$(($(lines) + RANDOM % 12 + 1))
  # the binary itself in the background, not through kz: $! of a
  # backgrounded function is a subshell, and SIGKILL to it leaves kizuna
  # running on as an orphan
  KIZUNA_NOW=2026-10-15T08:00:00Z "$KIZUNA" --config "$WORK/kizuna.xml" run --as-of 2026-10-14 \
    >"$WORK/run.out" 2>"$WORK/run.err" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(lines)" -lt "$target" ]; do sleep 0.005; done
  if kill -9 "$pid" 2>/dev/null; then
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" = 137 ] && kills=$((kills + 1))
    ! pgrep -f "$WORK/kizuna.xml" >/dev/null || fail "round $rounds: a killed kizuna is still running"
  else
    wait "$pid" || { cat "$WORK/run.err"; fail "round $rounds: kizuna run failed on its own"; }
  fi
  equals "$(sqlite3 "$WORK/kizuna.db" 'PRAGMA integrity_check')" "ok" "integrity after round $rounds"
done
[ "$kills" -ge 20 ] || fail "only $kills of $rounds rounds were killed during delivery"

# then to the end
run 0 kz run --as-of 2026-10-14 --json
touches=$(sqlite3 "$WORK/kizuna.db" "SELECT count(*) FROM touches")
[ "$touches" -ge 400 ] || fail "only $touches touches"
equals "$(sqlite3 "$WORK/kizuna.db" "SELECT count(*) FROM touches WHERE status != 'delivered'")" 0 \
  "every touch delivered"
equals "$(sqlite3 "$WORK/kizuna.db" "SELECT count(DISTINCT key) FROM touches")" "$touches" "one touch per key"
jq -r '.headers."idempotency-key"' "$WORK/hooks.log" | sort >"$WORK/seen"
sqlite3 "$WORK/kizuna.db" "SELECT key FROM touches" | sort >"$WORK/keys"
cmp -s <(sort -u "$WORK/seen") "$WORK/keys" || fail "the receiver's keys are not the outbox's"
requests=$(wc -l <"$WORK/seen")
again=$((requests - touches))
[ "$again" -le "$kills" ] || fail "$again requests were repeats, more than the $kills kills can explain"
# what the receiver acted on: each key once (it drops a repeated key)
equals "$(sort -u "$WORK/seen" | wc -l)" "$touches" "each touch acted on once"
# a touch resent after a kill shows its cut attempt in its history
equals "$(sqlite3 "$WORK/kizuna.db" "SELECT count(*) FROM touches WHERE attempts > 1")" \
  "$(sqlite3 "$WORK/kizuna.db" "SELECT count(DISTINCT touch_id) FROM touch_events WHERE status = 'sending' AND attempt > 1")" \
  "every repeated attempt is recorded"
run 0 kz run --as-of 2026-10-14 --json
equals "$(jq -c '[.playbooks.written, .deliver.attempted]' "$WORK/out")" "[0,0]" "nothing left to do"

# two runs at once on a new store: one delivers the outbox while the other
# waits for it, then finds nothing due; without the delivery lock both
# would send every touch
rm -f "$WORK"/kizuna.db*
: >"$WORK/hooks.log"
kz run --as-of 2026-10-14 >"$WORK/a.out" 2>"$WORK/a.err" &
a=$!
kz run --as-of 2026-10-14 >"$WORK/b.out" 2>"$WORK/b.err" &
b=$!
wait "$a" || { cat "$WORK/a.err"; fail "the first of two runs at once failed"; }
wait "$b" || { cat "$WORK/b.err"; fail "the second of two runs at once failed"; }
touches=$(sqlite3 "$WORK/kizuna.db" "SELECT count(*) FROM touches")
[ "$touches" -ge 400 ] || fail "two runs at once wrote only $touches touches"
equals "$(sqlite3 "$WORK/kizuna.db" "SELECT count(*) FROM touches WHERE status != 'delivered' OR attempts != 1")" 0 \
  "every touch delivered at the first attempt"
equals "$(wc -l <"$WORK/hooks.log")" "$touches" "one request per touch, none sent by both runs"
cat "$WORK/a.err" "$WORK/b.err" >"$WORK/both.err"
contains "$WORK/both.err" "waited for another kizuna process delivering the outbox"
echo "ok: $kills kills in $rounds rounds, $again sent again after a kill; two runs at once sent $touches once each"
