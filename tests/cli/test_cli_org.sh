# tests/cli/test_cli_org.sh — `kizuna lifecycle`, `kizuna assign` and
# `kizuna org simulate` on a hand-made book of business, through the
# kizuna binary and the bundled orgmodels plugin:
#  - phases by the lifecycle's conditions (placement in the furthest phase
#    an account may enter, exits passing through several phases, churn),
#    success recorded, overdue past the due window, tiers by ordered rules;
#    evaluating a day twice changes nothing; an earlier day is refused;
#  - the specialist model: ownership follows the phase, high touch goes to
#    the concierge team, an account moving from onboarding to adoption is
#    handed off (recorded), capacity shortfall reported, not overloaded;
#  - assign twice changes nothing; a CSM leaving moves only their accounts;
#    a tier change moves only that account; --dry-run stores nothing;
#  - the area model: a region with no team, tech touch to the cross-area
#    team; `org simulate` compares every model and stores nothing;
#  - CSMs from a source (an HR export) join the config's; one set inactive
#    moves only their accounts; one in an unknown team stops the
#    assignment before anything is stored; a bad capacity is quarantined;
#  - a model that overloads a CSM or fails is refused, and nothing is
#    stored; config errors name file and line;
#  - the stored owners are read by a decoder of their own (owners.py):
#    current_owners and owner_changes match the answers, `kizuna
#    lifecycle` (through kz_owners) lists the same owners, a schema 8
#    store's account_state owners migrate unchanged, and a damaged
#    current_owners row is named (exit 3) by assign, lifecycle and account.
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
command -v jq >/dev/null || fail "jq is needed"
command -v sqlite3 >/dev/null || fail "sqlite3 is needed"
kz() { "$KIZUNA" --config "$WORK/$1.xml" "${@:2}"; }
q() { sqlite3 "$WORK/org.db" "$1"; }
# the current owners, decoded by tests/cli/owners.py on their own, as the
# table `owners` (account_id, owner, team, since_us, unassigned)
python_with sqlite3 python3
oq() { "$py" "$here/owners.py" query "$WORK/${2:-org}.db" "$1"; }
# every account and its owner, ACCOUNT=OWNER ('-': none)
owners() { oq "SELECT a.id || '=' || coalesce(o.owner, '-') FROM accounts AS a LEFT JOIN owners AS o
  ON o.account_id = a.id ORDER BY 1" "${1:-org}"; }
# account_state and the current owners as stored, to compare before and after
stored() { q "SELECT * FROM account_state ORDER BY 1; SELECT run, hex(ids), hex(owners), hex(codes), hex(since),
  hex(reasons) FROM current_owners"; }

# ---- the book: evaluated as of 2026-03-01 (windows end when it begins) -----
cat >"$WORK/accounts.csv" <<'EOF'
id,region,plan,arr,currency,contract_start,renewal_date,status
N1,emea,basic,1000,EUR,2026-02-20,2027-02-20,active
N2,emea,basic,1000,EUR,2026-01-01,2027-01-01,active
D1,emea,basic,2000,EUR,2025-06-01,2026-12-01,active
D2,apac,pro,80000,EUR,2025-01-01,2026-12-01,active
H2,apac,pro,90000,EUR,2025-01-01,2026-12-01,active
R1,emea,pro,5000,EUR,2025-04-01,2026-04-15,active
X1,emea,basic,1000,EUR,2025-01-01,2026-06-01,cancelled
L1,latam,pro,3000,EUR,2025-01-01,2026-12-01,active
L2,latam,basic,500,EUR,2025-01-01,2026-12-01,active
EOF
# users and features in the 30 days before 2026-03-01
cat >"$WORK/events.csv" <<'EOF'
time,account,user,event
2026-02-25T10:00:00Z,N1,u1,login
2026-02-25T10:00:00Z,N2,u1,login
2026-02-25T10:00:00Z,D1,u1,login
2026-02-26T10:00:00Z,D1,u2,login
2026-02-25T10:00:00Z,D2,u1,login
2026-02-25T11:00:00Z,D2,u2,export
2026-02-25T12:00:00Z,D2,u3,report
2026-02-25T10:00:00Z,H2,u1,login
2026-02-25T11:00:00Z,H2,u2,export
2026-02-25T12:00:00Z,H2,u3,report
2026-02-25T10:00:00Z,L1,u1,login
2026-02-25T11:00:00Z,L1,u2,export
2026-02-25T12:00:00Z,L1,u3,report
2026-02-25T10:00:00Z,L2,u1,login
2026-02-25T11:00:00Z,L2,u2,export
2026-02-25T12:00:00Z,L2,u3,report
EOF
SOURCES='
  <sources>
    <source name="crm" component="csv">
      <param name="path">accounts.csv</param>
      <map entity="account">
        <field name="id" from="id"/><field name="region" from="region"/><field name="plan" from="plan"/>
        <field name="arr" from="arr"/><field name="currency" from="currency"/>
        <field name="contract_start" from="contract_start"/><field name="renewal_date" from="renewal_date"/>
        <trait name="status" from="status"/>
      </map>
    </source>
    <source name="usage" component="csv">
      <param name="path">events.csv</param>
      <map entity="usage_event">
        <field name="time" from="time"/><field name="account_id" from="account"/>
        <field name="user_id" from="user"/><field name="name" from="event"/>
      </map>
    </source>
  </sources>
  <measures>
    <measure name="users" kind="active_users" window="30d"/>
    <measure name="features" kind="distinct_events" window="30d"/>
  </measures>'
# onboarding: done with two active users, due 30 days after the contract
# starts; adoption: done with three features; expansion has no exit;
# renewal: from 60 days before the renewal date until it moves on
LIFECYCLE='
  <lifecycle>
    <phase name="onboarding" enter="contract_start &lt;= today" success="users &gt;= 2" due="30d" due_from="contract_start"/>
    <phase name="adoption" success="features &gt;= 3"/>
    <phase name="expansion"/>
    <phase name="renewal" enter="renewal_days &lt;= 60" exit="renewal_days &gt; 60"/>
    <phase name="churned" enter="trait.status = '"'cancelled'"'" exit="trait.status = '"'active'"'"/>
  </lifecycle>
  <tiers>
    <tier name="high" when="arr &gt;= 50000"/>
    <tier name="low" when="plan = '"'pro'"'"/>
    <tier name="tech"/>
  </tiers>'
MODELS='
  <orgmodels>
    <orgmodel name="spec" component="specialist"/>
    <orgmodel name="all" component="allrounder"/>
    <orgmodel name="areas" component="area"/>
  </orgmodels>'
# specialist teams; the concierge can hold one high-touch account only
ORG_SPEC='
  <organization model="spec">
    <team id="onb" function="onboarding" phases="onboarding"/>
    <team id="adopt" function="adoption" phases="adoption|expansion" tiers="low|tech"/>
    <team id="renew" function="renewal" phases="renewal"/>
    <team id="concierge" function="concierge" tiers="high"/>
    <csm id="o1" team="onb" high="5" low="5" tech="unlimited"/>
    <csm id="a1" team="adopt" low="5" tech="unlimited"/>
    <csm id="a2" team="adopt" low="5" tech="unlimited"/>
    <csm id="r1" team="renew" high="5" low="5" tech="unlimited"/>
    <csm id="c1" name="Chiyo" team="concierge" high="1"/>
  </organization>'
stack() { # stack NAME ORG
  cat >"$WORK/$1.xml" <<EOF
<kizuna version="1">
  <store path="org.db"/>
  $SOURCES
  $LIFECYCLE
  $MODELS
  $2
</kizuna>
EOF
}
stack org "$ORG_SPEC"
export KIZUNA_NOW=2026-03-01T12:00:00Z
run 0 kz org sync

# ---- lifecycle ---------------------------------------------------------------
run 0 kz org lifecycle --as-of 2026-03-01 --json
cp "$WORK/out" "$WORK/lc1.json"
phase() { jq -r --arg id "$1" '.accounts[] | select(.id == $id) | .phase' "$WORK/lc1.json"; }
tier() { jq -r --arg id "$1" '.accounts[] | select(.id == $id) | .tier' "$WORK/lc1.json"; }
# N1: 9 days in, one user: onboarding, not yet due (due 2026-03-22)
equals "$(phase N1)" onboarding "N1 phase"
equals "$(jq -r '.accounts[] | select(.id == "N1") | .overdue' "$WORK/lc1.json")" false "N1 not overdue"
# N2: contract 2026-01-01, one user: onboarding, overdue since 2026-01-31
equals "$(phase N2)" onboarding "N2 phase"
equals "$(jq -r '.accounts[] | select(.id == "N2") | .overdue' "$WORK/lc1.json")" true "N2 overdue"
# D1: two users end onboarding (success), one feature keeps it in adoption
equals "$(phase D1)" adoption "D1 passes onboarding"
# D2: two users and three features pass onboarding and adoption
equals "$(phase D2)" expansion "D2 passes two phases"
# R1: renewal in 45 days: placed in the furthest phase it may enter
equals "$(phase R1)" renewal "R1 placed in renewal"
equals "$(phase X1)" churned "X1 churned"
equals "$(tier D2)" high "D2 tier"
equals "$(tier R1)" low "R1 tier (plan pro)"
equals "$(tier N1)" tech "N1 tier"
equals "$(jq -r '.phases.churned, .tiers.high, .overdue' "$WORK/lc1.json" | tr '\n' ' ')" "1 2 1 " "summary"
# every success and phase change recorded, as of the evaluation
equals "$(q "SELECT count(*) FROM state_changes WHERE account_id = 'D2' AND what = 'success'")" 2 "D2 successes"
equals "$(q "SELECT coalesce(from_value, '') || '>' || to_value FROM state_changes WHERE account_id = 'D2' AND what = 'phase'")" \
  ">expansion" "D2 change"
equals "$(q "SELECT count(*) FROM state_changes WHERE what = 'overdue' AND account_id = 'N2'")" 1 "N2 overdue change"
# the same day again: nothing changes
before=$(q "SELECT count(*) FROM state_changes")
run 0 kz org lifecycle --as-of 2026-03-01 --json
equals "$(jq -r '.phase_changes, .tier_changes, .successes, .repeated' "$WORK/out" | tr '\n' ' ')" "0 0 0 true " \
  "second evaluation"
equals "$(q "SELECT count(*) FROM state_changes")" "$before" "no new changes"
# back in time: refused
run 1 kz org lifecycle --as-of 2026-02-20
contains "$WORK/err" "evaluated as of 2026-03-01 already"
run 0 kz org lifecycle --as-of 2026-03-01 --overdue
contains "$WORK/out" "N2"
lacks "$WORK/out" "N1 "

# ---- specialist assignment ------------------------------------------------------
run 0 kz org assign --dry-run --json
equals "$(q "SELECT count(*) FROM current_owners")" 0 "dry run stores nothing"
run 0 kz org assign --json
cp "$WORK/out" "$WORK/a1.json"
owner() { oq "SELECT coalesce(owner, '-') || '@' || coalesce(team, '-') FROM owners WHERE account_id = '$1'"; }
equals "$(owner N1)" o1@onb "N1 to onboarding"
equals "$(owner N2)" o1@onb "N2 to onboarding"
equals "$(owner R1)" r1@renew "R1 to renewal"
equals "$(owner X1)" -@- "churned has no owner"
# D2 and H2 are high touch; the concierge holds one: the larger ARR (H2)
equals "$(owner H2)" c1@concierge "H2 to the concierge"
equals "$(owner D2)" -@- "D2 left unassigned"
equals "$(jq -r '.unassigned.no_capacity, .shortfall.concierge' "$WORK/a1.json" | tr '\n' ' ')" "1 1 " "shortfall"
equals "$(oq "SELECT unassigned FROM owners WHERE account_id = 'D2'")" 2 "D2 reason no_capacity"
# adoption/expansion, tech and low touch, balanced over a1 and a2
equals "$(oq "SELECT count(DISTINCT owner) FROM owners WHERE team = 'adopt'")" 2 "balanced over adopt"
# assigning again changes nothing
changes=$(q "SELECT (SELECT count(*) FROM state_changes) || '+' || (SELECT count(*) FROM owner_changes)")
run 0 kz org assign --json
equals "$(jq -r '.moved, .new, .unowned, (.changes | length)' "$WORK/out" | tr '\n' ' ')" "0 0 0 0 " "assign twice"
equals "$(q "SELECT (SELECT count(*) FROM state_changes) || '+' || (SELECT count(*) FROM owner_changes)")" \
  "$changes" "no change rows"

# ---- onboarding -> adoption: a hand-off -----------------------------------------
# N1 gets a second user on 2026-03-05; on 2026-03-10 assign evaluates the
# lifecycle of the day first
echo "2026-03-05T10:00:00Z,N1,u2,login" >>"$WORK/events.csv"
oq "SELECT account_id || ' ' || coalesce(since_us, '-') FROM owners WHERE account_id != 'N1' ORDER BY 1" \
  >"$WORK/since-before"
export KIZUNA_NOW=2026-03-10T12:00:00Z
run 0 kz org sync
run 0 kz org assign --json
equals "$(q "SELECT phase FROM account_state WHERE account_id = 'N1'")" 2 "N1 in adoption"
equals "$(owner N1 | cut -d@ -f2)" adopt "N1 owned by the adoption team"
equals "$(jq -r '.handoffs' "$WORK/out")" 1 "one hand-off"
equals "$(jq -r '[.changes[].account] | join(",")' "$WORK/out")" N1 "only N1 moved"
# owner since: now for N1, unchanged for the others
equals "$(oq "SELECT since_us FROM owners WHERE account_id = 'N1'")" 1773144000000000 "N1 owned since 2026-03-10"
oq "SELECT account_id || ' ' || coalesce(since_us, '-') FROM owners WHERE account_id != 'N1' ORDER BY 1" \
  >"$WORK/since-after"
cmp -s "$WORK/since-before" "$WORK/since-after" || fail "the others' owner since changed"
equals "$("$py" "$here/owners.py" changes "$WORK/org.db" | cut -d' ' -f1,3,5,6)" "N1 onb adopt true" \
  "hand-off recorded"
run 0 kz org account N1
contains "$WORK/out" "phase     adoption since 2026-03-11"
contains "$WORK/out" "(team adopt)"
# its history: the lifecycle's changes and both owners, the hand-off last
contains "$WORK/out" "History: "
contains "$WORK/out" "phase    onboarding > adoption"
contains "$WORK/out" "(team onb > adopt, hand-off)"
run 0 kz org account N1 --json
first=$(jq -r '[.history.items[] | select(.what == "owner")][0].to' "$WORK/out")
equals "$(jq -r '[.history.items[] | select(.what == "owner")
                  | "\(.from // "-")@\(.from_team // "-")>\(.to)@\(.to_team):\(.handoff)"] | join(" ")' "$WORK/out")" \
  "-@->$first@onb:false $first@onb>$(owner N1):true" "N1's owners in its history"
equals "$(jq -r '.history.items | map(.stored) | . == sort' "$WORK/out")" true "history in the order stored"
# the phase change stored by today's evaluation, then the hand-off it caused
# (whose time, the assignment's, is before the evaluated day's end)
equals "$(jq -r '.history.items[-3:] | map(.what) | join(" ")' "$WORK/out")" "success phase owner" \
  "the hand-off after its phase change"
equals "$(jq -r '.history.items[-1].time < .history.items[-2].time' "$WORK/out")" true "each with its own time"
latest=$(jq -c '.history.items[-1]' "$WORK/out")
run 0 kz org account N1 --json --recent 1
equals "$(jq -r '.history.total > 1, (.history.items | length)' "$WORK/out" | tr '\n' ' ')" "true 1 " "--recent 1"
equals "$(jq -c '.history.items[0]' "$WORK/out")" "$latest" "--recent keeps the latest"

# ---- a CSM leaves: only their accounts move ---------------------------------------
gone=$(oq "SELECT owner FROM owners WHERE team = 'adopt' GROUP BY owner ORDER BY count(*) DESC LIMIT 1")
stay=$([ "$gone" = a1 ] && echo a2 || echo a1)
owners >"$WORK/before"
stack org "${ORG_SPEC/<csm id=\"$gone\" team=\"adopt\" low=\"5\" tech=\"unlimited\"\/>/}"
run 0 kz org assign --json
owners >"$WORK/after"
moved=$( (diff "$WORK/before" "$WORK/after" || true) | grep '^<' | cut -c3- | cut -d= -f2 | sort -u | tr '\n' ' ')
equals "$moved" "$gone " "only the leaver's accounts moved"
lacks "$WORK/after" "=$gone"
equals "$(oq "SELECT count(*) FROM owners WHERE owner = '$stay'")" \
  "$(grep -c "=$stay" "$WORK/after")" "the rest went to $stay"

# ---- a tier change moves that account only ---------------------------------------
# R1 grows to 60,000 EUR: high touch; the renewal team still covers it
sed -i 's/^R1,emea,pro,5000,/R1,emea,pro,60000,/' "$WORK/accounts.csv"
owners >"$WORK/before"
export KIZUNA_NOW=2026-03-11T12:00:00Z
run 0 kz org sync
run 0 kz org assign --json
equals "$(q "SELECT from_value || '>' || to_value FROM state_changes WHERE account_id = 'R1' AND what = 'tier'
            ORDER BY id DESC LIMIT 1")" "low>high" "tier change recorded"
equals "$(owner R1)" r1@renew "R1 kept by renewal (capacity for high)"
owners >"$WORK/after"
cmp -s "$WORK/before" "$WORK/after" || fail "the tier change moved someone"

# ---- the area model: regions, a region with no team, cross-area tech touch ------
stack org '
  <organization model="areas">
    <team id="emea" regions="emea"/>
    <team id="apac" regions="apac"/>
    <team id="tech" function="tech_touch" tiers="tech"/>
    <csm id="e1" team="emea" high="5" low="5"/>
    <csm id="p1" team="apac" high="5" low="5"/>
    <csm id="t1" team="tech" tech="unlimited"/>
  </organization>'
run 0 kz org assign --json
equals "$(owner L1)" -@- "latam low touch: no team"
equals "$(oq "SELECT unassigned FROM owners WHERE account_id = 'L1'")" 1 "L1 reason no_team"
equals "$(owner L2)" t1@tech "latam tech touch: the cross-area team"
equals "$(owner D2)" p1@apac "apac high touch"
equals "$(owner N2)" t1@tech "emea tech touch"
equals "$(owner R1)" e1@emea "emea high touch"

# ---- org simulate: every model side by side, nothing stored ------------------------
# on the specialist organization again: its phase teams hand accounts off
stack org "$ORG_SPEC"
stored >"$WORK/state-before"
run 0 kz org org simulate --json
equals "$(jq -r '[.models[].model] | join(",")' "$WORK/out")" "spec,all,areas" "models"
jq -e '.models[] | select(.assigned + .unassigned.no_team + .unassigned.no_capacity + .unassigned.excluded != 9)' \
  "$WORK/out" >/dev/null && fail "every account counted once"
# specialist: onboarding -> adoption -> expansion -> renewal passes three teams
equals "$(jq -r '.models[] | select(.model == "spec") | .lifecycle_handoffs.max' "$WORK/out")" 2 \
  "specialist: onb -> adopt -> renew"
# areas: no team lists a region, so only the tech-touch accounts find one
# (high: D2, H2, R1; low: L1 have none)
equals "$(jq -r '.models[] | select(.model == "areas") | .unassigned.no_team' "$WORK/out")" 4 "areas no_team"
jq -e '.models[] | .accounts_per_csm.all.max >= .accounts_per_csm.all.median' "$WORK/out" >/dev/null
run 0 kz org org simulate
contains "$WORK/out" "hand-offs per account"
contains "$WORK/out" "team concierge h/l/t"
stored >"$WORK/state-after"
cmp -s "$WORK/state-before" "$WORK/state-after" || fail "org simulate stored something"

# ---- a model that breaks the rules: refused, nothing stored -------------------------
stored >"$WORK/state-before"
changes=$(q "SELECT count(*) FROM state_changes")
# o1 takes one high-touch account; the book has three
GREEDY_ORG=${ORG_SPEC/model=\"spec\"/model=\"greedy\"}
GREEDY_ORG=${GREEDY_ORG/team=\"onb\" high=\"5\"/team=\"onb\" high=\"1\"}
cat >"$WORK/greedy.xml" <<EOF
<kizuna version="1">
  <store path="org.db"/>
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/orgmodel</dir></plugins>
  $SOURCES
  $LIFECYCLE
  <orgmodels>
    <orgmodel name="greedy" component="greedy"/>
    <orgmodel name="broken" component="greedy"><param name="fail">true</param></orgmodel>
  </orgmodels>
  $GREEDY_ORG
</kizuna>
EOF
run 1 kz greedy assign
contains "$WORK/err" "orgmodel 'greedy' put more"
contains "$WORK/err" "on CSM 'o1' than the capacity of 1: refused, nothing is stored"
sed -i 's/model="greedy"/model="broken"/' "$WORK/greedy.xml"
run 1 kz greedy assign
contains "$WORK/err" "instance 'broken'"
contains "$WORK/err" "the model's spreadsheet is missing"
stored >"$WORK/state-after"
cmp -s "$WORK/state-before" "$WORK/state-after" || fail "a refused answer changed account_state or the owners"
equals "$(q "SELECT count(*) FROM state_changes")" "$changes" "a refused answer recorded changes"

# ---- CSMs from a source: merged with the config's; inactive ones own nothing ------
# An HR export gives the area CSMs; t1 is in the config too, which wins
# (the export's "emea" for t1 is not used). Capacities may be "unlimited".
cat >"$WORK/csms.csv" <<'EOF'
login,full_name,team,region,skills,high,low,tech,active
e2,Emi,emea,emea,japanese;healthcare,5,5,0,true
p2,Pia,apac,apac,,5,5,,yes
t1,Taro,emea,emea,,5,5,5,true
EOF
HR_SOURCE='
    <source name="hr" component="csv">
      <param name="path">csms.csv</param>
      <map entity="csm">
        <field name="id" from="login"/><field name="name" from="full_name"/><field name="team" from="team"/>
        <field name="region" from="region"/><field name="skills" from="skills" separator=";"/>
        <field name="high" from="high"/><field name="low" from="low"/><field name="tech" from="tech"/>
        <field name="status" from="active">
          <value from="true" to="active"/><value from="yes" to="active"/><value from="false" to="inactive"/>
        </field>
      </map>
    </source>
  </sources>'
cat >"$WORK/hr.xml" <<EOF
<kizuna version="1">
  <store path="hr.db"/>
  ${SOURCES/<\/sources>/$HR_SOURCE}
  $LIFECYCLE
  $MODELS
  <organization model="areas">
    <team id="emea" regions="emea"/>
    <team id="apac" regions="apac"/>
    <team id="tech" function="tech_touch" tiers="tech"/>
    <csm id="t1" team="tech" tech="unlimited"/>
  </organization>
</kizuna>
EOF
hq() { sqlite3 "$WORK/hr.db" "$1"; }
howner() { oq "SELECT coalesce(owner, '-') || '@' || coalesce(team, '-') FROM owners WHERE account_id = '$1'" hr; }
hr_counts() { jq -r ".sources[] | select(.name == \"hr\") | .entities.csm | $1" "$WORK/out"; }
run 0 kz hr sync --json
equals "$(hr_counts '"\(.read) \(.inserted)"')" "3 3" "three CSMs synced"
equals "$(hq "SELECT skills || ' ' || capacity_high || ' ' || capacity_tech FROM csms WHERE id = 'e2'")" \
  '["japanese","healthcare"] 5 0' "e2 stored"
equals "$(hq "SELECT coalesce(capacity_tech, '-') || ' ' || status FROM csms WHERE id = 'p2'")" "- 1" "p2 stored"
run 0 kz hr assign --json
equals "$(howner R1)" e2@emea "emea high touch to e2 (from the source)"
equals "$(howner D2)" p2@apac "apac high touch to p2 (from the source)"
equals "$(howner N2)" t1@tech "tech touch to t1 (the config's t1, not the export's)"
equals "$(howner L1)" -@- "latam: still no team"
# e2 leaves and e3 joins: only e2's account moves, to e3
sed -i 's/^e2,\(.*\),true$/e2,\1,false/' "$WORK/csms.csv"
echo "e3,Eri,emea,emea,,5,5,,true" >>"$WORK/csms.csv"
owners hr >"$WORK/before"
run 0 kz hr sync --json
equals "$(hr_counts '"\(.inserted) \(.updated) \(.unchanged)"')" "1 1 2" "e3 new, e2 inactive"
run 0 kz hr assign --json
owners hr >"$WORK/after"
equals "$( (diff "$WORK/before" "$WORK/after" || true) | grep '^>' | cut -c3- | tr '\n' ' ')" "R1=e3 " \
  "only e2's account moved, to e3"
# a CSM in a team the organization does not have: assign refuses and
# stores nothing; a capacity that is not one is quarantined at sync
echo "x9,Xu,latam,latam,,5,5,5,true" >>"$WORK/csms.csv"
echo "x8,Xi,emea,emea,,lots,5,5,true" >>"$WORK/csms.csv"
run 0 kz hr sync --json
equals "$(hr_counts .quarantined)" 1 "a bad capacity is quarantined"
run 0 kz hr quarantine
contains "$WORK/out" "csms.csv:7:6"
contains "$WORK/out" "column 6 (high): high 'lots' is not a capacity (a whole number of accounts, or unlimited)"
changes=$(hq "SELECT count(*) FROM state_changes")
run 1 kz hr assign
contains "$WORK/err" "CSM 'x9' (from source 'hr') is in team 'latam', which <organization>"
equals "$(hq "SELECT count(*) FROM state_changes")" "$changes" "nothing stored"
sqlite3 "$WORK/hr.db" "PRAGMA integrity_check" | grep -qx ok || fail "integrity_check (hr)"

# ---- config errors ----------------------------------------------------------------
stack bad "${ORG_SPEC/model=\"spec\"/model=\"nope\"}"
sed -i 's/"users &gt;= 2"/"usrs \&gt;= 2"/' "$WORK/bad.xml"
run 1 kz bad check
line=$(grep -n 'usrs' "$WORK/bad.xml" | cut -d: -f1)
contains "$WORK/out" "bad.xml:$line: success=\"usrs >= 2\": column 1"
contains "$WORK/out" "no <orgmodel name=\"nope\">"
stack bad2 "${ORG_SPEC/team=\"onb\" high/team=\"nobody\" high}"
run 1 kz bad2 check
contains "$WORK/out" "csm 'o1': team 'nobody' is not declared"
stack bad3 "$ORG_SPEC"
sed -i 's/name="expansion"/name="expansion" enter="plan \&gt; 3"/' "$WORK/bad3.xml"
run 1 kz bad3 check
contains "$WORK/out" "enter=\"plan > 3\""
# ---- a large change --------------------------------------------------------------
# 2,100 accounts on two CSMs; then one leaves and about 1,050 move. Their
# ids are synced in id order (the book is read as stored); the small book
# above was not (the book is sorted after reading).
{
  echo "id,region,plan,arr,currency,contract_start,renewal_date,status"
  for i in $(seq 1 2100); do printf 'B%04d,emea,basic,%d,EUR,2025-01-01,2027-01-01,active\n' "$i" "$i"; done
} >"$WORK/big.csv"
big() { # big NAME CSMS
  cat >"$WORK/$1.xml" <<EOF
<kizuna version="1">
  <store path="big.db"/>
  <sources>
    <source name="crm" component="csv">
      <param name="path">big.csv</param>
      <map entity="account"><field name="id" from="id"/><field name="region" from="region"/>
        <field name="arr" from="arr"/><field name="currency" from="currency"/></map>
    </source>
  </sources>
  <tiers><tier name="tech"/></tiers>
  <orgmodels><orgmodel name="all" component="allrounder"/></orgmodels>
  <organization model="all"><team id="t"/>$2</organization>
</kizuna>
EOF
}
bq() { sqlite3 "$WORK/big.db" "$1"; }
big big '<csm id="b1" team="t" tech="unlimited"/><csm id="b2" team="t" tech="unlimited"/>'
run 0 kz big sync
run 0 kz big assign --json
jq -r '.changes[] | .account + "=" + .to + "@" + .to_team' "$WORK/out" | sort >"$WORK/want"
oq "SELECT account_id || '=' || owner || '@' || team FROM owners ORDER BY 1" big | sort >"$WORK/got"
cmp -s "$WORK/want" "$WORK/got" || fail "stored owners differ from the answer (first assignment)"
equals "$(wc -l <"$WORK/got")" 2100 "every account stored"
equals "$(bq "SELECT group_concat(n) FROM owner_changes")" 2100 "one owner_changes row of every change"
jq -r '.changes[] | [.account, .from // "-", .from_team // "-", .to, .to_team, .handoff] | join(" ")' "$WORK/out" |
  sort >"$WORK/want"
"$py" "$here/owners.py" changes "$WORK/big.db" | sort >"$WORK/got"
cmp -s "$WORK/want" "$WORK/got" || fail "owner_changes differ from the answer (first assignment)"
mv "$WORK/want" "$WORK/first_run"
big big '<csm id="b2" team="t" tech="unlimited"/>'
moved=$(oq "SELECT count(*) FROM owners WHERE owner = 'b1'" big)
run 0 kz big assign --json
equals "$(jq -r '.moved' "$WORK/out")" "$moved" "b1's accounts moved"
[ "$moved" -ge 1000 ] || fail "only $moved moved: not a large change"
equals "$(oq "SELECT count(*) FROM owners WHERE owner = 'b2' AND team = 't' AND unassigned = 0" big)" 2100 \
  "all on b2"
"$py" "$here/owners.py" changes "$WORK/big.db" | cut -d' ' -f2-6 | sort | uniq -c | sed 's/^ *//' >"$WORK/got"
equals "$(cat "$WORK/got")" "$moved b1 t b2 t false" "a change per move, and no other"
oq "SELECT account_id FROM owners WHERE owner = 'b2' ORDER BY account_id LIMIT 1" big >"$WORK/first"
run 0 kz big account "$(cat "$WORK/first")" --json
equals "$(jq -r '[.history.items[] | select(.what == "owner") | .to] | join(",")' "$WORK/out")" \
  "$(if grep -q "^$(cat "$WORK/first") - - b1 " "$WORK/first_run"; then echo b1,b2; else echo b2; fi)" \
  "the history of an account of the large change"
run 0 kz big assign --json
equals "$(jq -r '.changes | length' "$WORK/out")" 0 "stable after the large change"
# an account gone from the book (deleted by hand: kizuna does not delete
# accounts) leaves the current owners at the next assignment; the others
# keep their owner and since
sinces() { oq "SELECT account_id || ' ' || owner || ' ' || since_us FROM owners WHERE account_id != 'B2100'
  ORDER BY 1" big; }
sinces >"$WORK/since-before"
bq "DELETE FROM accounts WHERE id = 'B2100'"
run 0 kz big assign --json
equals "$(jq -r '.accounts, (.changes | length)' "$WORK/out" | tr '\n' ' ')" "2099 0 " "B2100 gone, nothing moved"
equals "$(oq "SELECT count(*) || ' ' || count(owner) FROM owners" big)" "2099 2099" "B2100 left the current owners"
sinces >"$WORK/since-after"
cmp -s "$WORK/since-before" "$WORK/since-after" || fail "the others' owners or since changed"
# two assignments at once: the one that read the book before the other
# stored its owners refuses to write over them (it would undo the other's
# moves unrecorded); the paused model waits while the other runs
sed -e 's|<orgmodels>|<plugins><dir>'"$KZ_TEST_PLUGIN_DIR"'/orgmodel</dir></plugins><orgmodels>|' \
  -e 's|<orgmodel name="all" component="allrounder"/>|<orgmodel name="all" component="paused"><param name="wait_for">'"$WORK"'/go</param></orgmodel>|' \
  "$WORK/big.xml" >"$WORK/paused.xml"
grep -q 'component="paused"' "$WORK/paused.xml" || fail "the paused config"
kz paused assign >"$WORK/paused.out" 2>"$WORK/paused.err" &
paused=$!
for _ in $(seq 1 3000); do [ -e "$WORK/go.waiting" ] && break; sleep 0.01; done
[ -e "$WORK/go.waiting" ] || fail "the paused model never started"
big big '<csm id="b3" team="t" tech="unlimited"/>'
run 0 kz big assign --json
equals "$(jq -r '.moved' "$WORK/out")" 2099 "b2's accounts moved to b3"
touch "$WORK/go"
status=0
wait "$paused" || status=$?
equals "$status" 1 "the paused assignment failed"
contains "$WORK/paused.err" "stored its owners after this one read the book: nothing is stored"
equals "$(oq "SELECT count(*) FROM owners WHERE owner = 'b3'" big)" 2099 "b3's owners stand"
sqlite3 "$WORK/big.db" "PRAGMA integrity_check" | grep -qx ok || fail "integrity_check (big)"
# an owner change recorded before schema version 8 (a state_changes row) is
# part of the history; this one's run is not there, so its own time (1970)
# places it first
acct=$(cat "$WORK/first")
bq "INSERT INTO state_changes (account_id, time_us, what, from_value, to_value, to_team, run)
    VALUES ('$acct', 1000000, 'owner', NULL, 'old', 'legacy', 0)"
run 0 kz big account "$acct" --json
equals "$(jq -r '.history.items[0] | "\(.what) \(.to)@\(.to_team) \(.time)"' "$WORK/out")" \
  "owner old@legacy 1970-01-01T00:00:01Z" "an earlier state_changes owner row in the history"
# a damaged owner_changes row is named, not misread
bq "UPDATE owner_changes SET n = n + 1 WHERE run = (SELECT max(run) FROM owner_changes)"
run 3 kz big account "$acct"
contains "$WORK/err" "the owner changes of assign run $(bq "SELECT max(run) FROM owner_changes") are damaged"

# ---- the current owners: kizuna's reading (kz_owners) and the decoder agree -------
run 0 kz org assign # the specialist organization's owners again
run 0 kz org lifecycle --json
jq -r '.accounts[] | .id + "=" + (.owner // "-")' "$WORK/out" >"$WORK/listed"
owners >"$WORK/decoded"
cmp -s "$WORK/listed" "$WORK/decoded" || fail "kizuna lifecycle lists other owners than current_owners holds"
[ "$(grep -vc '=-$' "$WORK/decoded")" -ge 3 ] || fail "too few owners to compare"

# ---- schema 8 -> 9: the owners account_state held move to current_owners ----------
kept() { oq "SELECT account_id, owner, team, since_us, unassigned FROM owners
  WHERE owner IS NOT NULL OR unassigned != 0 ORDER BY 1"; }
kept >"$WORK/owners-9"
[ "$(grep -c '|[123]$' "$WORK/owners-9")" -ge 1 ] || fail "no unassigned reason to migrate"
# the store as schema 8 left it: the owners in account_state's columns
q "ALTER TABLE account_state ADD COLUMN owner TEXT; ALTER TABLE account_state ADD COLUMN team TEXT;
   ALTER TABLE account_state ADD COLUMN owner_since_us INTEGER;
   ALTER TABLE account_state ADD COLUMN unassigned INTEGER NOT NULL DEFAULT 0"
oq "SELECT 'UPDATE account_state SET owner = ' || quote(owner) || ', team = ' || quote(team) || ', owner_since_us = '
  || quote(since_us) || ', unassigned = ' || unassigned || ' WHERE account_id = ' || quote(account_id) || ';'
  FROM owners" | sqlite3 "$WORK/org.db"
q "DROP TABLE current_owners; PRAGMA user_version = 8"
# assign opens the store for writing (migrating it), then finds nothing to move
run 0 kz org assign --json
equals "$(jq -r '.changes | length' "$WORK/out")" 0 "nothing moves after the migration"
equals "$(q "PRAGMA user_version")" 9 "migrated to schema 9"
equals "$(q "SELECT coalesce(run, 'none') FROM current_owners")" none "a migrated row names no assign run"
equals "$(q "SELECT count(*) FROM pragma_table_info('account_state')
  WHERE name IN ('owner', 'team', 'owner_since_us', 'unassigned')")" 0 "account_state's owner columns dropped"
kept >"$WORK/owners-migrated"
cmp -s "$WORK/owners-9" "$WORK/owners-migrated" || fail "the migration changed the owners"
run 0 kz org account N1 --json
equals "$(jq -r '.lifecycle | "\(.owner)@\(.team)"' "$WORK/out")" "$(owner N1)" "N1's owner after the migration"
# an account the assignment saw without an account_state row still shows
# why it has no owner
q "DELETE FROM account_state WHERE account_id = 'X1'"
run 0 kz org account X1 --json
equals "$(jq -r '.lifecycle.unassigned' "$WORK/out")" excluded "X1's reason without its account_state row"

# ---- a damaged current_owners row is named, and nothing is misread -----------------
q "UPDATE current_owners SET codes = substr(codes, 1, length(codes) - 4)"
for cmd in "assign" "lifecycle" "account N1"; do
  # shellcheck disable=SC2086 # the command's words
  run 3 kz org $cmd
  contains "$WORK/err" "the current owners are damaged: a column is not n values long"
done
q "UPDATE current_owners SET ids = CAST('N1' || char(0) || 'A0' || char(0) AS BLOB), n = 2,
   codes = zeroblob(8), since = zeroblob(16), reasons = zeroblob(2)"
run 3 kz org assign
contains "$WORK/err" "are damaged: the ids are not in byte order"
sqlite3 "$WORK/org.db" "PRAGMA integrity_check" | grep -qx ok || fail "integrity_check"
echo "ok"
