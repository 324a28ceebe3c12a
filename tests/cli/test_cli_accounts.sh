#!/usr/bin/env bash
# `kizuna accounts` and `kizuna account ID` on a store built by `kizuna sync`:
# the table, JSON and CSV outputs (Kizuna's export header, RFC 4180), --where
# over fields, traits, dates, IN and missing values, --limit, one account
# with its activity, every error with its exit code — and the store is
# never written, whatever --where says.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"

DB="$WORK/kizuna.db"
cat >"$WORK/stack.xml" <<XML
<kizuna version="1">
  <store path="$DB"/>
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/source</dir></plugins>
  <sources>
    <source name="gen" component="test-gen">
      <param name="accounts">12</param>
      <param name="events">3</param>
      <param name="batch">5</param>
    </source>
  </sources>
</kizuna>
XML
kz() { "$KIZUNA" --config "$WORK/stack.xml" "$@"; }
# ids WHERE...: the ids `kizuna accounts --json` lists, comma-separated
ids() { kz accounts --json "$@" | jq -r '[.[].id] | join(",")'; }

# no store yet: the read commands say so and create nothing
run 1 kz accounts
contains "$WORK/err" "no store there yet (kizuna sync creates it)"
[ ! -e "$DB" ] || fail "a read command created the store"

run 0 kz sync
# The generating source emits accounts and usage events only; the rest is
# written as the sync stage stores it (core/sync/sync.c, store migration 2).
# Times: 2025-01-01, 2026-01-31, 2026-06-30, 2025-02-01, 2026-01-01, 2025-12-01...
sqlite3 "$DB" <<'SQL'
UPDATE accounts SET segment = 'enterprise', plan = 'pro', crm_owner = 'csm-1',
  contract_start_us = 1735689600000000, renewal_date_us = 1769817600000000 WHERE id = 'acct-1';
UPDATE accounts SET segment = 'smb', renewal_date_us = 1782777600000000 WHERE id = 'acct-2';
UPDATE accounts SET name = 'Kobe "Sake", Ltd.', currency = 'JPY', arr_minor = 5000000 WHERE id = 'acct-3';
INSERT INTO account_traits (account_id, name, value, type) VALUES
  ('acct-1', 'tier', 'gold', 1), ('acct-1', 'seats', 120, 2), ('acct-1', 'nps', 8.5, 3),
  ('acct-1', 'vip', 1, 4), ('acct-1', 'onboarded', 1738368000000000, 5),
  ('acct-2', 'tier', 'silver', 1), ('acct-2', 'vip', 0, 4), ('acct-2', 'seats', '40', 1),
  ('acct-3', 'seats', 15, 2);
INSERT INTO contacts (id, account_id, name, email, role, source, updated_us) VALUES
  ('c-1', 'acct-1', 'Aiko Tanaka', 'aiko@example.com', 'admin', 'test', 0);
INSERT INTO tickets (id, account_id, opened_us, closed_us, priority, status, kind, subject, tags, source, updated_us)
VALUES ('t-1', 'acct-1', 1767225600000000, NULL, 3, 2, 2, 'Cannot log in', '["sso"]', 'test', 0),
       ('t-2', 'acct-1', 1764547200000000, 1764633600000000, 2, 5, 5, 'Export to PDF', '["pdf-export"]', 'test', 0);
INSERT INTO subscriptions (id, account_id, plan, period_start_us, period_end_us, mrr_minor, currency, status, source,
                           updated_us)
VALUES ('s-1', 'acct-1', 'pro', 1735689600000000, NULL, 100000, 'EUR', 2, 'test', 0);
INSERT INTO survey_answers (key, account_id, contact_id, time_us, kind, score, comment, source)
VALUES (x'01', 'acct-1', 'c-1', 1767312000000000, 1, 9, 'Great support', 'test');
SQL
before=$(md5sum <"$DB")

