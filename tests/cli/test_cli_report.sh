#!/usr/bin/env bash
# tests/cli/test_cli_report.sh — `kizuna report` and `kizuna feedback` on a
# small hand-made company whose KPIs are worked out here by hand (the
# comments show the arithmetic): retention and GRR/NRR with a churn, an
# upgrade, a downgrade and an upgrade undone within the period, a trial
# that brings no revenue, a renewal renewed, one lost and one not yet
# decided, money in a second currency converted at the configured rate
# (and refused without one), onboarding and time to value, CS-qualified
# leads, active users, NPS and CSAT, feature requests by tag and ARR; a
# period with no starting accounts; the cut by segment; CSV = JSON.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"
mkdir -p "$WORK/data"

# period 2026-Q3 = [2026-07-01, 2026-10-01); as of 2026-09-20
cat >"$WORK/data/accounts.csv" <<'CSV'
id,name,segment,currency,arr,contract_start,renewal_date
A1,Alpha,smb,EUR,12000,2025-01-01,2027-01-01
A2,Bravo,smb,EUR,24000,2025-08-15,2026-08-15
A3,Charlie,smb,EUR,6000,2025-06-01,2027-06-01
A4,Delta,smb,EUR,12000,2025-07-10,2027-07-10
A5,Echo,ent,EUR,4800,2025-01-01,2027-01-01
A6,Foxtrot,ent,EUR,3600,2026-08-01,2027-08-01
A7,Golf,ent,USD,1200,2025-09-25,2026-09-25
A8,Hotel,ent,EUR,0,2026-06-01,2027-06-01
CSV
cat >"$WORK/data/subscriptions.csv" <<'CSV'
id,account,mrr,currency,start,end,status
S1,A1,1000,EUR,2025-01-01,,active
S2,A2,2000,EUR,2025-03-01,2026-08-15,canceled
S3a,A3,500,EUR,2025-06-01,2026-08-01,ended
S3b,A3,800,EUR,2026-08-01,,active
S4a,A4,1500,EUR,2025-02-01,2026-09-01,ended
S4b,A4,1000,EUR,2026-09-01,,active
S5a,A5,400,EUR,2025-01-01,2026-07-15,ended
S5b,A5,900,EUR,2026-07-15,2026-08-20,ended
S5c,A5,400,EUR,2026-08-20,,active
S6,A6,300,EUR,2026-08-01,,active
S7,A7,100,USD,2025-01-01,,active
S8,A8,50,EUR,2026-06-01,,trialing
CSV
cat >"$WORK/data/surveys.csv" <<'CSV'
id,account,time,kind,score
R1,A1,2026-07-05T10:00:00Z,nps,10
R2,A2,2026-07-06T10:00:00Z,nps,9
R3,A3,2026-08-01T10:00:00Z,nps,9
R4,A4,2026-08-02T10:00:00Z,nps,7
R5,A5,2026-09-10T10:00:00Z,nps,5
R6,A1,2026-06-30T10:00:00Z,nps,0
R7,A1,2026-07-07T10:00:00Z,csat,5
R8,A3,2026-07-08T10:00:00Z,csat,4
R9,A4,2026-07-09T10:00:00Z,csat,2
CSV
cat >"$WORK/data/tickets.csv" <<'CSV'
id,account,opened,kind,tags,subject
T1,A1,2026-07-02T09:00:00Z,feature_request,export,CSV export please
T2,A4,2026-07-03T09:00:00Z,feature_request,"export,sso",Export and SSO
T3,A4,2026-08-03T09:00:00Z,feature_request,export,"Export, again"
T4,A7,2026-06-15T09:00:00Z,feature_request,sso,Before the period
T5,A1,2026-07-04T09:00:00Z,question,export,Not a request
CSV
cat >"$WORK/data/usage.csv" <<'CSV'
id,account,user,time,event
U1,A1,u1,2026-09-05T10:00:00Z,login
U2,A1,u1,2026-09-05T15:00:00Z,login
U3,A1,u1,2026-09-06T10:00:00Z,login
U4,A1,u2,2026-09-05T11:00:00Z,login
U5,A1,u3,2026-08-20T10:00:00Z,login
CSV
source_xml() { # source_xml NAME ENTITY FILE FIELD=COLUMN...
  local name=$1 entity=$2 file=$3
  shift 3
  echo "    <source name=\"$name\" component=\"csv\"><param name=\"path\">data/$file</param><map entity=\"$entity\">"
  for f in "$@"; do echo "      <field name=\"${f%%=*}\" from=\"${f#*=}\"/>"; done
  echo "    </map></source>"
}
stack() { # stack KPIS_XML: the config, with KPIS_XML as its <kpis>
  {
    echo '<?xml version="1.0"?>'
    echo '<kizuna version="1">'
    echo '  <store path="kizuna.db"/>'
    echo "  <plugins><dir>$KZ_TEST_PLUGIN_DIR</dir></plugins>"
    echo '  <sources>'
    source_xml crm account accounts.csv id=id name=name segment=segment currency=currency arr=arr \
      contract_start=contract_start renewal_date=renewal_date
    source_xml billing subscription subscriptions.csv id=id account_id=account mrr=mrr currency=currency \
      period_start=start period_end=end status=status
    source_xml surveys survey_answer surveys.csv id=id account_id=account time=time kind=kind score=score
    source_xml helpdesk ticket tickets.csv id=id account_id=account opened=opened kind=kind tags=tags \
      subject=subject
    source_xml usage usage_event usage.csv id=id account_id=account user_id=user time=time name=event
    echo '  </sources>'
    # health: the latest NPS answer, 0..10 -> 0..100; red under 60,
    # yellow under 80
    echo '  <measures><measure name="nps" kind="latest_nps"/></measures>'
    echo '  <scorers><scorer name="voice" component="weighted">'
    echo '    <param name="measures">nps weight=1 band=0..10</param></scorer></scorers>'
    echo '  <health><use scorer="voice"/><grade name="red" below="60"/><grade name="yellow" below="80"/>'
    echo '    <grade name="green"/></health>'
    echo "  $1"
    echo '</kizuna>'
  } >"$WORK/kizuna.xml"
}
kz() { KIZUNA_NOW=2026-09-20T12:00:00Z "$KIZUNA" --config "$WORK/kizuna.xml" "$@"; }

