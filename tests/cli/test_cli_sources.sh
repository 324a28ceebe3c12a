#!/usr/bin/env bash
# The csv and xml sources through `kizuna sync`, with the stack config's
# <map>: the Salesforce report export (preset), mlc_churn.csv as 5000
# accounts with typed traits, Kizuna's own export read back (preset),
# every quarantine reason from a real file and the fix that clears it,
# re-syncs that change nothing, an XML export, XML attacks refused, map
# errors reported with file:line, and the progress line on a terminal.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"
command -v sqlite3 >/dev/null || fail "sqlite3 is needed"
SHARED="${KZ_SHARED_DATA:-$KZ_SOURCE_DIR/../shared/data}"
have_shared=1
if [ ! -f "$SHARED/mlc_churn.csv" ]; then
  [ "${KZ_REQUIRE_SHARED:-0}" != 1 ] || fail "the shared test data is missing: $SHARED"
  echo "SKIP: the Salesforce, mlc_churn and export parts: no shared test data at $SHARED" >&2
  have_shared=0
fi

# stack NAME SOURCES...: writes $WORK/NAME.xml with a store NAME.db
stack() {
  local name=$1; shift
  printf '<kizuna version="1">\n  <store path="%s"/>\n  <sources>\n%s\n  </sources>\n</kizuna>\n' \
    "$WORK/$name.db" "$*" >"$WORK/$name.xml"
}
kz() { local name=$1; shift; "$KIZUNA" --config "$WORK/$name.xml" "$@"; }
q() { sqlite3 "$WORK/$1.db" "$2"; }

if [ "$have_shared" = 1 ]; then # the parts that read ../shared/data
# ---- Salesforce report export: accounts and contacts from one file -------
stack sf '
    <source name="crm" component="csv">
      <param name="path">'"$SHARED"'/fixtures/salesforce/Accounts-Contacts.csv</param>
      <map entity="account" preset="salesforce"/>
      <map entity="contact" preset="salesforce"/>
    </source>'
run 0 kz sf check
run 0 kz sf sync --json
equals "$(jq -c '.sources[0].entities.account' "$WORK/out")" \
  '{"read":14,"inserted":10,"updated":0,"unchanged":4,"quarantined":0}' "sf accounts"
equals "$(jq -c '.sources[0].entities.contact' "$WORK/out")" \
  '{"read":6,"inserted":6,"updated":0,"unchanged":0,"quarantined":0}' "sf contacts"
equals "$(q sf "select count(*) from accounts")" "10" "sf account count"
equals "$(q sf "select group_concat(name, '|') from (select name from contacts where account_id = 'Alpha Dynamics' order by name)")" \
  "Amy Taylor|Caroline Kingsley|Jennifer Wu" "sf contacts of Alpha Dynamics"
equals "$(q sf "select value from account_traits where account_id = 'Burlington Textiles' and name = 'type'")" \
  "Customer - Direct" "sf account type trait"
equals "$(q sf "select json_extract(traits, '\$.title') from contacts where id = 'amy@demo.net'")" "VP of Engineering" "sf title"
run 0 kz sf sync
contains "$WORK/out" "crm              nothing new"

# ---- mlc_churn.csv: 5000 accounts, every column a typed trait -------------
traits=""
for col in state:string account_length:int area_code:string international_plan:bool voice_mail_plan:bool \
  number_vmail_messages:int total_day_minutes:double total_day_calls:int total_day_charge:double \
  total_eve_minutes:double total_eve_calls:int total_eve_charge:double total_night_minutes:double \
  total_night_calls:int total_night_charge:double total_intl_minutes:double total_intl_calls:int \
  total_intl_charge:double number_customer_service_calls:int churn:bool; do
  traits="$traits<trait name=\"${col%%:*}\" from=\"${col%%:*}\" type=\"${col##*:}\"/>"
done
stack churn '
    <source name="churn" component="csv">
      <param name="path">'"$SHARED"'/mlc_churn.csv</param>
      <map entity="account">
        <field name="id" template="mlc-{#line}"/>
        <field name="region" from="state"/>
        '"$traits"'
      </map>
    </source>'
run 0 kz churn sync --json
equals "$(jq -c '.sources[0].entities.account' "$WORK/out")" \
  '{"read":5000,"inserted":5000,"updated":0,"unchanged":0,"quarantined":0}' "churn accounts"
