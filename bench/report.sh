#!/usr/bin/env bash
# bench/report.sh — how fast `kizuna report` computes the CS KPIs of a
# large company: 1 million accounts with 3 years of subscription history.
# Target: under 3 s per `kizuna report` at 1 million accounts.
#
# Generates N accounts (bench/gen_subs.c, built here with cc -O2) into a
# private temp directory, the data ending on 2026-10-31: 8 regions, the
# segments smb/mid/ent, money in EUR (75%), USD (20%) and GBP (5%),
# contracts started over the 3 years up to then (15% earlier); about 3
# subscriptions per account over the 3 years (plan changes, 10% a year
# cancelled on a contract anniversary, a few trials); about 0.9 survey
# answers (NPS and CSAT) per account over the last year; 0.5 helpdesk
# tickets per account over the last two years, 0.3 of them feature
# requests with tags; and 61 days of product usage for 1% of the paying
# accounts. The stack config reads the five CSV files with the csv plugin
# and reports in EUR (USD at 0.92, GBP at 1.17); a health model (the
# weighted scorer over the latest NPS, open tickets and the MRR trend), a
# lifecycle on the contract dates and touch tiers by segment give the
# reports grades, at-risk accounts, phases and tiers to read.
#
# Untimed, it syncs everything (and prints how long it took and what it
# stored), then scores the book and evaluates the lifecycle as of
# 2026-10-01 (the end of Q3). It then times, --runs times each, every command under
# /usr/bin/time (wall seconds and peak RSS), with KIZUNA_NOW pinned to
# 2026-11-01T12:00:00Z and the page cache's dirty pages flushed (sync)
# before each run (warm page cache):
#
#   kizuna report --period 2026-Q3 --format json -o FILE                the whole book
#   kizuna report --period 2026-Q3 --by tier --format json -o FILE      and per touch tier
#   kizuna report --from 2024-01-01 --to 2026-10-31 --format json -o FILE
#                                      the 3 years: 34 monthly GRR/NRR points
#   kizuna report --period 2026-Q3 --format html -o FILE                one HTML page
#
# After every run it checks that the command exited 0 and that its output
# covers the whole book, against figures the sqlite3 shell computes from
# the store beforehand (untimed): the JSON parses; the cohort (the
# accounts paying at the period's start) is exactly the number of
# accounts with a non-trial subscription running then (at least 60% of the
# accounts), with the same MRR (to 1e-9 relative); the NPS answers and the
# feature requests are those of the period; the months are 3 (Q3) or 34
# (the 3 years), each with a cohort; the health grades count every
# account the score run graded and the ten at-risk accounts each have
# their top measures; the tiers are high, low and tech and their cohorts
# add up to the book's; the HTML page shows the same cohort.
#
# Usage: bench/report.sh [options] [N]
#   N                      how many accounts (default 1000000; 1000 to 9999999)
#   --runs N               timed runs per command (default 3); the table gives the median
#                          and the range
#   --build                run an incremental build of kizuna, the csv and the weighted plugin first
#                          (without it, the build happens only when they are missing)
#   --keep                 keep the generated data and store (their directory is printed)
#
# The markdown table goes to stdout; progress, the sync, the key figures
# of the reports, the checks and the verdict against the 3 s target go to
# stderr. The data and the store take about 1.2 KB per account under
# $TMPDIR and are removed at the end (--keep keeps them).
#
# A benchmark, not a test: it exits non-zero when it could not run
# (missing tools, a failed build, a command that failed) or when a check
# shows a timed run did not do the whole job (then the figures do not
# count), never because of the figure it measured.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

accounts=1000000
runs=3

