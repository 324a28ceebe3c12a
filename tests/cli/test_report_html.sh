#!/usr/bin/env bash
# tests/cli/test_report_html.sh — the demo company's HTML report in a real
# browser (Debian's chromium, headless, driven by report_browser.py over
# the DevTools protocol):
#  - it loads with nothing on the console, no exception and no failed
#    resource load;
#  - its full-page screenshot is not blank;
#  - every number it shows (read from the rendered DOM) equals the JSON
#    report's for the same period and cut, and every JSON number is shown;
#  - the run's summary counts every account once (graded or unscored)
#    and times each stage;
#  - and, so that the checks above can fail: a copy with a console error
#    and a missing image, a copy with one number changed, and a blank
#    page are each refused for what is wrong with them.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed"
command -v chromium >/dev/null || fail "chromium is needed (Debian: chromium; packaging/install-deps.sh installs it)"
python_with PIL python3-pil
GEN=${KZ_BUILD_DIR:?}/bin/kz_gen_demo
[ -x "$GEN" ] || fail "$GEN is not built"
# chromium writes its crash and font caches under $HOME: keep them here
export HOME="$WORK/home"
mkdir -p "$HOME"

# the demo company's whole job on the last day of its data (as of the
# midnight that ends it), then the report of its last three months, cut by
# touch tier
run 0 "$GEN" --accounts 600 "$WORK/demo"
export KIZUNA_NOW=2026-10-31T12:00:00Z
kz() { "$KIZUNA" --config "$WORK/demo/kizuna.xml" "$@"; }
run 0 kz run --as-of 2026-11-01 --json
# its summary: every account in a grade or unscored (the churned have no
# usage to score), and the time of each stage
jq -e '(.grades | add) == 600 and .grades.unscored > 0' "$WORK/out" >/dev/null ||
  fail "grades do not add up to the book: $(jq -c .grades "$WORK/out")"
equals "$(jq -c '.seconds | keys_unsorted' "$WORK/out")" '["sync","score","lifecycle","assign","playbooks","deliver"]' \
  "the stages timed"
span=(--from 2026-08-01 --to 2026-10-31 --by tier)
run 0 kz report "${span[@]}" --format html -o "$WORK/report.html"
run 0 kz report "${span[@]}" --format json -o "$WORK/report.json"
# the report has something in each chart to compare
jq -e '(.health | map(.end) | add) > 0 and (.at_risk | length) > 0 and (.touches_by_channel | length) > 0
       and (.months | length) == 3 and (.groups | length) >= 3 and (.phases | length) >= 4' \
  "$WORK/report.json" >/dev/null || fail "the demo report has empty parts: $(jq -c '{health, phases}' "$WORK/report.json")"
grep -q '<script\|src=\|href=\|url(' "$WORK/report.html" && fail "the report refers to something outside itself"

browse() { "$py" "$KZ_SOURCE_DIR/tests/cli/report_browser.py" "$@"; }
run 0 browse "$WORK/report.html" "$WORK/report.json" "$WORK/shot.png"
contains "$WORK/out" ", 0 problems"
# each KPI of the book and of each tier is on the page (the tiles repeat some)
n_kpis=$(jq '[.kpis, .groups[].kpis] | map(length) | add' "$WORK/report.json")
shown=$(sed -n 's/^\([0-9]*\) numbers on the page.*/\1/p' "$WORK/out")
[ "$shown" -gt "$n_kpis" ] || fail "the page shows $shown numbers, fewer than the $n_kpis KPIs"

# ---- the checks can fail ----------------------------------------------------------
# a console error and a resource that does not load
sed 's|</body>|<script>console.error("planted")</script><img src="missing.png"></body>|' \
  "$WORK/report.html" >"$WORK/noisy.html"
run 1 browse "$WORK/noisy.html" "$WORK/report.json" "$WORK/noisy.png"
contains "$WORK/out" "console.error: planted"
contains "$WORK/out" "net::ERR_FILE_NOT_FOUND"
# one number that differs from the JSON: the book's GRR
sed 's|data-group="all" data-kpi="grr" data-value="[^"]*"|data-group="all" data-kpi="grr" data-value="0.5"|' \
  "$WORK/report.html" >"$WORK/wrong.html"
cmp -s "$WORK/report.html" "$WORK/wrong.html" && fail "the GRR cell was not found to change"
run 1 browse "$WORK/wrong.html" "$WORK/report.json" "$WORK/wrong.png"
contains "$WORK/out" "('kpi', 'all', 'grr'): page 0.5, JSON $(jq .kpis.grr "$WORK/report.json" | cut -c1-8)"
contains "$WORK/out" ", 1 problems"
# a blank page, which also shows none of the numbers
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body></body></html>\n' \
  >"$WORK/blank.html"
run 1 browse "$WORK/blank.html" "$WORK/report.json" "$WORK/blank.png"
contains "$WORK/out" "blank: "
contains "$WORK/out" "is in the JSON report but not on the page"
echo "ok"