# ---- the table
run 0 kz accounts
contains "$WORK/out" "ID       NAME               REGION  SEGMENT     PLAN  ARR           RENEWAL     OWNER"
contains "$WORK/out" "acct-1   Company 1          emea    enterprise  pro   2000.00 EUR   2026-01-31  csm-1"
contains "$WORK/out" "acct-3   Kobe \"Sake\", Ltd.  emea    -           -     5000000 JPY   -           -"
contains "$WORK/out" "12 accounts"

# ---- JSON, ordered by id
run 0 kz accounts --json
equals "$(jq -r '[.[].id] | join(",")' "$WORK/out")" \
  "acct-0,acct-1,acct-10,acct-11,acct-2,acct-3,acct-4,acct-5,acct-6,acct-7,acct-8,acct-9" "order"
equals "$(jq -c '.[] | select(.id == "acct-1") | [.arr_minor, .currency, .contract_start, .renewal_date, .owner]' \
  "$WORK/out")" '[200000,"EUR","2025-01-01T00:00:00Z","2026-01-31T00:00:00Z","csm-1"]' "acct-1 fields"
equals "$(jq -c '.[] | select(.id == "acct-1") | .traits' "$WORK/out")" \
  '{"nps":8.5,"onboarded":"2025-02-01T00:00:00Z","seats":120,"tier":"gold","vip":true}' "acct-1 traits"
equals "$(jq -c '.[] | select(.id == "acct-0") | [.segment, .renewal_date, .traits]' "$WORK/out")" \
  '[null,null,{}]' "absent values are null"

# ---- --where: fields, traits, dates, IN, missing values
equals "$(ids --where "region = 'emea' AND arr > 5000")" "acct-11,acct-3,acct-5,acct-7,acct-9" "arr in major units"
equals "$(ids --where "currency = 'EUR' and region = 'emea' and arr > 5000")" "acct-11,acct-5,acct-7,acct-9" "EUR"
equals "$(ids --where "arr_minor BETWEEN 200000 AND 400000")" "acct-1,acct-2" "BETWEEN"
equals "$(ids --where "name CONTAINS 'sake'")" "acct-3" "CONTAINS"
equals "$(ids --where "name LIKE 'company 1%'")" "acct-1,acct-10,acct-11" "LIKE"
equals "$(ids --where "trait.tier = 'gold'")" "acct-1" "string trait"
equals "$(ids --where "trait.seats > 10")" "acct-1,acct-3" "int trait (acct-2's seats is a string)"
equals "$(ids --where "trait.seats = '40'")" "acct-2" "string-typed trait"
equals "$(ids --where "trait.vip")" "acct-1" "bool trait"
equals "$(ids --where "trait.vip = false OR trait.nps >= 8.5")" "acct-1,acct-2" "bool and double traits"
equals "$(ids --where "trait.onboarded < date('2025-06-01')")" "acct-1" "time trait"
equals "$(ids --where "trait.tier IS NULL AND region = 'emea'")" "acct-11,acct-3,acct-5,acct-7,acct-9" "absent trait"
equals "$(ids --where "renewal_date < '2026-03-01'")" "acct-1" "date as a string"
equals "$(ids --where "renewal_date BETWEEN date('2026-01-01') AND date('2026-12-31')")" "acct-1,acct-2" "dates"
equals "$(ids --where "contract_start = date('2025-01-01T09:00:00+09:00')")" "acct-1" "ISO time with a zone"
equals "$(ids --where "id IN ('acct-2', 'acct-1', 'nope')")" "acct-1,acct-2" "IN"
equals "$(ids --where "segment IN ('smb', null) AND region = 'apac'")" "acct-0,acct-10,acct-2,acct-4,acct-6,acct-8" \
  "IN with null"
equals "$(ids --where "segment IS NOT NULL")" "acct-1,acct-2" "IS NOT NULL"
equals "$(ids --where "segment != 'smb' AND region = 'apac'")" "acct-0,acct-10,acct-4,acct-6,acct-8" \
  "!= keeps missing values"
equals "$(ids --where "renewal_date > date('2020-01-01') OR owner = null")" \
  "acct-0,acct-1,acct-10,acct-11,acct-2,acct-3,acct-4,acct-5,acct-6,acct-7,acct-8,acct-9" "= null"