equals "$(q churn "select count(distinct account_id) || ' ' || count(*) from account_traits")" "5000 100000" "20 traits each"
# types as declared (enum kz_value_type: 1 string, 2 int, 3 double, 4 bool)
equals "$(q churn "select group_concat(name || ':' || type, ' ') from (select name, type from account_traits where account_id = 'mlc-2' and name in ('state', 'account_length', 'total_day_minutes', 'churn') order by name)")" \
  "account_length:2 churn:4 state:1 total_day_minutes:3" "trait types"
equals "$(q churn "select count(*) from account_traits where name = 'churn' and value = 1")" "707" "churned (SOURCE.md: 707)"
equals "$(q churn "select count(*) from account_traits where name = 'international_plan' and typeof(value) = 'integer'")" \
  "5000" "bools stored as integers"
equals "$(q churn "select value from account_traits where account_id = 'mlc-2' and name = 'total_day_minutes'")" "265.1" "a double"
run 0 kz churn sync
contains "$WORK/out" "churn            nothing new"

# ---- Kizuna's own export, read back through the kizuna preset -----------
run 0 kz churn accounts --csv
cp "$WORK/out" "$WORK/export.csv"
stack again '
    <source name="back" component="csv">
      <param name="path">'"$WORK"'/export.csv</param>
      <map entity="account" preset="kizuna"/>
    </source>'
run 0 kz again sync --json
equals "$(jq -c '.sources[0].entities.account.inserted' "$WORK/out")" "5000" "export read back"
dump() { q "$1" "select account_id, name, type, quote(value) from account_traits order by 1, 2"; }
[ "$(dump churn)" = "$(dump again)" ] || fail "traits differ after a round trip through the export"
equals "$(q again "select region from accounts where id = 'mlc-5001'")" "$(q churn "select region from accounts where id = 'mlc-5001'")" "region"

fi # have_shared

# ---- quarantine: one row per reason, then the fix ------------------------
long=$(head -c 5000 /dev/zero | tr '\0' x)
printf 'id,name,arr,currency,renewal\nacc-1,Alpha,1200.50,EUR,2027-01-31\n,No Key,10,EUR,2027-01-31\nacc-3,Bad Number,12x,EUR,2027-01-31\nacc-4,Bad Date,10,EUR,2027-13-01\nacc-5,Bad \377UTF,10,EUR,2027-01-31\nacc-6,%s,10,EUR,2027-01-31\nacc-7,Too Precise,1.234,EUR,2027-01-31\nacc-8,A Field Too Many,10,EUR,2027-01-31,surplus\n' \
  "$long" >"$WORK/accounts.csv"
printf 'time,account,event\n2026-03-01T10:00:00Z,acc-1,login\n2026-03-01T11:00:00Z,acc-404,login\n2026-03-01T12:00:00+09:00,acc-1,report.export\n' \
  >"$WORK/events.csv"
stack bad '
    <source name="crm" component="csv">
      <param name="path">'"$WORK"'/accounts.csv</param>
      <map entity="account">
        <field name="id" from="id"/><field name="name" from="name"/>
        <field name="currency" from="currency"/><field name="arr" from="arr"/>
        <field name="renewal_date" from="renewal"/>
      </map>
    </source>
    <source name="usage" component="csv">
      <param name="path">'"$WORK"'/events.csv</param>
      <map entity="usage_event">
        <field name="time" from="time"/><field name="account_id" from="account"/><field name="name" from="event"/>
      </map>
    </source>'
run 0 kz bad sync --json
equals "$(jq -c '.sources[0].entities.account' "$WORK/out")" \
  '{"read":7,"inserted":1,"updated":0,"unchanged":0,"quarantined":6}' "bad accounts"
equals "$(jq -c '.sources[1].entities.usage_event' "$WORK/out")" \
  '{"read":3,"inserted":2,"updated":0,"unchanged":0,"quarantined":1}' "bad events"
equals "$(jq -c '.sources[0].entities.row' "$WORK/out")" \
  '{"read":1,"inserted":0,"updated":0,"unchanged":0,"quarantined":1}' "unreadable row"
