#!/usr/bin/env bash
# tests/cli/test_cli_run.sh — `kizuna run` on the sample stack with
# playbooks whose touches go through the outbox to a real HTTP receiver on
# loopback (tests/servers/http_server.py) and to the task channel:
# delivered once, retried with exponential backoff or the receiver's
# Retry-After, dead-lettered after max_attempts or on a 4xx, `touches retry`
# by hand, every status change recorded, and nothing new on a second run.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"

export KIZUNA_HOOK_SECRET=run-test-secret
start_http_receiver "$KIZUNA_HOOK_SECRET"

cp -r "$KZ_SOURCE_DIR/sdk/examples/sample/." "$WORK/"
hook() { # hook NAME URL: a webhook channel to the receiver
  echo "    <channel name=\"$1\" component=\"webhook\"><param name=\"url\">$2</param>" \
    "<param name=\"secret\" env=\"KIZUNA_HOOK_SECRET\"/><param name=\"timeout\">5s</param></channel>"
}
{
  echo '    <channel name="csm-tasks" component="task"/>'
  hook hook "http://127.0.0.1:$PORT/ok"
  hook flaky "http://127.0.0.1:$PORT/flaky"
  hook bad "http://127.0.0.1:$PORT/bad"
  hook down "http://127.0.0.1:9/" # nothing listens: connection refused
} >"$WORK/channels.xml"
cat >"$WORK/playbooks.xml" <<'XML'
  <playbooks>
    <outbox max_attempts="3" backoff="30s" max_backoff="1m"/>
    <playbook name="vip" channel="csm-tasks" to="owner" due="7d"><trigger on="tier" to="high"/>
      <subject>New high-touch account: {account.name}</subject>
      <body>{owner.name}, please call them. ARR {account.arr} {account.currency}.</body></playbook>
    <playbook name="renewal" channel="hook" to="none" priority="5">
      <trigger on="before" date="renewal_date" days="3650"/>
      <subject>{account.name} renews on {account.renewal_date}</subject>
      <body>Owner {owner.name}, health {score.health}</body></playbook>
    <playbook name="flaky" channel="flaky" to="none" who="id = 'A-001'">
      <trigger on="before" date="renewal_date" days="3650"/><subject>s</subject><body>b</body></playbook>
    <playbook name="bad" channel="bad" to="none" who="id = 'A-001'">
      <trigger on="before" date="renewal_date" days="3650"/><subject>s</subject><body>b</body></playbook>
    <playbook name="down" channel="down" to="none" who="id = 'A-001'">
      <trigger on="before" date="renewal_date" days="3650"/><subject>s</subject><body>b</body></playbook>
  </playbooks>
XML
sample_config "$WORK/kizuna.xml" "$WORK/channels.xml" "$WORK/playbooks.xml"

T0=2026-10-15T08:00:00Z
kz() { KIZUNA_NOW=${NOW:-$T0} "$KIZUNA" --config "$WORK/kizuna.xml" "$@"; }
touch_of() { kz touches --playbook "$1" --limit 0 --json --events >"$WORK/t.json" && cat "$WORK/t.json"; }

run 0 kz check

# a dry run writes no touch
run 0 kz run --as-of 2026-10-14 --dry-run --json
cp "$WORK/out" "$WORK/dry.json"
written=$(jq .playbooks.written "$WORK/dry.json")
[ "$written" -ge 5 ] || fail "the dry run found only $written touches"
run 0 kz touches
contains "$WORK/out" "no touches"

# the run: sync, score, lifecycle, assign, playbooks, deliver
run 0 kz run --as-of 2026-10-14 --json
cp "$WORK/out" "$WORK/run1.json"
equals "$(jq .playbooks.written "$WORK/run1.json")" "$written" "a real run writes what the dry run found"
renewals=$(jq .playbooks.by_playbook.renewal "$WORK/run1.json")
equals "$(jq -c '.touches_by_channel.hook' "$WORK/run1.json")" \
  "{\"delivered\":$renewals,\"pending\":0,\"retry\":0,\"dead\":0}" "every renewal touch delivered"
equals "$(jq -c '.touches_by_channel | [.flaky.retry, .bad.dead, .down.retry]' "$WORK/run1.json")" "[1,1,1]" \
  "503 and a refused connection are retried, 400 is dead at once"
vips=$(jq '.touches_by_channel."csm-tasks".delivered' "$WORK/run1.json")
[ "$vips" -ge 1 ] || fail "no task was made"

# the receiver saw each renewal key once, signed, with the rendered touch
equals "$(jq -r 'select(.path == "/ok") | .headers."idempotency-key"' "$WORK/hooks.log" | sort | uniq -d | wc -l)" 0 \
  "no key twice at the receiver"
equals "$(jq -r 'select(.path == "/ok") | .headers."idempotency-key"' "$WORK/hooks.log" | sort -u | wc -l)" "$renewals" \
  "one request per touch"
equals "$(jq -r 'select(.signature_valid != true) | .path' "$WORK/hooks.log" | wc -l)" 0 "every signature verifies"
jq -r 'select(.path == "/ok") | .body' "$WORK/hooks.log" | jq -r 'select(.account.id == "A-001") | .subject' >"$WORK/a3"
contains "$WORK/a3" "Acme Logistics renews on 2026-11-24"
kz touches --playbook renewal --json --limit 0 | jq -r '.[].key' | sort >"$WORK/keys"
jq -r 'select(.path == "/ok") | .headers."idempotency-key"' "$WORK/hooks.log" | sort >"$WORK/seen"
cmp -s "$WORK/keys" "$WORK/seen" || fail "the receiver's keys are not the outbox's"
grep -qvE '^[A-Za-z0-9._:-]{1,128}$' "$WORK/keys" && fail "a key outside [A-Za-z0-9._:-]{1,128}"

