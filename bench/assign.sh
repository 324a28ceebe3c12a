#!/usr/bin/env bash
# bench/assign.sh — how fast `kizuna assign` assigns owners to a large book
# of business with each of the three bundled organization models
# (allrounder, specialist, area). Target: under 2 s per `kizuna assign`
# at 1 million accounts and 2,000 CSMs.
#
# Generates N accounts (bench/gen_org.c, built here with cc -O2) into a
# private temp directory: 10 regions, plans and ARR such that the touch
# tiers split about 5% high / 25% low / 70% tech, contracts started over
# the 3 years up to the pinned day, renewals 1 to 365 days ahead, 2%
# cancelled, 15% with an expansion signal. The stack config has a
# lifecycle whose conditions read account fields and traits only (no
# usage events), so that the phases spread as onboarding about 7%,
# adoption 56%, expansion 11%, renewal 24%, churned 2%; tier rules on ARR
# and plan; three <orgmodel> instances; and one <organization> that
# serves all three models: 2,000 CSMs (at 1 million accounts) in 10 region
# teams (high and low touch), 4 phase teams (onboarding, adoption,
# expansion, renewal: tech and some low touch) and a concierge team (high
# touch), with capacities that cover the book but for a small shortfall.
# Smaller books keep the 2,000 CSMs and scale their capacities.
#
# Untimed, it syncs the accounts. It then times, each command under
# /usr/bin/time (wall seconds and peak RSS), with KIZUNA_NOW pinned:
#
#   kizuna lifecycle                first evaluation of the synced store (for reference)
#   kizuna lifecycle                the same day again: nothing changes
#   and per model, --runs times, each on a fresh copy of the evaluated store
#   (the <organization model=...> switched):
#   kizuna assign  (first)          every account new: the current owners as one
#                                   current_owners row, the owner changes as one
#                                   owner_changes row
#   kizuna assign  (stable)         the same again: nothing changes, nothing written
#
# Before each timed run the page cache's dirty pages are flushed (sync).
# After each pair it checks the summaries (N accounts; the first run: none
# kept, every assigned account new; the second: every assigned account
# kept, nothing new or moved) and the store: as many owners in
# current_owners (decoded by tests/cli/owners.py) and owner changes in
# owner_changes as accounts assigned,
# none added by the second run, two assign runs, and no lifecycle
# evaluated by `kizuna assign` (today's was stored already).
#
# Usage: bench/assign.sh [options] [N]
#   N                      how many accounts (default 1000000; 1000 to 9999999)
#   --runs N               timed runs per model (default 3); the table gives the median
#                          and the range
#   --build                run an incremental build of kizuna, the csv and the orgmodels
#                          plugin first (without it, the build happens only when they are missing)
#   --keep                 keep the generated data and databases (their directory is printed)
#
# The markdown table goes to stdout; progress, the assignment summaries,
# the checks and the verdict against the 2 s target go to stderr. The data
# and databases take about 1.5 KB per account under $TMPDIR and are
# removed at the end (--keep keeps them).
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

# The day everything is evaluated on: the generator's "today" and KIZUNA_NOW.
today=2026-03-01
export KIZUNA_NOW="${today}T12:00:00Z"
models=(allrounder specialist area)

# ---- tools ------------------------------------------------------------------

want cc gcc
want sqlite3
want /usr/bin/time time
want /usr/bin/python3 python3 # tests/cli/owners.py decodes the stored owners
if [ "$build" -eq 1 ] || ! kizuna_built csv orgmodels; then
    build=1
    want cmake
fi
install_wanted

# ---- build kizuna -----------------------------------------------------------

build_kizuna "kizuna, the csv and the orgmodels plugin" csv orgmodels

make_work "the data and databases"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$repo/build/CMakeCache.txt" 2>/dev/null || true)
copy_kizuna " (CMAKE_BUILD_TYPE ${build_type:-unknown})"
note "orgmodels plugin: sha256 $(sha12 "$KIZUNA_PLUGIN_PATH/orgmodels.so")"
note "machine: $(nproc) cores, $(cpu_model), $(ram); load average $(loadavg)"

# ---- generate ---------------------------------------------------------------

# About 70 bytes of CSV per account; the store takes about 180 bytes per
# account after the sync, 440 after the lifecycle and 610 after an
# assignment; the base store and one working copy are kept. Ask for 1.5 KiB.
need_space $((accounts * 3 / 2)) "$accounts accounts"