# one USD at 0.9 EUR
stack '<kpis currency="EUR"><rate currency="USD" value="0.9"/></kpis>'
run 0 kz sync
equals "$(kz quarantine --json | jq length)" 0 "nothing quarantined"
# the lifecycle's records, as `kizuna lifecycle` writes them: A6 onboarded
# on 2026-08-21 (20 days after its contract start); A3 and A1 entered the
# expansion phase in the period
us() { echo "$(date -u -d "$1" +%s)000000"; }
sqlite3 "$WORK/kizuna.db" <<SQL
INSERT INTO state_changes (account_id, time_us, what, from_value, to_value, run) VALUES
 ('A6', $(us 2026-08-21), 'success', NULL, 'onboarding', 1),
 ('A3', $(us 2026-07-20), 'phase', 'adoption', 'expansion', 1),
 ('A1', $(us 2026-08-01), 'phase', 'adoption', 'expansion', 1);
SQL
# the health at the start of Q3 (a run as of 07-01 sees the answers before
# it: A1's 0 of 06-30) and at its end (as of 10-01: A1 10, A2 9, A3 9, A4
# 7, A5 5; A6, A7, A8 have no answer and no grade)
run 0 kz score --as-of 2026-07-01
run 0 env KIZUNA_NOW=2026-10-01T12:00:00Z "$KIZUNA" --config "$WORK/kizuna.xml" score --as-of 2026-10-01
# phase, tier and owner as `kizuna lifecycle` and `kizuna assign` keep them
# (tiers: 1 tech, 2 low, 3 high; phases: 1 onboarding .. 5 churned), and
# the outbox: touches 1-5 written in Q3, 6 in June; the task of touch 2 done
# by ana in Q3, of touch 4 after Q3, of touch 6 (a June touch) by ben in Q3
sqlite3 "$WORK/kizuna.db" <<SQL
INSERT INTO account_state (account_id, phase, tier) VALUES
 ('A1', 3, 3), ('A3', 3, 2), ('A4', 2, 2), ('A5', 4, 1), ('A6', 1, 1), ('A2', 5, 2);
INSERT INTO touches (id, key, playbook, channel, account_id, trigger, subject, body, priority, created_us, status,
                     next_attempt_us) VALUES
 (1, 'k1', 'p', 'email', 'A1', 't', 's', 'b', 0, $(us 2026-07-10), 'delivered', 0),
 (2, 'k2', 'p', 'csm-task', 'A1', 't', 's', 'b', 0, $(us 2026-07-11), 'delivered', 0),
 (3, 'k3', 'p', 'email', 'A4', 't', 's', 'b', 0, $(us 2026-08-01), 'dead', 0),
 (4, 'k4', 'p', 'csm-task', 'A4', 't', 's', 'b', 0, $(us 2026-08-02), 'delivered', 0),
 (5, 'k5', 'p', 'email', 'A5', 't', 's', 'b', 0, $(us 2026-09-15), 'retry', 0),
 (6, 'k6', 'p', 'csm-task', 'A3', 't', 's', 'b', 0, $(us 2026-06-20), 'delivered', 0);
