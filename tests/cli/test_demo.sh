#!/usr/bin/env bash
# tests/cli/test_demo.sh — the demo company (kz_gen_demo, docs/demo.md):
#  - the same arguments give byte-identical files; another seed gives other
#    files; account N is the same company whatever --accounts is; bad
#    arguments exit 2;
#  - its stack config passes `kizuna check`, and `kizuna sync` stores every
#    record with nothing quarantined, then finds nothing new;
#  - churn follows usage: cancelled accounts have subscriptions that say
#    so and no usage after they left, and the health score of a past day
#    ranks the accounts that cancelled after it as riskier (backtest AUC);
#  - the book spreads over every grade, phase and tier, and the area model
#    finds a team for every live account.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"
command -v sqlite3 >/dev/null || fail "sqlite3 is needed"
GEN=${KZ_BUILD_DIR:?}/bin/kz_gen_demo
[ -x "$GEN" ] || fail "$GEN is not built"
FILES="kizuna.xml data/accounts.csv data/contacts.csv data/subscriptions.csv data/usage.csv data/tickets.xml
       data/surveys.csv data/csms.csv"
N=300
END=2026-10-31
AS_OF=2026-11-01
# "today" is the last day of the history: its day ends at AS_OF
export KIZUNA_NOW=${END}T12:00:00Z

# ---- determinism ----------------------------------------------------------------
run 0 "$GEN" --accounts $N --seed 7 "$WORK/a"
contains "$WORK/out" "$N accounts"
run 0 "$GEN" --accounts $N --seed 7 --end $END "$WORK/b"
for f in $FILES; do
  cmp "$WORK/a/$f" "$WORK/b/$f" || fail "$f differs between two runs with the same arguments"
done
run 0 "$GEN" --accounts $N --seed 8 "$WORK/c"
for f in data/accounts.csv data/usage.csv data/tickets.xml data/surveys.csv; do
  if cmp -s "$WORK/a/$f" "$WORK/c/$f"; then fail "$f is the same with another seed"; fi
done
cmp -s "$WORK/a/kizuna.xml" "$WORK/c/kizuna.xml" || fail "the stack config depends on the seed"
# the first 100 accounts of 300 are the 100 accounts of a run with --accounts 100
run 0 "$GEN" --accounts 100 --seed 7 "$WORK/d"
head -n 101 "$WORK/a/data/accounts.csv" | cmp - "$WORK/d/data/accounts.csv" || fail "account N depends on --accounts"
# --end moves the year: the last weekly rollup is on the end day
run 0 "$GEN" --accounts 20 --end 2025-06-30 "$WORK/e"
equals "$(tail -n +2 "$WORK/e/data/usage.csv" | cut -d, -f3 | sort | tail -1)" 2025-06-30 "the last week ends on --end"
run 2 "$GEN" --accounts 0 "$WORK/x"
contains "$WORK/err" "--accounts must be a whole number"
run 2 "$GEN" --end 2026-02-30 "$WORK/x"
contains "$WORK/err" "--end must be a date"
run 2 "$GEN" --seed -1 "$WORK/x"
run 2 "$GEN"
[ ! -e "$WORK/x" ] || fail "a refused run wrote something"

# ---- check and sync ---------------------------------------------------------------
kz() { "$KIZUNA" --config "$WORK/a/kizuna.xml" "$@"; }
q() { sqlite3 "$WORK/a/kizuna.db" "$1"; }
run 0 kz check
contains "$WORK/out" "ok"
run 0 kz sync --json
cp "$WORK/out" "$WORK/sync.json"
entity() { jq -r --arg s "$1" --arg e "$2" ".sources[] | select(.name == \$s) | .entities[\$e] | $3" "$WORK/sync.json"; }
jq -e '[.sources[] | .ok] | all' "$WORK/sync.json" >/dev/null || fail "a source failed"
jq -e '[.sources[].entities[] | select(.quarantined != 0 or .read != .inserted)] | length == 0' "$WORK/sync.json" \
  >/dev/null || { cat "$WORK/sync.json"; fail "every record read must be stored, none quarantined"; }
equals "$(entity crm account .inserted)" $N "accounts stored"
# every data row of every file became a record
rows() { echo $(($(wc -l <"$WORK/a/data/$1") - 1)); }
equals "$(entity contacts contact .inserted)" "$(rows contacts.csv)" "contacts"
equals "$(entity billing subscription .inserted)" "$(rows subscriptions.csv)" "subscriptions"
equals "$(entity usage usage_event .inserted)" "$(rows usage.csv)" "usage rows"
equals "$(entity helpdesk ticket .inserted)" "$(grep -c '<ticket ' "$WORK/a/data/tickets.xml")" "tickets"
equals "$(entity hr csm .inserted)" "$(rows csms.csv)" "CSMs"
[ "$(entity surveys survey_answer .inserted)" -gt $N ] || fail "too few survey answers"
run 0 kz quarantine
contains "$WORK/out" "0 records in quarantine"
run 0 kz sync
for s in crm contacts billing usage helpdesk surveys hr; do grep -q "^$s  *nothing new" "$WORK/out" || fail "$s re-read"; done

# ---- churn follows usage ------------------------------------------------------------
cancelled=$(q "SELECT count(*) FROM account_traits WHERE name = 'status' AND value = 'cancelled'")
[ "$cancelled" -ge $((N / 20)) ] || fail "only $cancelled cancelled accounts"
canceled_subs=$(grep -c ',canceled$' "$WORK/a/data/subscriptions.csv")
equals "$canceled_subs" "$cancelled" "one canceled subscription per cancelled account"
[ "$(grep -c ',ended$' "$WORK/a/data/subscriptions.csv")" -gt 0 ] || fail "no upgrade or downgrade"
equals "$(q "SELECT count(*) FROM usage_events u JOIN account_traits t ON t.account_id = u.account_id
             AND t.name = 'cancelled_on' WHERE u.time_us >= t.value")" 0 "usage after a cancellation"
# four months before the end, the health score ranks the accounts that
# cancel in those months as riskier than the rest
run 0 kz backtest --as-of 2026-07-01 --json \
  --label "trait.status = 'cancelled' AND trait.cancelled_on >= date('2026-07-01')"
auc=$(jq -r '.scorers[0].auc' "$WORK/out")
jq -e '.positives >= 5 and .scorers[0].auc > 0.65' "$WORK/out" >/dev/null ||
  fail "churn does not follow the health score: AUC $auc, $(jq -r .positives "$WORK/out") positives"

# ---- grades, phases, tiers, owners ---------------------------------------------------
run 0 kz score --as-of $AS_OF --json
for g in red yellow green; do
  [ "$(jq -r ".grades.$g" "$WORK/out")" -gt 0 ] || fail "no account graded $g"
done
run 0 kz lifecycle --as-of $AS_OF --json
for p in onboarding adoption expansion renewal churned; do
  [ "$(jq -r ".phases.$p" "$WORK/out")" -gt 0 ] || fail "no account in $p"
done
equals "$(jq -r .phases.churned "$WORK/out")" "$cancelled" "the cancelled accounts are churned"
for t in high low tech; do
  [ "$(jq -r ".tiers.$t" "$WORK/out")" -gt 0 ] || fail "no account in tier $t"
done
run 0 kz assign --json
equals "$(jq -r '.unassigned.no_team, .unassigned.excluded' "$WORK/out" | tr '\n' ' ')" "0 $cancelled " \
  "every live account has a team"
[ "$(jq -r .assigned "$WORK/out")" -gt $((N / 2)) ] || fail "too few accounts assigned"
echo "ok"