# ---- --limit
equals "$(ids --limit 3)" "acct-0,acct-1,acct-10" "--limit"
equals "$(ids --where "region = 'emea'" --limit 2)" "acct-1,acct-11" "--where with --limit"
equals "$(ids --limit 0)" "" "--limit 0"

# ---- CSV: Kizuna's export
HEADER="id,name,region,segment,plan,arr_minor,currency,contract_start,renewal_date,owner"
run 0 kz accounts --csv
equals "$(head -n 1 "$WORK/out" | tr -d '\r')" "$HEADER,trait.nps:double,trait.onboarded:time,trait.seats:string,\
trait.seats:int,trait.tier:string,trait.vip:bool" "CSV header"
equals "$(grep -c $'\r$' "$WORK/out")" "13" "CRLF line ends"
contains "$WORK/out" \
  "acct-1,Company 1,emea,enterprise,pro,200000,EUR,2025-01-01T00:00:00Z,2026-01-31T00:00:00Z,csm-1,8.5,2025-02-01T00:00:00Z,,120,gold,true"
contains "$WORK/out" "acct-2,Company 2,apac,smb,,300000,EUR,,2026-06-30T00:00:00Z,,,,40,,silver,false"
contains "$WORK/out" 'acct-3,"Kobe ""Sake"", Ltd.",emea,,,5000000,JPY,,,,,,,15,,'
# an RFC 4180 reader gets the fields back
python3 - "$WORK/out" <<'PY' || fail "the CSV does not read back"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline=""), strict=True))
assert len(rows) == 13 and all(len(r) == 16 for r in rows), [len(r) for r in rows]
by_id = {r[0]: r for r in rows[1:]}
assert by_id["acct-3"][1] == 'Kobe "Sake", Ltd.', by_id["acct-3"]
assert by_id["acct-1"][rows[0].index("trait.onboarded:time")] == "2025-02-01T00:00:00Z"
PY
# the trait columns are those of the accounts listed
run 0 kz accounts --csv --where "id = 'acct-3'"
equals "$(tr -d '\r' <"$WORK/out")" "$HEADER,trait.seats:int
acct-3,\"Kobe \"\"Sake\"\", Ltd.\",emea,,,5000000,JPY,,,,15" "CSV of one account"
run 0 kz accounts --csv --where "false"
equals "$(tr -d '\r' <"$WORK/out")" "$HEADER" "CSV with no account"

# ---- one account
run 0 kz account acct-1 --json
equals "$(jq -c '[.account.id, .account.traits.tier, .contacts.total, .contacts.items[0].email]' "$WORK/out")" \
  '["acct-1","gold",1,"aiko@example.com"]' "account and contacts"
equals "$(jq -c '[.usage_events.total, (.usage_events.items | length), .usage_events.items[0].time,
  .usage_events.items[2].time]' "$WORK/out")" '[3,3,"2023-11-14T22:13:25Z","2023-11-14T22:13:23Z"]' "events, latest first"
equals "$(jq -c '.tickets.items | map([.id, .status, .priority, .kind, .closed, .tags])' "$WORK/out")" \
  '[["t-1","open","high","incident",null,["sso"]],["t-2","closed","normal","feature_request","2025-12-02T00:00:00Z",["pdf-export"]]]' \
  "tickets"
equals "$(jq -c '.subscriptions.items[0] | [.id, .status, .mrr_minor, .period_start, .period_end]' "$WORK/out")" \
  '["s-1","active",100000,"2025-01-01T00:00:00Z",null]' "subscriptions"
equals "$(jq -c '.survey_answers | [.total, .items[0].kind, .items[0].score, .items[0].comment]' "$WORK/out")" \
  '[1,"nps",9,"Great support"]' "survey answers"
run 0 kz account acct-1 --json --recent 1
equals "$(jq -c '[.usage_events.total, (.usage_events.items | length), (.tickets.items | length)]' "$WORK/out")" \
  '[3,1,1]' "--recent"
