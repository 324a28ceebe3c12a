#!/usr/bin/env bash
# tests/cli/test_cli_playbooks.sh — playbooks in the stack config, as
# `kizuna check` judges them: the sample stack with playbooks of every
# trigger passes; a wrong condition, an unknown field, channel, template
# name or grade, a trigger the stack cannot evaluate, and a task channel
# that is misused are each refused with the file and the line.
# Assertions: lib.sh's run (exit code), contains and lacks (output).
. "$(dirname "$0")/lib.sh"

cp -r "$KZ_SOURCE_DIR/sdk/examples/sample/." "$WORK/"
PLAYBOOKS='
  <playbooks>
    <outbox max_attempts="5" backoff="30s" max_backoff="1h"/>
    <playbook name="red-rescue" channel="csm-tasks" to="owner" priority="10" cooldown="30d" due="7d"
              who="tier IN ('"'high'"', '"'low'"')">
      <trigger on="grade" to="red"/>
      <subject>{account.name} turned red</subject>
      <body>Health {score.health} ({score.grade}); ARR {account.arr} {account.currency}; {measure.active_users} users.</body>
    </playbook>
    <playbook name="renewal-120" channel="dry-run" to="champion|admin" cooldown="60d">
      <trigger on="before" date="renewal_date" days="120"/>
      <subject>Your renewal, {contact.name}</subject>
      <body>{account.name} renews on {account.renewal_date}. {{not a placeholder}}</body>
    </playbook>
    <playbook name="welcome" channel="dry-run" to="admin">
      <trigger on="phase" to="onboarding"/>
      <subject>Welcome</subject>
      <body>Hello {contact.name}</body>
    </playbook>
    <playbook name="overdue" channel="csm-tasks" to="owner"><trigger on="overdue"/>
      <subject>Overdue: {account.name}</subject><body>{account.phase} is overdue</body></playbook>
    <playbook name="vip" channel="csm-tasks" to="owner"><trigger on="tier" to="high"/>
      <subject>New high-touch account</subject><body>{account.name}</body></playbook>
    <playbook name="slipping" channel="dry-run" who="health &lt; 60"><trigger on="drop" points="15" window="30d"/>
      <subject>Slipping</subject><body>{account.id}</body></playbook>
  </playbooks>'
# stack NAME: the sample with the task channel and the playbooks
stack() {
  sed -e "s|</kizuna>|$(printf '%s' "$PLAYBOOKS" | sed -e 's/[&|\\]/\\&/g' | tr '\n' '\r')\n</kizuna>|" \
    -e 's|<channels>|<channels>\n    <channel name="csm-tasks" component="task"/>|' \
    "$KZ_SOURCE_DIR/sdk/examples/sample/kizuna.xml" | tr '\r' '\n' >"$WORK/$1.xml"
}
line_of() { grep -n -- "$2" "$WORK/$1.xml" | head -1 | cut -d: -f1; }

stack good
run 0 "$KIZUNA" --config "$WORK/good.xml" check
contains "$WORK/out" "ok"

# each mistake alone: refused with file and line
bad() { # bad NAME SED-EXPRESSION MARKER MESSAGE
  stack "$1"
  sed -i -e "$2" "$WORK/$1.xml"
  run 1 "$KIZUNA" --config "$WORK/$1.xml" check
  contains "$WORK/out" "$1.xml:$(line_of "$1" "$3"): $4"
}
bad wrong_cond 's/who="tier IN/who="tier INN/' 'tier INN' \
  "playbook 'red-rescue': who=\"tier INN ('high', 'low')\": column"
bad unknown_field "s/who=\"health &lt; 60\"/who=\"wealth \&lt; 60\"/" 'wealth' \
  "playbook 'slipping': who=\"wealth < 60\": column 1: unknown field 'wealth'"
bad unknown_channel 's/channel="dry-run" to="admin"/channel="carrier-pigeon" to="admin"/' 'carrier-pigeon' \
  "playbook 'welcome': channel 'carrier-pigeon' is not a <channel> of the stack"
bad unknown_name 's/{account.phase} is overdue/{account.mood} is overdue/' 'account.mood' \
  "playbook 'overdue': <body> names {account.mood}, which no template can read"
bad unknown_measure 's/{measure.active_users}/{measure.happiness}/' 'measure.happiness' \
  "playbook 'red-rescue': <body> names {measure.happiness}"
bad contact_to_owner 's/Overdue: {account.name}/Overdue: {contact.name}/' 'Overdue: {contact.name}' \
  "playbook 'overdue': <subject> names {contact.name} (only with to=\"ROLE\")"
bad unclosed 's/Welcome</Welcome {account.name</' 'Welcome {account' \
  "playbook 'welcome': <subject>: '{' at character 9 is never closed"
bad unknown_grade 's/on="grade" to="red"/on="grade" to="crimson"/' 'crimson' \
  "playbook 'red-rescue': grade 'crimson' is not a grade of <health>"
bad bad_phase 's/on="phase" to="onboarding"/on="phase" to="dating"/' 'dating' \
  '<trigger on="phase" to="dating">: not a phase'
bad task_to_contacts 's/channel="csm-tasks" to="owner"><trigger on="overdue"/channel="csm-tasks" to="admin"><trigger on="overdue"/' \
  'name="overdue"' "playbook 'overdue': the task channel 'csm-tasks' needs to=\"owner\""
bad dup_name 's/name="vip"/name="overdue"/' 'name="overdue" channel="csm-tasks" to="owner"><trigger on="tier"' \
  "playbook 'overdue' is already declared at line"
# the schema: a trigger without its to=, a cooldown that is not a duration
bad no_to 's/<trigger on="tier" to="high"\/>/<trigger on="tier"\/>/' '<trigger on="tier"/>' ''
bad bad_cooldown 's/cooldown="60d"/cooldown="soon"/' 'cooldown="soon"' 'cooldown="soon"'

# a task channel takes no parameters
stack task_params
sed -i 's|<channel name="csm-tasks" component="task"/>|<channel name="csm-tasks" component="task"><param name="x">1</param></channel>|' \
  "$WORK/task_params.xml"
run 1 "$KIZUNA" --config "$WORK/task_params.xml" check
contains "$WORK/out" "task_params.xml:$(line_of task_params 'component="task"'): channel 'csm-tasks': the task channel takes no parameters"
echo "ok"