parse_args 1 "--runs:runs:a number:^[1-9][0-9]*$" --build:build --keep:keep -- "$@"
if [ ${#positional[@]} -eq 1 ]; then accounts=${positional[0]}; fi
if ! [[ "$accounts" =~ ^[1-9][0-9]{3,6}$ ]]; then
    die "N must be a number from 1000 to 9999999, not '$accounts'"
fi

# The last day of the data, and the day the reports run on.
end_day=2026-10-31
export KIZUNA_NOW=2026-11-01T12:00:00Z
target=3 # seconds

# ---- tools ------------------------------------------------------------------

want cc gcc
want jq
want sqlite3
want /usr/bin/time time
if [ "$build" -eq 1 ] || ! kizuna_built csv weighted; then
    build=1
    want cmake
fi
install_wanted

# ---- build kizuna -----------------------------------------------------------

build_kizuna "kizuna, the csv and the weighted plugin" csv weighted

make_work "the data and the store"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$repo/build/CMakeCache.txt" 2>/dev/null || true)
copy_kizuna " (CMAKE_BUILD_TYPE ${build_type:-unknown})"
note "machine: $(nproc) cores, $(cpu_model), $(ram); load average $(loadavg)"

# ---- generate ---------------------------------------------------------------

# About 400 bytes of CSV per account and 1 KB of store after the sync.
need_space $((accounts * 3 / 2)) "$accounts accounts"

build_c gen_subs -lm
data="$work/data"
mkdir "$data" "$data/out"
t0=$(now_ms)
"$work/gen_subs" "$accounts" "$data" "$end_day" || die "gen_subs $accounts failed"
note "generated $accounts accounts in $(secs $(($(now_ms) - t0))):"
files=(accounts subscriptions surveys tickets usage)
declare -A rows
csv_kb=0
for f in "${files[@]}"; do
    rows[$f]=$(($(wc -l <"$data/$f.csv") - 1))
    kb=$(($(stat -c %s "$data/$f.csv") / 1024))
    csv_kb=$((csv_kb + kb))
    note "  $f.csv: ${rows[$f]} rows, $(mib "$kb")"
done

# source NAME ENTITY FILE FIELD=COLUMN...: a csv source of the stack config.
source_xml() {
    local name=$1 entity=$2 file=$3 f
    shift 3
    echo "    <source name=\"$name\" component=\"csv\">"
    echo "      <param name=\"path\">$file</param>"
    echo "      <map entity=\"$entity\">"
    for f in "$@"; do echo "        <field name=\"${f%%=*}\" from=\"${f#*=}\"/>"; done
    echo "      </map>"
    echo "    </source>"
}
stack="$data/kizuna.xml"
{
    echo '<?xml version="1.0"?>'
    echo '<kizuna version="1">'
    echo '  <store path="kz.db"/>'
    echo '  <sources>'
    source_xml crm account accounts.csv id=id name=name region=region segment=segment currency=currency \
        arr=arr contract_start=contract_start renewal_date=renewal_date
    source_xml billing subscription subscriptions.csv id=id account_id=account currency=currency mrr=mrr \
        period_start=start period_end=end status=status
    source_xml surveys survey_answer surveys.csv id=id account_id=account time=time kind=kind score=score
    source_xml helpdesk ticket tickets.csv id=id account_id=account opened=opened kind=kind status=status \
        tags=tags subject=subject
    source_xml usage usage_event usage.csv id=id account_id=account user_id=user time=time name=event
    echo '  </sources>'
    # health from the voice of the customer, open tickets and revenue
    # trend; phases from the contract dates; tiers from the segment
    cat <<'XML'
  <measures>
    <measure name="nps" kind="latest_nps" window="365d"/>
    <measure name="open_tickets" kind="open_tickets"/>
    <measure name="mrr_trend" kind="mrr_change" window="90d"/>
  </measures>
  <scorers>
    <scorer name="voice" component="weighted">
      <param name="measures">nps weight=2 band=3..9; open_tickets weight=1 band=3..0; mrr_trend weight=1 band=-0.3..0.1</param>
    </scorer>
  </scorers>
  <health><use scorer="voice"/><grade name="red" below="40"/><grade name="yellow" below="70"/><grade name="green"/></health>
  <lifecycle>
    <phase name="onboarding" enter="contract_start &lt;= today" success="nps &gt;= 7" due="45d" due_from="contract_start"/>
    <phase name="adoption" enter="contract_days &gt; 90"/>
    <phase name="expansion"/>
    <phase name="renewal" enter="renewal_days BETWEEN 0 AND 90" exit="NOT renewal_days BETWEEN 0 AND 90"/>
  </lifecycle>
  <tiers><tier name="high" when="segment = 'ent'"/><tier name="low" when="segment = 'mid'"/><tier name="tech"/></tiers>
XML
    echo '  <kpis currency="EUR"><rate currency="USD" value="0.92"/><rate currency="GBP" value="1.17"/></kpis>'
    echo '</kizuna>'
} >"$stack"
"$kizuna" --config "$stack" check >"$data/check.out" 2>&1 || {
    indent "$data/check.out"
    die "kizuna check refuses the generated stack config $stack"
}

# ---- sync -------------------------------------------------------------------

note "syncing (untimed)"
run_noting "kizuna sync" "$data/sync.out" /usr/bin/time -f '%e %M' -o "$data/sync.time" \
    "$kizuna" --config "$stack" sync
indent "$data/sync.out"
read -r sync_s sync_kb <"$data/sync.time"
q1() { sqlite3 "$data/kz.db" "$1"; }
declare -A tables=([accounts]=accounts [subscriptions]=subscriptions [surveys]=survey_answers
    [tickets]=tickets [usage]=usage_events)
for f in "${files[@]}"; do
    stored=$(q1 "SELECT count(*) FROM ${tables[$f]}")
    [ "$stored" -eq "${rows[$f]}" ] || die "the sync stored $stored of the ${rows[$f]} rows of $f.csv"
done
quarantined=$(q1 'SELECT count(*) FROM quarantine')
[ "$quarantined" -eq 0 ] || die "the sync quarantined $quarantined rows (kizuna --config $stack quarantine)"
q1 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
store_kb=$(($(stat -c %s "$data/kz.db") / 1024))
sub_rows=${rows[subscriptions]}
note "synced in $sync_s s (peak RSS $(mib "$sync_kb")): every row of the five files stored, none quarantined;" \
    "CSV $(mib "$csv_kb"), store $(mib "$store_kb")"

# the health run and the lifecycle as of the end of Q3, so that the
# reports have grades, at-risk accounts, phases and tiers to read
run_noting "kizuna score" "$data/score.json" /usr/bin/time -f '%e %M' -o "$data/score.time" \
    "$kizuna" --config "$stack" score --as-of 2026-10-01 --json
read -r score_s _ <"$data/score.time"
run_noting "kizuna lifecycle" "$data/lifecycle.out" /usr/bin/time -f '%e %M' -o "$data/lifecycle.time" \
    "$kizuna" --config "$stack" lifecycle --as-of 2026-10-01
read -r lifecycle_s _ <"$data/lifecycle.time"
graded=$(jq '[.grades | to_entries[] | select(.key != "unscored") | .value] | add' "$data/score.json")
q1 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
store_kb=$(($(stat -c %s "$data/kz.db") / 1024))
note "scored as of 2026-10-01 in $score_s s ($graded accounts graded: $(jq -c .grades "$data/score.json"));" \
    "lifecycle and tiers in $lifecycle_s s; store $(mib "$store_kb")"

# ---- what the reports must show ---------------------------------------------

us() { echo "$(date -u -d "$1" +%s)000000"; }
q3_from=$(us 2026-07-01) q3_to=$(us 2026-10-01)
y3_from=$(us 2024-01-01) y3_to=$(us 2026-11-01)
# cohort_at T: "accounts MRR" of the accounts with MRR > 0 at instant T
# (non-trial subscriptions running at T, in EUR)
cohort_at() {
    q1 "SELECT count(*) || ' ' || printf('%.4f', total(m)) FROM (SELECT sum(mrr_minor / 100.0 *
        CASE currency WHEN 'USD' THEN 0.92 WHEN 'GBP' THEN 1.17 ELSE 1 END) AS m FROM subscriptions
        WHERE status != 1 AND period_start_us <= $1 AND (period_end_us IS NULL OR period_end_us > $1)
        GROUP BY account_id) WHERE m > 0"
}
# counts FROM TO: "NPS answers, feature requests" in [FROM, TO)
counts() {
    echo "$(q1 "SELECT count(*) FROM survey_answers WHERE kind = 1 AND time_us >= $1 AND time_us < $2")" \
        "$(q1 "SELECT count(*) FROM tickets WHERE kind = 5 AND opened_us >= $1 AND opened_us < $2")"
}
read -r q3_cohort q3_mrr < <(cohort_at "$q3_from")
read -r y3_cohort y3_mrr < <(cohort_at "$y3_from")
read -r q3_nps q3_requests < <(counts "$q3_from" "$q3_to")
read -r y3_nps y3_requests < <(counts "$y3_from" "$y3_to")
note "expected: 2026-Q3 cohort $q3_cohort (MRR $q3_mrr EUR), $q3_nps NPS answers, $q3_requests feature requests;" \
    "2024-01-01..2026-10-31 cohort $y3_cohort (MRR $y3_mrr EUR), $y3_nps NPS answers, $y3_requests feature requests"