build_c gen_org -lm
data="$work/data"
mkdir "$data"
t0=$(now_ms)
"$work/gen_org" "$accounts" "$data" "$today" || die "gen_org $accounts failed"
note "generated $accounts accounts in $(secs $(($(now_ms) - t0)))" \
    "($(mib $(($(stat -c %s "$data/accounts.csv") / 1024)))): $data/accounts.csv"

# The organization: TEAM:CSMS per region team (CSMs in proportion to the
# region's share of the book, as gen_org.c draws it) and per phase team (in
# proportion to the tech-touch accounts each phase holds), and the
# concierge team: 2,000 CSMs in all.
region_teams="tokyo:200 osaka:120 seoul:100 singapore:100 sydney:80 london:120 frankfurt:80 newyork:110 chicago:48 saopaulo:40"
phase_teams="onboarding:66 adoption:536 expansion:106 renewal:232"
concierge=62
# cap C: capacity C (what a CSM holds at 1 million accounts) scaled to the
# book, at least 1.
cap() { awk -v c="$1" -v n="$accounts" 'BEGIN { v = int(c * n / 1000000 + 0.5); print v < 1 ? 1 : v }'; }
region_high=$(cap 50) region_low=$(cap 250)
phase_low=$(cap 60) phase_tech=$(cap 725)
concierge_high=$(cap 100)