# the tasks: one per high-touch account, for its owner, due in 7 days
run 0 kz tasks --json
equals "$(jq length "$WORK/out")" "$vips" "one task per vip touch"
equals "$(jq -r '[.[] | select(.csm == null)] | length' "$WORK/out")" 0 "every task has its CSM"
contains "$WORK/out" "please call them"
csm=$(jq -r '.[0].csm' "$WORK/out")
run 0 kz tasks --csm "$csm"
contains "$WORK/out" "New high-touch account"
# a task done counts in the report's activity KPIs, for its CSM; once
task=$(kz tasks --json | jq -r '.[0].id')
run 0 kz tasks done "$task"
contains "$WORK/out" "task $task is done"
run 1 kz tasks done "$task"
contains "$WORK/err" "no open task with that number"
equals "$(kz tasks --json | jq length)" "$((vips - 1))" "one task fewer open"
run 0 kz report --period 2026-10 --format json
equals "$(jq .kpis.tasks_done "$WORK/out")" 1 "tasks done in October"
equals "$(jq -r --arg c "$csm" '.activity_by_csm[] | select(.name == $c) | .tasks_done' "$WORK/out")" 1 \
  "the task counts for its CSM"
equals "$(jq .kpis.touches "$WORK/out")" "$written" "every touch written in October"

# the second run at the same time: nothing new, nothing sent again
run 0 kz run --as-of 2026-10-14 --json
equals "$(jq -c '[.playbooks.written, .deliver.attempted]' "$WORK/out")" "[0,0]" "a second run adds nothing"
equals "$(jq .playbooks.already "$WORK/out")" "$written" "every occurrence is already in the outbox"
equals "$(jq -r 'select(.path == "/ok") | .path' "$WORK/hooks.log" | wc -l)" "$renewals" "nothing sent twice"

# backoff: 30 s after the first failure, then 60 s (doubled), then dead
# after max_attempts=3; /flaky's Retry-After (2 s) wins over the backoff
touch_of down | jq -e '.[0] | .status == "retry" and .attempts == 1 and .next_attempt == "2026-10-15T08:00:30Z"' \
  >/dev/null || fail "down: not retried 30 s later: $(cat "$WORK/t.json")"
touch_of flaky | jq -e '.[0] | .status == "retry" and .next_attempt == "2026-10-15T08:00:02Z"' >/dev/null ||
  fail "flaky: Retry-After not honoured: $(cat "$WORK/t.json")"
NOW=2026-10-15T08:00:30Z run 0 kz run --as-of 2026-10-14 --json
touch_of down | jq -e '.[0] | .status == "retry" and .attempts == 2 and .next_attempt == "2026-10-15T08:01:30Z"' \
  >/dev/null || fail "down: the backoff did not double: $(cat "$WORK/t.json")"
NOW=2026-10-15T08:01:30Z run 0 kz run --as-of 2026-10-14 --json
touch_of down | jq -e '.[0] | .status == "dead" and .attempts == 3' >/dev/null ||
  fail "down: not dead after 3 attempts: $(cat "$WORK/t.json")"
equals "$(jq -r '[.[0].events[].status] | join(",")' "$WORK/t.json")" \
  "pending,sending,retry,sending,retry,sending,dead" "every status change of the touch is recorded"
touch_of flaky | jq -e '.[0] | .status == "delivered" and .attempts == 3' >/dev/null ||
  fail "flaky: not delivered on its third attempt: $(cat "$WORK/t.json")"
equals "$(jq -r 'select(.path == "/flaky") | .count' "$WORK/hooks.log" | tr '\n' ' ')" "1 2 3 " \
  "the same key on every attempt"

# a dead touch retried by hand goes through the channel again
bad=$(touch_of bad | jq -r '.[0].id')
jq -e '.[0] | .status == "dead" and .attempts == 1' "$WORK/t.json" >/dev/null || fail "bad: $(cat "$WORK/t.json")"
contains "$WORK/t.json" "400"
run 0 kz touches --status dead
contains "$WORK/out" "bad request"
run 0 kz touches retry "$bad"
contains "$WORK/out" "touch $bad is pending again"
touch_of bad | jq -e '.[0].status == "pending"' >/dev/null || fail "bad: not pending after retry"
NOW=2026-10-15T08:02:00Z run 0 kz run --as-of 2026-10-14
touch_of bad | jq -e '.[0] | .status == "dead" and .attempts == 1' >/dev/null || fail "bad: $(cat "$WORK/t.json")"
equals "$(jq -r '[.[0].events[].status] | join(",")' "$WORK/t.json")" "pending,sending,dead,pending,sending,dead" \
  "the retry by hand is recorded"
delivered=$(kz touches --status delivered --json --limit 0 | jq -r '.[0].id')
run 1 kz touches retry "$delivered"
contains "$WORK/err" "was delivered: nothing to retry"
run 1 kz touches retry 99999
contains "$WORK/err" "there is no touch 99999"
run 2 kz touches --status lost
run 0 kz run --as-of 2026-10-14
contains "$WORK/out" "accounts by grade:"
contains "$WORK/out" "touches by channel"
echo "ok"