INSERT INTO tasks (touch_id, csm, account_id, playbook, title, body, created_us, status, done_us) VALUES
 (2, 'ana', 'A1', 'p', 't', 'b', $(us 2026-07-11), 'done', $(us 2026-07-15)),
 (4, 'ana', 'A4', 'p', 't', 'b', $(us 2026-08-02), 'done', $(us 2026-10-02)),
 (6, 'ben', 'A3', 'p', 't', 'b', $(us 2026-06-20), 'done', $(us 2026-07-02));
SQL
# the owners, as one current_owners row (core/store/owners.h)
python_with sqlite3 python3
"$py" "$(dirname "$0")/owners.py" set "$WORK/kizuna.db" A1=ana A3=ana A4=ben A6=ben

run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json
cp "$WORK/out" "$WORK/q3.json"
k() { jq -r ".kpis.$1" "$WORK/q3.json"; }
near() { # near KPI WANT: equal to 1e-9
  jq -e --argjson w "$2" ".kpis.$1 != null and ((.kpis.$1 - \$w) | fabs) < 1e-9" "$WORK/q3.json" >/dev/null ||
    fail "$1: expected $2, got $(k "$1")"
}
equals "$(jq -r .currency "$WORK/q3.json")" EUR "the report currency"
# MRR at 2026-07-01: A1 1000, A2 2000, A3 500, A4 1500, A5 400, A7 100 USD
# = 90 EUR; A6 starts later, A8 is a trial: cohort 6, start MRR 5490
near cohort 6
near mrr_start 5490
# at the period's last instant: A1 1000, A2 0 (cancelled 08-15), A3 800
# (+300), A4 1000 (-500), A5 400 (900 from 07-15 to 08-20, back to 400:
# no change), A6 300 (new), A7 90
near logos_churned 1
near logo_churn "$(echo '1/6' | bc -l)"
near logo_retention "$(echo '5/6' | bc -l)"
near churned_mrr 2000
near expansion_mrr 300
near contraction_mrr 500
# GRR = (5490 - 500 - 2000) / 5490; NRR = (5490 + 300 - 500 - 2000) / 5490
near grr "$(echo '2990/5490' | bc -l)"
near nrr "$(echo '3290/5490' | bc -l)"
near new_accounts 1
near accounts_end 6
# MRR at the end: 1000 + 800 + 1000 + 400 + 300 + 90 = 3590; ARPA / 6
near mrr_end 3590
near arpa "$(echo '3590/6' | bc -l)"
# renewals in Q3: A4 on 07-10 (paying then: renewed, 1500 came due), A2 on
# 08-15 (its subscription ended that day: not renewed, 2000 came due), A7
# on 09-25 (after the as-of: not yet decided, outside both rates); A6's
# anniversary 2026-08-01 is its contract start, not a renewal
near renewals_due 3
near renewed 1
near not_renewed 1
near renewals_pending 1
near renewal_rate 0.5
near renewal_rate_mrr "$(echo '1500/3500' | bc -l)"
# expansion: A3 grew; of the cohort of 6
near expanded 1
near upsell_rate "$(echo '1/6' | bc -l)"
# CSQLs: A3 (500 on entering 07-20, 800 at the end: won) and A1 (1000, 1000)
near csqls 2
near csqls_won 1
near expansion_success 0.5
# onboarding: A6 started (contract 08-01) and succeeded 08-21, no due
# window configured: done; time to value 20 days
near onboarding_started 1
near onboarding_done 1
near onboarding_rate 1
near time_to_value 20
# active users in 2026-09-01..09-30: u1 and u2 (u3 was in August): MAU 2;
# user-days (09-05 u1, 09-06 u1, 09-05 u2) = 3, DAU = 3/30, stickiness 0.05
near mau 2
near dau 0.1
near stickiness 0.05
# NPS in the period: 10, 9, 9, 7, 5 (06-30's 0 is before it): promoters 3,
# detractors 1: 100 (3 - 1) / 5 = 40. CSAT: 5, 4, 2: 2 of 3 satisfied
near nps_answers 5
near nps 40
near csat_answers 3
near csat "$(echo '2/3' | bc -l)"
# feature requests opened in Q3: T1, T2, T3 (T4 is earlier, T5 a question)
near feature_requests 3
equals "$(jq -c '[.feature_requests[] | [.name, .requests, .accounts, .arr]]' "$WORK/q3.json")" \
  '[["export",3,2,24000],["sso",1,1,12000]]' "export: A1 and A4 (12000 + 12000 ARR), sso: A4"
