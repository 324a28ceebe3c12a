#!/usr/bin/env bash
# tests/cli/test_run_email.sh — the email channel end to end through the
# outbox: `kizuna run` on the sample stack plus a contacts export, with a
# playbook that mails every admin and champion of three accounts through a
# real SMTP server on loopback (tests/servers/smtp_server.py, Debian's
# python3-aiosmtpd). The messages the server received are parsed and
# checked: one per contact in the roles, to that contact, UTF-8 subject and
# body as rendered, the outbox's idempotency key in its header. A recipient
# the server defers (451) is retried with backoff; one it refuses (550) is
# dead at once; a second run sends nothing again.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"

python_with aiosmtpd python3-aiosmtpd
mkdir "$WORK/mail"
"$py" "$KZ_SOURCE_DIR/tests/servers/smtp_server.py" "$WORK/smtp.port" "$WORK/mail" &
smtp=$!
trap 'kill $smtp 2>/dev/null; wait $smtp 2>/dev/null; ${KZ_KEEP_WORK:+:} rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/smtp.port" ] && break; sleep 0.1; done
[ -s "$WORK/smtp.port" ] || fail "the SMTP server wrote no port"
SMTP_PORT=$(cat "$WORK/smtp.port")

cp -r "$KZ_SOURCE_DIR/sdk/examples/sample/." "$WORK/"
# the CRM's contacts: two mailable roles at A-001 (one name in UTF-8), a
# billing contact no playbook here addresses, one address the server
# defers and one it refuses
cat >"$WORK/data/contacts.csv" <<'CSV'
Contact ID,Account ID,Name,Email,Role
C-1,A-001,Zoë Müller,zoe@acme.example,admin
C-2,A-001,José Núñez,jose@acme.example,champion
C-3,A-001,Bill Payer,billing@acme.example,billing
C-4,A-005,Tom Later,tempfail@ember.example,champion
C-5,A-009,Nobody Here,reject@iris.example,admin
CSV
cat >"$WORK/source.xml" <<'XML'
    <source name="contacts" component="csv">
      <param name="path">data/contacts.csv</param>
      <map entity="contact">
        <field name="id" from="Contact ID"/>
        <field name="account_id" from="Account ID"/>
        <field name="name" from="Name"/>
        <field name="email" from="Email"/>
        <field name="role" from="Role"/>
      </map>
    </source>
XML
cat >"$WORK/channels.xml" <<XML
    <channel name="mail" component="email">
      <param name="url">smtp://127.0.0.1:$SMTP_PORT</param>
      <param name="from">success@nimbus.example</param>
      <param name="from_name">Nimbus Kundenerfolg</param>
      <param name="tls">none</param>
    </channel>
XML
cat >"$WORK/playbooks.xml" <<'XML'
  <playbooks>
    <outbox max_attempts="3" backoff="30s" max_backoff="1m"/>
    <playbook name="renewal-mail" channel="mail" to="admin|champion" who="id IN ('A-001', 'A-005', 'A-009')">
      <trigger on="before" date="renewal_date" days="3650"/>
      <subject>Ihre Verlängerung – {account.name} am {account.renewal_date}</subject>
      <body>Hallo {contact.name},

Ihr Vertrag für {account.name} verlängert sich am {account.renewal_date}.
Grüße, {owner.name} ☺</body></playbook>
  </playbooks>
XML
sample_config "$WORK/kizuna.xml" "$WORK/channels.xml" "$WORK/playbooks.xml" "$WORK/source.xml"

T0=2026-10-15T08:00:00Z
kz() { KIZUNA_NOW=${NOW:-$T0} "$KIZUNA" --config "$WORK/kizuna.xml" "$@"; }
touches_to() { # touches_to ADDRESS: the touch addressed to ADDRESS, with its events
  kz touches --playbook renewal-mail --limit 0 --json --events |
    jq --arg a "$1" '[.[] | select(.recipient == $a)]' >"$WORK/t.json"
  equals "$(jq length "$WORK/t.json")" 1 "one touch to $1"
}
received() { find "$WORK/mail" -name '*.json' | sort; }

run 0 kz check
run 0 kz run --as-of 2026-10-14 --json
cp "$WORK/out" "$WORK/run1.json"
equals "$(jq .playbooks.by_playbook.\"renewal-mail\" "$WORK/run1.json")" 4 \
  "one touch per admin or champion, none for the billing contact"
equals "$(jq -c '.touches_by_channel.mail' "$WORK/run1.json")" '{"delivered":2,"pending":0,"retry":1,"dead":1}' \
  "two delivered, the deferred one retried, the refused one dead"