run 0 kz account acct-1 --recent 2
contains "$WORK/out" "acct-1  Company 1"
contains "$WORK/out" "  arr              2000.00 EUR"
contains "$WORK/out" "  tier             string  gold"
contains "$WORK/out" "usage events: 3 (latest 2)"
contains "$WORK/out" "  t-1  2026-01-01T00:00:00Z  open  high  incident  Cannot log in  [\"sso\"]"
contains "$WORK/out" "  s-1  2025-01-01T00:00:00Z  active  pro  1000.00 EUR"
run 1 kz account nope
equals "$(cat "$WORK/err")" "kizuna: no account 'nope' in the store" "unknown id"
equals "$(cat "$WORK/out")" "" "nothing on stdout for an unknown id"
run 1 kz account "acct-1' OR '1'='1"
contains "$WORK/err" "no account"

# ---- errors
run 2 kz accounts --where "region == 'emea'"
equals "$(cat "$WORK/err")" "kizuna: --where: column 8: unknown operator '=='; expected =, !=, <>, <, <=, >, >=" "=="
run 2 kz accounts --where "id = 'x'; DROP TABLE accounts"
equals "$(cat "$WORK/err")" \
  "kizuna: --where: column 9: unexpected ';': an expression is one condition, not a statement" "statement"
run 2 kz accounts --where "1=1) OR (1=1"
equals "$(cat "$WORK/err")" "kizuna: --where: column 4: unexpected ')': no '(' is open" "parenthesis"
run 2 kz accounts --where "regoin = 'emea'"
contains "$WORK/err" "kizuna: --where: column 1: unknown field 'regoin'; account fields are id, name, region,"
run 2 kz accounts --where "renewal_date < 'soon'"
contains "$WORK/err" "kizuna: --where: column 16: 'soon' is not a date"
run 0 kz accounts --json --where "name = 'x''; DROP TABLE accounts; --'"
equals "$(jq length "$WORK/out")" "0" "a quote inside a string is data"
run 2 kz accounts --json --csv
contains "$WORK/err" "usage: kizuna accounts [--json|--csv] [--where EXPR] [--limit N]"
run 2 kz accounts --limit -1
contains "$WORK/err" "--limit must be 0 or more"
run 2 kz accounts extra
run 2 kz account
contains "$WORK/err" "usage: kizuna account ID [--json] [--recent N]"
run 2 kz account a b

# a config without a store, and a store written by a newer Kizuna
sed '/<store/d' "$WORK/stack.xml" >"$WORK/nostore.xml"
run 1 "$KIZUNA" --config "$WORK/nostore.xml" accounts
contains "$WORK/err" "the stack config names no store"
cp "$DB" "$WORK/newer.db"
sqlite3 "$WORK/newer.db" "PRAGMA user_version = 99"
sed "s|$DB|$WORK/newer.db|" "$WORK/stack.xml" >"$WORK/newer.xml"
run 1 "$KIZUNA" --config "$WORK/newer.xml" accounts
contains "$WORK/err" "written by a newer Kizuna"

# ---- long chains run: written flat, and runs of NOT folded, for SQLite's parser
chain=$(for i in $(seq 0 94); do printf "id = 'acct-%d' OR " "$i"; done)
equals "$(ids --where "${chain}id = 'acct-1'" | tr ',' '\n' | wc -l)" "12" "95 ORs"
nots=$(printf 'NOT %.0s' $(seq 1 61))
equals "$(ids --where "${nots}region = 'emea'")" "$(ids --where "NOT region = 'emea'")" "61 NOTs"
equals "$(ids --where "NOT NOT region = 'emea'")" "$(ids --where "region = 'emea'")" "two NOTs"

# ---- nothing above wrote to the store
equals "$(md5sum <"$DB")" "$before" "the store file after the read commands"
equals "$(sqlite3 "$DB" 'SELECT count(*) FROM accounts')" "12" "accounts"
equals "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "ok" "integrity"
# and a store the user cannot write is still read
chmod a-w "$DB"
run 0 kz accounts --where "id = 'acct-1'" --json
equals "$(jq -r '.[0].id' "$WORK/out")" "acct-1" "read-only store file"
chmod u+w "$DB"
echo "ok"