org_xml="$data/organization.xml"
{
    for t in $region_teams; do
        echo "    <team id=\"area-${t%%:*}\" function=\"area\" regions=\"${t%%:*}\"/>"
    done
    for t in $phase_teams; do
        echo "    <team id=\"${t%%:*}\" function=\"${t%%:*}\" phases=\"${t%%:*}\"/>"
    done
    echo '    <team id="concierge" function="concierge" tiers="high"/>'
    c=0
    for t in $region_teams; do
        for ((k = 0; k < ${t##*:}; k++)); do
            c=$((c + 1))
            printf '    <csm id="csm-%04d" team="area-%s" region="%s" high="%s" low="%s"/>\n' \
                "$c" "${t%%:*}" "${t%%:*}" "$region_high" "$region_low"
        done
    done
    for t in $phase_teams; do
        for ((k = 0; k < ${t##*:}; k++)); do
            c=$((c + 1))
            printf '    <csm id="csm-%04d" team="%s" low="%s" tech="%s"/>\n' "$c" "${t%%:*}" "$phase_low" "$phase_tech"
        done
    done
    for ((k = 0; k < concierge; k++)); do
        c=$((c + 1))
        printf '    <csm id="csm-%04d" team="concierge" high="%s"/>\n' "$c" "$concierge_high"
    done
} >"$org_xml"
n_csms=$(grep -c '<csm ' "$org_xml")
n_teams=$(grep -c '<team ' "$org_xml")

# stack_xml MODEL: the stack config with <organization model="MODEL">.
stack_xml() {
    cat <<'EOF'
<?xml version="1.0"?>
<kizuna version="1">
  <store path="kz.db"/>
  <sources>
    <source name="crm" component="csv">
      <param name="path">accounts.csv</param>
      <map entity="account">
        <field name="id" from="id"/><field name="region" from="region"/><field name="plan" from="plan"/>
        <field name="arr" from="arr"/><field name="currency" from="currency"/>
        <field name="contract_start" from="contract_start"/><field name="renewal_date" from="renewal_date"/>
        <trait name="status" from="status"/><trait name="signal" from="signal"/>
      </map>
    </source>
  </sources>
  <lifecycle>
    <phase name="onboarding" enter="contract_start &lt;= today" success="contract_days &gt;= 90"/>
    <phase name="adoption"/>
    <phase name="expansion" enter="trait.signal = 'expansion'"/>
    <phase name="renewal" enter="renewal_days &lt;= 90" exit="renewal_days &gt; 90"/>
    <phase name="churned" enter="trait.status = 'cancelled'" exit="trait.status = 'active'"/>
  </lifecycle>
  <tiers>
    <tier name="high" when="arr &gt;= 100000"/>
    <tier name="low" when="plan = 'business'"/>
    <tier name="tech"/>
  </tiers>
  <orgmodels>
    <orgmodel name="allrounder" component="allrounder"/>
    <orgmodel name="specialist" component="specialist"/>
    <orgmodel name="area" component="area"/>
  </orgmodels>
EOF
    echo "  <organization model=\"$1\">"
    cat "$org_xml"
    printf '  </organization>\n</kizuna>\n'
}
for m in "${models[@]}"; do
    stack_xml "$m" >"$data/$m.xml"
    "$kizuna" --config "$data/$m.xml" check >"$data/check.out" 2>&1 || {
        indent "$data/check.out"
        die "kizuna check refuses the generated stack config $data/$m.xml"
    }
done
note "organization: $n_csms CSMs in $n_teams teams; capacities per CSM: region teams high $region_high," \
    "low $region_low; phase teams low $phase_low, tech $phase_tech; concierge high $concierge_high"

# ---- sync and lifecycle -----------------------------------------------------


stack="$data/${models[0]}.xml"
note "syncing $accounts accounts (untimed)"
run_noting "kizuna sync" "$data/sync.out" "$kizuna" --config "$stack" sync
indent "$data/sync.out"
stored=$(sqlite3 "$data/kz.db" 'SELECT count(*) FROM accounts')
[ "$stored" -eq "$accounts" ] || die "the sync stored $stored of $accounts accounts"
note "synced in $(secs "$took")"

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

timed "the first kizuna lifecycle" "$data/lifecycle-1.out" "$kizuna" --config "$stack" lifecycle
lc_first="$wall $rss"
timed "the second kizuna lifecycle" "$data/lifecycle-2.out" "$kizuna" --config "$stack" lifecycle
lc_again="$wall $rss"
note "lifecycle, first evaluation: ${lc_first% *} s, $(mib "${lc_first#* }"); the same day again:" \
    "${lc_again% *} s, $(mib "${lc_again#* }")"
head -3 "$data/lifecycle-1.out" | indent
grep -q '(evaluated before: nothing new)' "$data/lifecycle-2.out" ||
    problems+=("the second kizuna lifecycle of the day changed something: $(head -1 "$data/lifecycle-2.out")")
lc_line=$(sed -n 2p "$data/lifecycle-1.out")
tier_line=$(sed -n 3p "$data/lifecycle-1.out")
lc_runs=$(sqlite3 "$data/kz.db" 'SELECT count(*) FROM lifecycle_runs')
base="$data/base.db"
mv "$data/kz.db" "$base"
rm -f "$data/kz.db-wal" "$data/kz.db-shm"

# ---- time -------------------------------------------------------------------

# "N accounts, A assigned (K kept, W new, M moved, H hand-offs), U left without an owner"
summary_numbers() {
    sed -n '1s/^[^:]*: \([0-9]*\) accounts, \([0-9]*\) assigned (\([0-9]*\) kept, \([0-9]*\) new, \([0-9]*\) moved, \([0-9]*\) hand-offs), \([0-9]*\) left.*/\1 \2 \3 \4 \5 \6 \7/p' "$1"
}
q1() { sqlite3 "$data/kz.db" "$1"; }

# median and range of whitespace-separated numbers: "M (LO–HI)", or "M" for one
stats() {
    tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (NR == 1) printf "%.2f", m; else printf "%.2f (%.2f–%.2f)", m, v[1], v[NR] }'
}
max_of() { tr ' ' '\n' <<<"$1" | sort -g | tail -1; }

declare -A first_s first_kb stable_s stable_kb summary
note "timing kizuna assign, $runs run(s) per model, each on a fresh copy of the evaluated store (warm page cache)"
t_start=$(now_ms)
for m in "${models[@]}"; do
    first_s[$m]="" first_kb[$m]="" stable_s[$m]="" stable_kb[$m]=""
    for ((r = 1; r <= runs; r++)); do
        rm -f "$data/kz.db" "$data/kz.db-wal" "$data/kz.db-shm"
        cp "$base" "$data/kz.db"
        timed "kizuna assign ($m, first)" "$data/assign-1.out" "$kizuna" --config "$data/$m.xml" assign
        first_s[$m]+="${first_s[$m]:+ }$wall" first_kb[$m]+="${first_kb[$m]:+ }$rss"
        changes1=$(q1 "SELECT coalesce(sum(n), 0) FROM owner_changes")
        timed "kizuna assign ($m, stable)" "$data/assign-2.out" "$kizuna" --config "$data/$m.xml" assign
        stable_s[$m]+="${stable_s[$m]:+ }$wall" stable_kb[$m]+="${stable_kb[$m]:+ }$rss"
        note "  $m run $r: first ${first_s[$m]##* } s, stable ${stable_s[$m]##* } s"

        # the checks, on every run
        n1="" u1="" n2="" u2=""
        read -r n1 a1 k1 w1 mv1 _ u1 < <(summary_numbers "$data/assign-1.out") || true
        read -r n2 a2 k2 w2 mv2 _ u2 < <(summary_numbers "$data/assign-2.out") || true
        if [ -z "${u1:-}" ] || [ -z "${u2:-}" ]; then
            problems+=("$m: cannot read the summary of kizuna assign: $(head -1 "$data/assign-1.out")")
            continue
        fi
        [ "$n1" -eq "$accounts" ] || problems+=("$m: the first run saw $n1 accounts, not $accounts")
        [ "$k1" -eq 0 ] && [ "$w1" -eq "$a1" ] && [ "$mv1" -eq 0 ] ||
            problems+=("$m: the first run was not a first assignment: $(head -1 "$data/assign-1.out")")
        [ "$n2" -eq "$accounts" ] && [ "$k2" -eq "$a1" ] && [ "$a2" -eq "$a1" ] && [ "$w2" -eq 0 ] &&
            [ "$mv2" -eq 0 ] && [ "$u2" -eq 0 ] ||
            problems+=("$m: the second run changed something: $(head -1 "$data/assign-2.out")")
        owners=$(/usr/bin/python3 "$repo/tests/cli/owners.py" query "$data/kz.db" \
            "SELECT count(*) FROM owners WHERE owner IS NOT NULL")
        changes2=$(q1 "SELECT coalesce(sum(n), 0) FROM owner_changes")
        arun=$(q1 "SELECT count(*) FROM assign_runs")
        lruns=$(q1 "SELECT count(*) FROM lifecycle_runs")
        [ "$owners" -eq "$a1" ] || problems+=("$m: current_owners names $owners owners, not $a1")
        [ "$changes1" -eq "$a1" ] || problems+=("$m: the first run recorded $changes1 owner changes, not $a1")
        [ "$changes2" -eq "$changes1" ] || problems+=("$m: the second run recorded $((changes2 - changes1)) owner changes")
        [ "$arun" -eq 2 ] || problems+=("$m: the store holds $arun assign runs, not 2")
        [ "$lruns" -eq "$lc_runs" ] || problems+=("$m: kizuna assign evaluated the lifecycle again")
        if [ "$r" -eq 1 ]; then
            summary[$m]=$(sed -n '1,3p' "$data/assign-1.out")
            db_mib=$(($(stat -c %s "$data/kz.db") / 1048576))
        fi
    done
done
note "timed in $((($(now_ms) - t_start) / 1000)) s; load average $(loadavg)"

# ---- report -----------------------------------------------------------------

note ""
for m in "${models[@]}"; do
    note "kizuna assign, $m, first run:"
    indent <<<"${summary[$m]:-}"
done
note "lifecycle of the book: $lc_line"
note "                       $tier_line"
note "store after an assignment: $db_mib MiB"

echo "| Model | First run [s] | Peak RSS [MiB] | Stable run [s] | Peak RSS [MiB] |"
echo "|:---|---:|---:|---:|---:|"
verdict=met
for m in "${models[@]}"; do
    # shellcheck disable=SC2016 # the backquotes are markdown
    printf '| `%s` | %s | %s | %s | %s |\n' "$m" "$(stats "${first_s[$m]}")" \
        "$(awk -v k="$(max_of "${first_kb[$m]}")" 'BEGIN { printf "%.0f", k / 1024 }')" \
        "$(stats "${stable_s[$m]}")" \
        "$(awk -v k="$(max_of "${stable_kb[$m]}")" 'BEGIN { printf "%.0f", k / 1024 }')"
    for s in ${first_s[$m]} ${stable_s[$m]}; do
        awk -v s="$s" 'BEGIN { exit !(s < 2) }' || verdict="not met"
    done
done
echo ""
echo "Lifecycle (for reference): first evaluation ${lc_first% *} s ($(mib "${lc_first#* }")), the same day again" \
    "${lc_again% *} s ($(mib "${lc_again#* }"))."
echo ""
echo "$accounts accounts, $n_csms CSMs in $n_teams teams; $runs run(s) per model: median (min–max), peak RSS the largest."

fail_on_problems "the timed runs"
note "ok: every run assigned the whole book, the second run of each pair changed nothing, and the store" \
    "holds an owner and an owner change for every account assigned"
note "target: every kizuna assign under 2 s (at 1 million accounts; this run: $accounts): $verdict"