# what the server received: two messages, one per contact, to that contact
equals "$(received | wc -l)" 2 "messages received"
cat "$WORK"/mail/*.json | jq -s -r '[.[].rcpt_tos[]] | sort | join(" ")' >"$WORK/rcpts"
equals "$(cat "$WORK/rcpts")" "jose@acme.example zoe@acme.example" "one message per contact"
for f in $(received); do
  rcpt=$(jq -r '.rcpt_tos[0]' "$f")
  name=$(awk -F, -v e="$rcpt" '$4 == e { print $3 }' "$WORK/data/contacts.csv")
  equals "$(jq -r .mail_from "$f")" "success@nimbus.example" "envelope sender"
  equals "$(jq '.rcpt_tos | length' "$f")" 1 "one recipient per message"
  jq -e --arg n "$name" --arg e "$rcpt" '.headers.To | contains($n) and contains($e)' "$f" >/dev/null ||
    fail "To is not $name <$rcpt>: $(jq .headers.To "$f")"
  equals "$(jq -r .headers.From "$f")" "Nimbus Kundenerfolg <success@nimbus.example>" "From with its name"
  equals "$(jq -r .headers.Subject "$f")" "Ihre Verlängerung – Acme Logistics am 2026-11-24" "the UTF-8 subject, decoded"
  jq -r .body "$f" >"$WORK/body"
  contains "$WORK/body" "Hallo $name,"
  contains "$WORK/body" "Grüße,"
  contains "$WORK/body" "☺"
  equals "$(jq -r .charset "$f")" "utf-8" "the body's charset"
  equals "$(jq '.defects | length' "$f")" 0 "a message Python's email package reads without defects"
  # nothing 8-bit on the wire outside an encoded body: headers are RFC 2047
  jq -r .raw "$f" | sed '/^\r\?$/q' >"$WORK/head"
  if LC_ALL=C grep -q '[^ -~[:space:]]' "$WORK/head"; then fail "raw 8-bit bytes in the headers of $f"; fi
  equals "$(jq -r '.headers."X-Kizuna-Playbook"' "$f")" "renewal-mail" "the playbook header"
  equals "$(jq -r '.headers."X-Kizuna-Account"' "$f")" "A-001" "the account header"
  touches_to "$rcpt"
  equals "$(jq -r '.headers."X-Kizuna-Idempotency-Key"' "$f")" "$(jq -r '.[0].key' "$WORK/t.json")" \
    "the outbox's key in the message to $rcpt"
  equals "$(jq -r '.[0].status' "$WORK/t.json")" delivered "the touch to $rcpt"
done

# 451 at RCPT: retried 30 s later with the same key; 550: dead at once
touches_to tempfail@ember.example
jq -e '.[0] | .status == "retry" and .attempts == 1 and .next_attempt == "2026-10-15T08:00:30Z"' "$WORK/t.json" \
  >/dev/null || fail "the deferred touch is not retried 30 s later: $(cat "$WORK/t.json")"
contains "$WORK/t.json" "451"
touches_to reject@iris.example
jq -e '.[0] | .status == "dead" and .attempts == 1' "$WORK/t.json" >/dev/null ||
  fail "the refused touch is not dead: $(cat "$WORK/t.json")"
contains "$WORK/t.json" "550"

# again at the same time: nothing written, nothing sent; then at the
# retry's time only the deferred touch is tried, and again after 60 s,
# after which max_attempts=3 makes it dead
run 0 kz run --as-of 2026-10-14 --json
equals "$(jq -c '[.playbooks.written, .deliver.attempted]' "$WORK/out")" "[0,0]" "a second run adds nothing"
NOW=2026-10-15T08:00:30Z run 0 kz run --as-of 2026-10-14 --json
equals "$(jq .deliver.attempted "$WORK/out")" 1 "only the deferred touch is tried again"
NOW=2026-10-15T08:01:30Z run 0 kz run --as-of 2026-10-14 --json
touches_to tempfail@ember.example
equals "$(jq -r '[.[0].events[].status] | join(",")' "$WORK/t.json")" \
  "pending,sending,retry,sending,retry,sending,dead" "the deferred touch's history"
equals "$(received | wc -l)" 2 "nothing sent twice"
kz touches --status delivered --json --limit 0 | jq -r '.[].recipient' | sort >"$WORK/delivered"
equals "$(tr '\n' ' ' <"$WORK/delivered")" "jose@acme.example zoe@acme.example " "delivered touches"
sqlite3 "$WORK/kizuna.db" "PRAGMA integrity_check" >"$WORK/ic"
equals "$(cat "$WORK/ic")" ok "integrity_check"