equals "$(q bad "select arr_minor || ' ' || renewal_date_us from accounts where id = 'acc-1'")" "120050 1801353600000000" "typed"
equals "$(q bad "select time_us from usage_events where name = 'report.export'")" "1772334000000000" "zone offset"
run 0 kz bad quarantine --json
reason() { jq -r --argjson l "$1" --arg s "$2" '.[] | select(.line == $l and .source == $s) | .reason' "$WORK/out"; }
equals "$(reason 3 crm)" "missing account id" "missing key"
equals "$(reason 4 crm)" "column 3 (arr): arr '12x' is not an amount such as 1234.50" "bad number"
equals "$(reason 5 crm)" "column 5 (renewal): renewal_date '2027-13-01' is not a time in the format iso8601" "bad date"
equals "$(reason 6 crm)" "column 2 (name): name 'Bad �UTF' is not valid UTF-8 (byte 5)" "invalid UTF-8"
reason 7 crm | grep -q "^column 2 (name): name 'xxx.*' is over-long (5000 bytes, at most 4096)$" || fail "over-long: $(reason 7 crm)"
equals "$(reason 8 crm)" "column 3 (arr): arr '1.234' has more than 2 decimals for its currency" "precision"
equals "$(reason 3 usage)" "unknown account 'acc-404'" "unknown account"
equals "$(reason 9 crm)" "the row has 6 fields, the header 5: column 6 has no name" "unreadable row"
equals "$(jq -r '.[] | select(.line == 4 and .source == "crm") | .column' "$WORK/out")" "3" "column kept"
equals "$(jq -r '.[] | select(.line == 4 and .source == "crm") | .raw' "$WORK/out")" "acc-3,Bad Number,12x,EUR,2027-01-31" "raw kept"
jq -e 'all(.[]; .file | endswith(".csv"))' "$WORK/out" >/dev/null || fail "file kept"
# re-sync of the same files: nothing new, the quarantine as it was
run 0 kz bad sync
contains "$WORK/out" "crm              nothing new"
equals "$(q bad "select count(*) from quarantine")" "8" "quarantine unchanged"
# fix every row: the rows are stored and their entries leave the quarantine
printf 'id,name,arr,currency,renewal\nacc-1,Alpha,1200.50,EUR,2027-01-31\nacc-2,No Key,10,EUR,2027-01-31\nacc-3,Bad Number,12,EUR,2027-01-31\nacc-4,Bad Date,10,EUR,2027-12-01\nacc-5,Bad UTF,10,EUR,2027-01-31\nacc-6,Long,10,EUR,2027-01-31\nacc-7,Too Precise,1.23,EUR,2027-01-31\nacc-8,A Field Too Many,10,EUR,2027-01-31\n' \
  >"$WORK/accounts.csv"
printf 'time,account,event\n2026-03-01T10:00:00Z,acc-1,login\n2026-03-01T11:00:00Z,acc-4,login\n2026-03-01T12:00:00+09:00,acc-1,report.export\n' \
  >"$WORK/events.csv"
run 0 kz bad sync --json
equals "$(jq -c '.sources[0].entities.account' "$WORK/out")" \
  '{"read":8,"inserted":7,"updated":0,"unchanged":1,"quarantined":0}' "fixed accounts"
equals "$(jq -c '.sources[1].entities.usage_event' "$WORK/out")" \
  '{"read":3,"inserted":1,"updated":0,"unchanged":2,"quarantined":0}' "fixed events"
run 0 kz bad quarantine
contains "$WORK/out" "0 records in quarantine"
equals "$(q bad "select count(*) from accounts")" "8" "all accounts"
equals "$(q bad "pragma integrity_check")" "ok" "integrity"

# ---- events are written 16 to an INSERT; a re-read and duplicates fall back to one by one
awk 'BEGIN { print "id,time,account,event";
  for (i = 0; i < 100; i++) printf "e%d,2026-04-01T00:00:%02dZ,acc-%d,login\n", i, i % 60, 1 + i % 7
  print "e5,2026-04-01T00:00:05Z,acc-6,login"          # the same event again: unchanged
  print "e7,2026-04-01T09:00:00Z,acc-1,report.export" # same id, new content: updated
}' >"$WORK/many-events.csv"
# chunks_stack SOURCE FILE: the "chunks" store, with the accounts and one
# source of events (id,time,account,event) read from $WORK/FILE
chunks_stack() {
  stack chunks '
    <source name="crm" component="csv">
      <param name="path">'"$WORK"'/accounts.csv</param>
      <map entity="account"><field name="id" from="id"/></map>
    </source>
    <source name="'"$1"'" component="csv">
      <param name="path">'"$WORK/$2"'</param>
      <map entity="usage_event">
        <field name="id" from="id"/><field name="time" from="time"/><field name="account_id" from="account"/>
        <field name="name" from="event"/>
      </map>
    </source>'
}
chunks_stack usage many-events.csv
run 0 kz chunks sync --json
equals "$(jq -c '.sources[1].entities.usage_event' "$WORK/out")" \
  '{"read":102,"inserted":100,"updated":1,"unchanged":1,"quarantined":0}' "chunked events"