# health at the end (run as of 10-01: A1 100, A2 90, A3 90 green; A4 70
# yellow; A5 50 red) and at the start (as of 07-01: A1 0 red); the moves
equals "$(jq -c '[.health[] | [.name, .end, .start]]' "$WORK/q3.json")" \
  '[["red",1,1],["yellow",1,0],["green",3,0]]' "health per grade, end and start"
equals "$(jq -c '[.health_movement[] | [.name, .accounts]]' "$WORK/q3.json")" \
  '[["(none)>green",2],["(none)>red",1],["(none)>yellow",1],["red>green",1]]' "health movement"
# at risk: the red account at the end, A5 (4800 EUR ARR, no owner), its
# score all from nps: 100 x 5/10. What pulls it down: its nps
# contribution, 50, less the run's mean, (100 + 90 + 90 + 70 + 50) / 5 = 80
equals "$(jq -c '[.at_risk[] | [.id, .owner, .grade, .score, .arr, .top_measures]]' "$WORK/q3.json")" \
  '[["A5",null,"red",50,4800,"nps -30.0"]]' "at-risk accounts"
# a run stored before the store kept its scorers' outputs: the largest
# contributions instead, as `kizuna account` shows them
sqlite3 "$WORK/kizuna.db" "UPDATE score_runs SET outputs = NULL"
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json
equals "$(jq -r '.at_risk[0].top_measures' "$WORK/out")" "nps 50.0" "at risk from an older run"
sqlite3 "$WORK/kizuna.db" "UPDATE score_runs SET outputs = '{\"voice\":\"health\"}'"
# the phase funnel: A1, A3 expansion; A4 adoption; A5 renewal; A6
# onboarding; A2 churned
equals "$(jq -c '[.phases[] | [.name, .accounts]] | sort' "$WORK/q3.json")" \
  '[["adoption",1],["churned",1],["expansion",2],["onboarding",1],["renewal",1]]' "phase funnel"
# activity: touches 1-5 (1, 2, 4 delivered; 3 dead; 5 waiting), tasks done
# in Q3: touch 2's (ana) and touch 6's (ben; touch 4's is done after Q3)
near touches 5
near touches_delivered 3
near tasks_done 2
equals "$(jq -c '[.touches_by_channel[] | [.name, .written, .delivered, .dead, .waiting]]' "$WORK/q3.json")" \
  '[["csm-task",2,2,0,0],["email",3,1,1,1]]' "touches by channel"
# by tier: high A1 (touches 1, 2; task 2); low A2, A3, A4 (touches 3, 4;
# task 6 on A3); tech A5, A6 (touch 5); A7, A8 have no tier
equals "$(jq -c '[.activity_by_tier[] | [.name, .touches, .delivered, .tasks_done]]' "$WORK/q3.json")" \
  '[["(none)",0,0,0],["high",2,2,1],["low",2,1,1],["tech",1,0,0]]' "activity by tier"
# by CSM: touches count for the account's owner (ana: A1, A3; ben: A4,
# A6), tasks for the CSM who did them (ben did A3's)
equals "$(jq -c '[.activity_by_csm[] | [.name, .touches, .delivered, .tasks_done]]' "$WORK/q3.json")" \
  '[["(none)",1,0,0],["ana",2,2,1],["ben",2,1,1]]' "activity by CSM"
# GRR and NRR month by month: July (A5's upgrade, A2 still paying): start
# 5490, end 1000+2000+500+1500+900+90 = 5990, kept = 5490: GRR 1, NRR 5990/5490
equals "$(jq -r '.months | map(.name) | join(" ")' "$WORK/q3.json")" "2026-07 2026-08 2026-09" "the months"
jq -e --argjson n "$(echo '5990/5490' | bc -l)" '.months[0] | .grr == 1 and ((.nrr - $n) | fabs) < 1e-9' \
  "$WORK/q3.json" >/dev/null || fail "July: $(jq -c '.months[0]' "$WORK/q3.json")"

# the cut by segment: smb = A1..A4 (start 5000: GRR (5000-500-2000)/5000 =
# 0.5, NRR (5000+300-500-2000)/5000 = 0.56); ent = A5, A7 (490 -> 490)
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json --by segment
jq -e '[.groups[] | {(.name): [.kpis.cohort, .kpis.grr, .kpis.nrr]}] | add == {"smb": [4, 0.5, 0.56], "ent": [2, 1, 1]}' \
  "$WORK/out" >/dev/null || fail "by segment: $(jq -c '[.groups[] | [.name, .kpis.cohort, .kpis.grr, .kpis.nrr]]' "$WORK/out")"
