#!/usr/bin/env bash
# The README's first command: installs what is missing, builds Kizuna into
# ./build, and runs it on the bundled sample stack (SQLite store, sample
# data in sdk/examples/sample/). Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

# The sample stack works in a copy under build/, so the source tree stays clean.
rm -rf build/sample && cp -r sdk/examples/sample build/sample
kz=build/bin/kizuna
echo
echo "== kizuna plugins (the bundled plugins)"
"$kz" --config build/sample/kizuna.xml plugins
echo "== kizuna check (the sample stack)"
"$kz" --config build/sample/kizuna.xml check
echo "== kizuna sync (CRM and usage CSV, helpdesk XML -> the SQLite store)"
"$kz" --config build/sample/kizuna.xml sync
echo "== kizuna quarantine (the rows sync could not take, and why)"
"$kz" --config build/sample/kizuna.xml quarantine
echo "== kizuna accounts --where \"segment = 'enterprise'\""
"$kz" --config build/sample/kizuna.xml accounts --where "segment = 'enterprise'"
# The sample's usage data ends on 2026-10-13: measure and score as of the
# day after, so the 30-day windows see it whatever today's date is.
echo "== kizuna score --as-of 2026-10-14 (measures rolled up, the health model's grades)"
"$kz" --config build/sample/kizuna.xml score --as-of 2026-10-14
echo "== kizuna account A-003 (its health, the top contributions, its data)"
"$kz" --config build/sample/kizuna.xml account A-003 --recent 3
echo "== kizuna lifecycle --as-of 2026-10-14 (phases and touch tiers by the config's rules)"
"$kz" --config build/sample/kizuna.xml lifecycle --as-of 2026-10-14
echo "== kizuna assign (owners through the specialist organization model)"
"$kz" --config build/sample/kizuna.xml assign
echo "== kizuna org simulate (every organization model side by side; nothing stored)"
"$kz" --config build/sample/kizuna.xml org simulate

# The demo company: ~2,000 accounts, a year of usage, tickets, subscriptions
# with upgrades and cancellations, surveys, a CS organization and playbooks,
# generated deterministically (sdk/examples/demo), then the whole job.
# Its data ends on 2026-10-31: run as of the day after.
echo
echo "== the demo company (kz_gen_demo build/demo)"
rm -rf build/demo
build/bin/kz_gen_demo build/demo
echo "== kizuna run --as-of 2026-11-01 (sync, score, lifecycle, assign, playbooks, deliver)"
"$kz" --config build/demo/kizuna.xml run --as-of 2026-11-01
echo "== kizuna report --from 2026-08-01 (the CS KPIs since August; docs/kpis.md)"
"$kz" --config build/demo/kizuna.xml report --from 2026-08-01
"$kz" --config build/demo/kizuna.xml report --from 2026-08-01 --by tier --format html -o build/demo/report.html
echo "== the same as one HTML file with charts: build/demo/report.html"