equals "$(q chunks "select name || ' ' || time_us from usage_events where key = cast('e7' as blob)")" \
  "report.export 1775034000000000" "the later version wins"
q chunks "delete from source_cursors"
run 0 kz chunks sync --json # a full re-read: every chunk falls back, nothing is counted twice
equals "$(jq -c '.sources[1].entities.usage_event' "$WORK/out")" \
  '{"read":102,"inserted":0,"updated":2,"unchanged":100,"quarantined":0}' "re-read (e7 changes twice)"
equals "$(q chunks "select count(*) from usage_events")" "100" "no duplicates"

# one full chunk of stored, changed, new and twice-given events, then a chunk
# of new ones: the INSERT stores the new ones, then the chunk goes one by one
# and the rows the INSERT stored are counted as inserted, not unchanged
awk 'BEGIN { print "id,time,account,event"
  print "e3,2026-04-01T00:00:03Z,acc-4,login"  # stored as it is: unchanged
  print "e4,2026-04-01T00:00:04Z,acc-5,logout" # stored, new name: updated
  for (i = 1; i <= 12; i++) printf "n%d,2026-04-02T00:00:%02dZ,acc-%d,login\n", i, i, 1 + i % 7
  print "n1,2026-04-02T00:00:01Z,acc-2,export" # new a moment ago: updated
  print "e5,2026-04-01T00:00:05Z,acc-6,login"  # unchanged
  for (i = 13; i <= 28; i++) printf "n%d,2026-04-02T00:00:%02dZ,acc-%d,login\n", i, i, 1 + i % 7
}' >"$WORK/mixed-events.csv"
chunks_stack more mixed-events.csv
run 0 kz chunks sync --source more --json
equals "$(jq -c '.sources[0].entities.usage_event' "$WORK/out")" \
  '{"read":32,"inserted":28,"updated":2,"unchanged":2,"quarantined":0}' "a chunk of stored, new and repeated events"
equals "$(q chunks "select group_concat(name, ' ') from usage_events where key in (cast('e4' as blob), cast('n1' as blob), cast('n28' as blob)) order by key")" \
  "logout export login" "the later version wins within a chunk"
equals "$(q chunks "select count(*) from usage_events")" "128" "no duplicates"

# ---- an XML export --------------------------------------------------------
cat >"$WORK/tickets.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<export>
  <ticket id="T-1" priority="High">
    <account>acc-1</account><subject>Cannot export &amp; import</subject>
    <opened>2026-03-02T09:00:00Z</opened><status>open</status><tags>billing, export</tags>
  </ticket>
  <ticket id="T-2" priority="P9">
    <account>acc-1</account><subject>Bad priority</subject><opened>03/02/2026</opened>
  </ticket>
  <ticket id="T-3" priority="low">
    <account>acc-2</account><subject>Feature: dark mode</subject><opened>03/04/2026</opened>
    <kind>Feature Request</kind><status>Hold</status>
  </ticket>
</export>
XML
stack xml '
    <source name="crm" component="csv">
      <param name="path">'"$WORK"'/accounts.csv</param>
      <map entity="account"><field name="id" from="id"/></map>
    </source>
    <source name="desk" component="xml">
      <param name="path">'"$WORK"'/tickets.xml</param>
      <param name="record">ticket</param>
      <map entity="ticket">
        <field name="id" from="@id"/><field name="account_id" from="account"/>
        <field name="subject" from="subject"/><field name="opened" from="opened" format="%m/%d/%Y"/>
        <field name="priority" from="@priority"><value from="P1" to="urgent"/></field>
        <field name="status" from="status" default="new"/><field name="kind" from="kind"/>
        <field name="tags" from="tags"/>
      </map>
    </source>'