[ $((q3_cohort * 10)) -ge $((accounts * 6)) ] ||
    die "the data is off: $q3_cohort accounts pay on 2026-07-01, less than 60% of $accounts"

# ---- time -------------------------------------------------------------------

labels=(q3 tier years html)
declare -A cmd_text args ext
cmd_text[q3]="kizuna report --period 2026-Q3 --format json"
cmd_text[tier]="kizuna report --period 2026-Q3 --by tier --format json"
cmd_text[years]="kizuna report --from 2024-01-01 --to 2026-10-31 --format json"
cmd_text[html]="kizuna report --period 2026-Q3 --format html"
for c in "${labels[@]}"; do
    args[$c]=${cmd_text[$c]#kizuna }
    ext[$c]=${args[$c]##* }
done

# timed LABEL OUT CMD...: runs CMD under /usr/bin/time with stdout to OUT,
# after flushing dirty pages; dies when it fails. Sets $wall (s) and $rss (KiB).
timed() {
    local label=$1 out=$2
    shift 2
    sync
    /usr/bin/time -f '%e %M' -o "$data/time.txt" "$@" >"$out" 2>"$out.err" ||
        die "$label failed (its output: $out, $out.err)"
    read -r wall rss <"$data/time.txt"
}

# near A B: A equals B to 1e-9 relative
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= 1e-9 * (m > 1 ? m : 1)) }'; }
# check_book WHAT FILE COHORT MRR NPS REQUESTS MONTHS: the JSON report FILE
# covers the whole book
check_book() {
    local what=$1 file=$2 got
    if ! jq -e . "$file" >/dev/null 2>&1; then
        problems+=("$what: the output is not JSON")
        return
    fi
    read -r got_cohort got_mrr got_nps got_requests got_months got_empty < <(jq -r '[.kpis.cohort, .kpis.mrr_start,
        .kpis.nps_answers, .kpis.feature_requests, (.months | length),
        ([.months[] | select((.cohort // 0) <= 0)] | length)] | map(tostring) | join(" ")' "$file")
    [ "$got_cohort" = "$3" ] || problems+=("$what: cohort $got_cohort, not $3")
    near "$got_mrr" "$4" || problems+=("$what: mrr_start $got_mrr, not $4")
    [ "$got_nps" = "$5" ] || problems+=("$what: $got_nps NPS answers, not $5")
    [ "$got_requests" = "$6" ] || problems+=("$what: $got_requests feature requests, not $6")
    [ "$got_months" = "$7" ] || problems+=("$what: $got_months months, not $7")
    [ "$got_empty" = 0 ] || problems+=("$what: $got_empty months without a cohort")
    # the score run as of the end of Q3: every graded account, ten at risk
    got=$(jq '[.health[].end] | add' "$file")
    [ "$got" = "$graded" ] || problems+=("$what: $got accounts per grade, not the $graded graded")
    got=$(jq '[.at_risk[] | select(.top_measures != "")] | length' "$file")
    [ "$got" = 10 ] || problems+=("$what: $got at-risk accounts explained, not 10")
    if [ "$what" = tier ]; then
        got=$(jq -r '[.groups[].name] | join(" ")' "$file")
        [ "$got" = "high low tech" ] || problems+=("tier: the groups are '$got', not 'high low tech'")
        got=$(jq -r '[.groups[].kpis.cohort] | add' "$file")
        [ "$got" = "$3" ] || problems+=("tier: the groups' cohorts add up to $got, not $3")
    fi
}
check_html() {
    if [ ! -s "$1" ]; then
        problems+=("html: the page is empty")
    elif ! grep -qF "data-group=\"all\" data-kpi=\"cohort\" data-value=\"$q3_cohort\"" "$1"; then
        problems+=("html: the page does not show the cohort $q3_cohort")
    fi
}

declare -A secs_of rss_of
for c in "${labels[@]}"; do secs_of[$c]="" rss_of[$c]=""; done
note "timing, $runs run(s) per command, in rounds (warm page cache)"
t_start=$(now_ms)
for ((r = 1; r <= runs; r++)); do
    line=""
    for c in "${labels[@]}"; do
        out="$data/out/$c.${ext[$c]}"
        rm -f "$out"
        # shellcheck disable=SC2086 # args[$c] is the command's words
        timed "${cmd_text[$c]}" "$data/out/$c.stdout" "$kizuna" --config "$stack" ${args[$c]} -o "$out"
        secs_of[$c]+="${secs_of[$c]:+ }$wall" rss_of[$c]+="${rss_of[$c]:+ }$rss"
        line+=" $c $wall s,"
        case $c in
        q3 | tier) check_book "$c" "$out" "$q3_cohort" "$q3_mrr" "$q3_nps" "$q3_requests" 3 ;;
        years) check_book "$c" "$out" "$y3_cohort" "$y3_mrr" "$y3_nps" "$y3_requests" 34 ;;
        html) check_html "$out" ;;
        esac
    done
    note "  run $r:${line%,}"
done
note "timed in $((($(now_ms) - t_start) / 1000)) s; load average $(loadavg)"

# ---- report -----------------------------------------------------------------

note ""
pct='def pct: if . == null then "-" else "\(. * 1000 | round / 10)%" end;'
note "2026-Q3, the whole book: $(jq -r "$pct"' .kpis | "cohort \(.cohort), logo churn \(.logo_churn | pct), "
    + "GRR \(.grr | pct), NRR \(.nrr | pct), renewals due \(.renewals_due), renewal rate \(.renewal_rate | pct), "
    + "MAU \(.mau), NPS \(.nps | if . == null then "-" else . * 10 | round / 10 end) (\(.nps_answers) answers), "
    + "feature requests \(.feature_requests)"' "$data/out/q3.json")"
note "by tier (cohort, GRR, NRR): $(jq -r "$pct"' [.groups[] | "\(.name) \(.kpis.cohort) "
    + "\(.kpis.grr | pct) \(.kpis.nrr | pct)"] | join(", ")' "$data/out/tier.json")"
note "health at the end of Q3: $(jq -c '[.health[] | {(.name): .end}] | add' "$data/out/q3.json"), at risk first:" \
    "$(jq -r '.at_risk[0] | "\(.id) (\(.grade), \(.top_measures))"' "$data/out/q3.json")"
note "the 3 years, monthly GRR: $(jq -r "$pct"' [.months[].grr] | "\(min | pct) to \(max | pct), "
    + "first \(.[0] | pct), last \(.[-1] | pct)"' "$data/out/years.json")"
sizes=""
for c in "${labels[@]}"; do
    sizes+="${sizes:+, }$c.${ext[$c]} $(($(stat -c %s "$data/out/$c.${ext[$c]}") / 1024)) KiB"
done
note "outputs: $sizes"

# median and range of whitespace-separated numbers
median() {
    tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END {
        printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() { tr ' ' '\n' <<<"$1" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f–%.2f", lo, hi }'; }
max_of() { tr ' ' '\n' <<<"$1" | sort -g | tail -1; }

echo "| Command | Median [s] | Range [s] | Peak RSS [MiB] |"
echo "|:---|---:|---:|---:|"
verdict=met
slow=()
for c in "${labels[@]}"; do
    # shellcheck disable=SC2016 # the backquotes are markdown
    printf '| `%s` | %s | %s | %s |\n' "${cmd_text[$c]}" "$(median "${secs_of[$c]}")" "$(range "${secs_of[$c]}")" \
        "$(awk -v k="$(max_of "${rss_of[$c]}")" 'BEGIN { printf "%.0f", k / 1024 }')"
    for s in ${secs_of[$c]}; do
        if ! awk -v s="$s" -v t="$target" 'BEGIN { exit !(s < t) }'; then
            verdict="not met"
            slow+=("$c")
            break
        fi
    done
done
echo ""
echo "Untimed, for reference: sync $sync_s s (peak RSS $(mib "$sync_kb")), score $score_s s, lifecycle" \
    "$lifecycle_s s; CSV $(mib "$csv_kb"), store $(mib "$store_kb")."
echo ""
echo "$accounts accounts, $sub_rows subscriptions, ${rows[surveys]} survey answers, ${rows[tickets]} tickets," \
    "${rows[usage]} usage events; $runs run(s) per command: median (min–max), peak RSS the largest."

fail_on_problems "the timed runs"
note "ok: every run exited 0 and reported the whole book: the cohorts, their MRR, the NPS answers and the" \
    "feature requests the store holds for the period, every month, every tier, every graded account"
note "target: every kizuna report under $target s (at 1 million accounts; this run: $accounts): $verdict${slow[*]:+ (over it: ${slow[*]})}"