equals "$(jq .kpis.grr "$WORK/out")" "$(k grr)" "the book's GRR does not change with the cut"
# the cuts by what the lifecycle and the assignment keep: the cohort (A1,
# A2, A3, A4, A5, A7) by tier (high A1; low A2, A3, A4; tech A5; A7 has
# none), by owner (ana A1, A3; ben A4; A2, A5, A7 have none) and by team
# (no account has one)
cohorts() { jq -c '[.groups[] | [.name, .kpis.cohort]]' "$WORK/out"; }
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json --by tier
equals "$(cohorts)" '[["(none)",1],["high",1],["low",3],["tech",1]]' "cohort by tier"
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json --by csm
equals "$(cohorts)" '[["(none)",3],["ana",2],["ben",1]]' "cohort by CSM"
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format json --by team
equals "$(cohorts)" '[["(none)",6]]' "cohort by team"

# CSV: the same numbers as the JSON, one KPI a line
run 0 kz report --period 2026-Q3 --as-of 2026-09-20 --format csv
head -1 "$WORK/out" | tr -d '\r' >"$WORK/head"
equals "$(cat "$WORK/head")" "from,to,currency,cut,group,kpi,value" "the CSV header"
for key in cohort grr nrr renewal_rate nps csat mrr_end time_to_value; do
  v=$(tr -d '\r' <"$WORK/out" | awk -F, -v k="$key" '$4 == "all" && $6 == k { print $7 }')
  jq -e --argjson v "$v" ".kpis.$key == \$v" "$WORK/q3.json" >/dev/null || fail "CSV $key = $v, JSON $(k "$key")"
done

# text
run 0 kz report --period 2026-Q3 --as-of 2026-09-20
contains "$WORK/out" "KPIs 2026-07-01 .. 2026-09-30"
contains "$WORK/out" "Gross revenue retention (GRR)    54.5%"
contains "$WORK/out" "Not yet decided                  1"

# a period with no starting accounts: nothing to divide by, so no rate
run 0 kz report --period 2024-Q1 --as-of 2026-09-20 --format json
equals "$(jq -c '.kpis | [.cohort, .logo_churn, .grr, .nrr, .renewal_rate, .arpa, .nps]' "$WORK/out")" \
  "[0,null,null,null,null,null,null]" "rates of an empty cohort are undefined, not 0"

# feedback for the product team
run 0 kz feedback --period 2026-Q3 --csv
tr -d '\r' <"$WORK/out" >"$WORK/fb.csv"
equals "$(head -1 "$WORK/fb.csv")" "ticket,opened,tag,account,account_name,arr,currency,status,subject" "feedback header"
equals "$(sed 1d "$WORK/fb.csv" | cut -d, -f1,3,4 | tr '\n' ' ')" "T1,export,A1 T2,export,A4 T2,sso,A4 T3,export,A4 " \
  "one line per request and tag, in the period only"
contains "$WORK/fb.csv" '"Export, again"'
run 0 kz feedback
contains "$WORK/out" "export"
run 0 kz feedback --json
equals "$(jq -c '[.tags[] | [.name, .requests, .accounts]]' "$WORK/out")" '[["export",3,2],["sso",2,2]]' \
  "without a period, every request: T4 adds sso for A7; T5 is a question, not a request"

# money in a currency without a rate is refused, naming it and where
stack '<kpis currency="EUR"/>'
run 1 kz report --period 2026-Q3
contains "$WORK/err" "subscription S7 is in USD, which has no rate into the report currency EUR"
stack ''
run 1 kz report --period 2026-Q3
contains "$WORK/err" "the store holds money in EUR, USD"
stack '<kpis><rate currency="USD" value="0.9"/></kpis>'
run 1 kz check
contains "$WORK/out" "rates need the currency they convert into"

# bad arguments
stack '<kpis currency="EUR"><rate currency="USD" value="0.9"/></kpis>'
run 2 kz report --period 2026-Q5
contains "$WORK/err" "a quarter (2026-Q3), a month (2026-07) or a year (2026)"
run 2 kz report --by planet
contains "$WORK/err" "one of segment, tier, region, team, csm"
run 2 kz report --format pdf
run 2 kz report --period 2026-Q3 --from 2026-07-01
run 0 kz report --from 2026-07-01 --to 2026-09-30 --as-of 2026-09-20 --format json
equals "$(jq .kpis.grr "$WORK/out")" "$(k grr)" "--from/--to with both days included = the quarter"