run 0 kz xml sync --json # T-1's time is ISO, not %m/%d/%Y, T-2's priority unknown: both quarantined
contains "$WORK/out" '"name" : "desk"'
equals "$(jq -c '.sources[1].entities.ticket' "$WORK/out")" \
  '{"read":3,"inserted":1,"updated":0,"unchanged":0,"quarantined":2}' "xml tickets"
q xml "select id, priority, status, kind, tags from tickets" >"$WORK/tickets"
contains "$WORK/tickets" 'T-3|1|3|5|'
run 0 kz xml quarantine --json
jq -e '.[] | select(.source == "desk" and (.reason | contains("priority")) and (.reason | contains("P9")))' \
  "$WORK/out" >/dev/null || fail "bad priority quarantined"

# ---- XML attacks refused without reading the files they name -------------
echo "TOP-SECRET-$$" >"$WORK/secret.txt"
cat >"$WORK/xxe.xml" <<XML
<?xml version="1.0"?>
<!DOCTYPE export [ <!ENTITY s SYSTEM "file://$WORK/secret.txt"> ]>
<export><ticket id="T-9"><account>acc-1</account><subject>&s;</subject><opened>2026-01-01</opened></ticket></export>
XML
cp "$KZ_SOURCE_DIR/tests/data/xml/billion-laughs.xml" "$WORK/laughs.xml"
for file in xxe laughs; do
  sed "s|$WORK/tickets.xml|$WORK/$file.xml|" "$WORK/xml.xml" >"$WORK/$file-stack.xml"
  rc=0
  "$KIZUNA" --config "$WORK/$file-stack.xml" sync --source desk >"$WORK/out" 2>"$WORK/err" || rc=$?
  equals "$rc" "1" "$file refused"
  contains "$WORK/err" "refused"
  lacks "$WORK/out" "TOP-SECRET"
  lacks "$WORK/err" "TOP-SECRET"
done
[ -z "$(q xml "select 1 from tickets where subject like '%TOP-SECRET%'")" ] || fail "secret stored"

# ---- map errors, with file:line ------------------------------------------
stack maps '
    <source name="a" component="csv">
      <param name="path">x.csv</param>
      <map entity="account"><field name="idd" from="id"/></map>
    </source>
    <source name="b" component="csv">
      <param name="path">x.csv</param>
    </source>
    <source name="c" component="csv">
      <param name="path">x.csv</param>
      <map entity="usage_event">
        <field name="account_id" from="a"/><field name="name" from="n"/>
        <field name="time" from="t" format="yyyy-mm-dd"/>
      </map>
    </source>
    <source name="d" component="csv">
      <param name="path">x.csv</param>
      <map entity="survey_answer"><trait name="x" from="x"/></map>
    </source>'
run 1 kz maps check
contains "$WORK/out" "maps.xml:7: <field name=\"idd\">: account has no such field (fields: id, name, region"
contains "$WORK/out" "maps.xml:9: source 'b': component 'csv' reads rows whose layout only you know"
contains "$WORK/out" "maps.xml:16: <field name=\"time\">: format 'yyyy-mm-dd' is none of iso8601, epoch"
contains "$WORK/out" "maps.xml:21: a survey_answer has no traits"
contains "$WORK/out" "maps.xml: 4 problems found" # each once: no "nothing fills" after a broken rule
stack maps2 '
    <source name="a" component="csv">
      <param name="path">x.csv</param>
      <map entity="contact"><field name="id" from="email"/></map>
    </source>'
run 1 kz maps2 check
contains "$WORK/out" "maps2.xml:7: <map entity=\"contact\">: nothing fills account_id (required)"

# ---- the progress line, on a terminal only --------------------------------
if command -v script >/dev/null; then
  awk 'BEGIN { print "id,v"; for (i = 0; i < 300000; i++) printf "a%d,%d\n", i, i }' >"$WORK/many.csv"
  stack many '
    <source name="many" component="csv">
      <param name="path">'"$WORK"'/many.csv</param>
      <map entity="account"><field name="id" from="id"/><trait name="v" from="v" type="int"/></map>
    </source>'
  script -qec "$KIZUNA --config $WORK/many.xml sync" /dev/null >"$WORK/tty" </dev/null
  contains "$WORK/tty" "records read"
  contains "$WORK/tty" "many             account        read 300000"
  run 0 kz many sync --source many # not a terminal: no progress line
  lacks "$WORK/err" "records read"
fi
echo "ok"
