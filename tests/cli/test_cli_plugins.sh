#!/usr/bin/env bash
# `kizuna plugins`, `kizuna plugin check` and `kizuna check` through the
# binary: listings, JSON shape, refusals with reasons, exit codes.
. "$(dirname "$0")/lib.sh"

# the ABI the public headers describe; the binary and the plugins built
# with them must say the same
ABI="$(sed -n 's/^#define KZ_ABI_MAJOR \([0-9]*\)$/\1/p' "$KZ_SOURCE_DIR/include/kizuna/common.h").$(
  sed -n 's/^#define KZ_ABI_MINOR \([0-9]*\)$/\1/p' "$KZ_SOURCE_DIR/include/kizuna/common.h")"
[[ $ABI =~ ^1\.[0-9]+$ ]] || fail "no ABI version in common.h ($ABI)"

# --version
run 0 "$KIZUNA" --version
contains "$WORK/out" "plugin ABI $ABI)"

# plugins --json: the bundled log plugin (default dir) and the good test plugin
KIZUNA_PLUGIN_PATH="$KZ_TEST_PLUGIN_DIR/good" run 0 "$KIZUNA" plugins --json
jq -e '.plugins | map(.id) | index("org.kizuna.log") != null' "$WORK/out" >/dev/null || fail "log plugin not listed"
equals "$(jq -r .host.abi "$WORK/out")" "$ABI" "host abi"
good=$(jq -c '.plugins[] | select(.id == "org.kizuna.test.good")' "$WORK/out")
[ -n "$good" ] || fail "good plugin not listed"
equals "$(jq -r .version <<<"$good")" "1.0.0" version
equals "$(jq -r .vendor <<<"$good")" "Kizuna tests" vendor
equals "$(jq -r .license <<<"$good")" "MIT" license
equals "$(jq -r .abi <<<"$good")" "$ABI" abi
equals "$(jq -r .path <<<"$good")" "$(realpath "$KZ_TEST_PLUGIN_DIR/good/good.so")" path
equals "$(jq -r '.components | map(.kind) | join(",")' <<<"$good")" "scorer,channel" kinds
equals "$(jq -r '.components[1].tiers | join(",")' <<<"$good")" "low" tiers
equals "$(jq -r '.notes | length' <<<"$good")" "0" notes
equals "$(jq -r '.components[0].parameters | map(.name + ":" + .type) | join(",")' <<<"$good")" \
  "label:string,limit:int,ratio:double,enabled:bool,timeout:duration,api_key:secret,data_dir:path" params
equals "$(jq -r '.components[0].parameters[0].required' <<<"$good")" "true" required
equals "$(jq -r '.components[0].parameters[4].default' <<<"$good")" "30s" default
equals "$(jq -r '.refused | length' "$WORK/out")" "0" "nothing refused"

# plugins (text) with a directory of broken plugins: every refusal listed with its reason
KIZUNA_PLUGIN_PATH="$KZ_TEST_PLUGIN_DIR/refusals" run 0 "$KIZUNA" plugins
contains "$WORK/out" "org.kizuna.test.good 1.0.0"
contains "$WORK/out" "abi_major2.so: built for plugin ABI 2.0"
contains "$WORK/out" "no_entry.so: no entry symbol"
contains "$WORK/out" "13 files refused"
KIZUNA_PLUGIN_PATH="$KZ_TEST_PLUGIN_DIR/refusals" run 0 "$KIZUNA" plugins --json
equals "$(jq -r '.refused | length' "$WORK/out")" "13" "refused count"
jq -e '.refused[] | select(.path | endswith("/dup_id.so")) | .reason | contains("duplicate plugin id")' \
  "$WORK/out" >/dev/null || fail "dup_id reason"

# plugin check: 0 for a good file, 1 with the reason for a bad one, 2 for usage
run 0 "$KIZUNA" plugin check "$KZ_TEST_PLUGIN_DIR/good/good.so"
contains "$WORK/out" "ok: "
run 1 "$KIZUNA" plugin check "$KZ_TEST_PLUGIN_DIR/refusals/missing_callback.so"
contains "$WORK/err" "missing_callback.so: component 'noscore-score': required scorer callback 'score' is missing"
run 1 "$KIZUNA" plugin check --json "$KZ_TEST_PLUGIN_DIR/refusals/unknown_kind.so"
equals "$(jq -r .loadable "$WORK/out")" "false" loadable
jq -e '.reasons[0] | contains("unknown component kind 9")' "$WORK/out" >/dev/null || fail "json reason"
run 0 "$KIZUNA" plugin check --json "$KZ_TEST_PLUGIN_DIR/compat/new_minor.so"
equals "$(jq -r .plugin.abi "$WORK/out")" "1.$((${ABI#1.} + 1))" "newer minor"
jq -e ".plugin.notes[0] | contains(\"needs plugin ABI 1.$((${ABI#1.} + 1))\")" "$WORK/out" >/dev/null || fail "newer-minor note"
# a plugin that crashes or hangs while loading is refused; the host lives on
run 1 "$KIZUNA" plugin check "$KZ_TEST_PLUGIN_DIR/crash/crash_on_load.so"
contains "$WORK/err" "crash_on_load.so: crashed while loading: killed by signal"
KIZUNA_PLUGIN_LOAD_TIMEOUT_MS=300 KIZUNA_PLUGIN_PATH="$KZ_TEST_PLUGIN_DIR/crash" run 0 "$KIZUNA" plugins --json
# the bundled plugins (org.kizuna.*, not tests) are there too, whichever they are
equals "$(jq -r '[.plugins[].id | select(test("^org\\.kizuna\\.[a-z]+$") | not)] | sort | join(",")' "$WORK/out")" \
  "org.kizuna.test.good" "survivors"
jq -e '.plugins | map(.id) | index("org.kizuna.log") != null' "$WORK/out" >/dev/null || fail "bundled log plugin"
jq -e '.refused[] | select(.path | endswith("/hang_on_load.so")) | .reason | contains("did not finish loading within 300 ms")' \
  "$WORK/out" >/dev/null || fail "hang reason"
# KIZUNA_NOW must be a time
KIZUNA_NOW=yesterday run 2 "$KIZUNA" plugins
contains "$WORK/err" "KIZUNA_NOW: expected an ISO 8601 time"
KIZUNA_NOW=2026-11-23T09:00:00Z run 0 "$KIZUNA" --version
run 1 "$KIZUNA" --config /nonexistent/stack.xml check
contains "$WORK/out" "/nonexistent/stack.xml: cannot read: No such file or directory"
run 1 "$KIZUNA" plugin check /nonexistent.so
contains "$WORK/err" "cannot read"
run 2 "$KIZUNA" plugin check
run 2 "$KIZUNA" plugin frobnicate x
run 2 "$KIZUNA" no-such-command
contains "$WORK/err" "unknown command 'no-such-command'"
run 2 "$KIZUNA" plugins --no-such-option

# check: a good stack passes; a bad one lists every problem and exits 1
cat >"$WORK/good.xml" <<XML
<kizuna version="1">
  <store path="kizuna.db"/>
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/good</dir></plugins>
  <scorers>
    <scorer name="health" component="test-score"><param name="label">Health</param></scorer>
  </scorers>
  <channels>
    <channel name="audit" component="log"><param name="path">touches.jsonl</param></channel>
  </channels>
</kizuna>
XML
run 0 "$KIZUNA" --config "$WORK/good.xml" check
contains "$WORK/out" "plugins, 2 instances)"
contains "$WORK/out" ": ok ("
[ ! -e "$WORK/kizuna.db" ] || fail "check must not create the store"
[ ! -e "$WORK/touches.jsonl" ] || fail "check must not write"
KIZUNA_CONFIG="$WORK/good.xml" run 0 "$KIZUNA" check

cat >"$WORK/bad.xml" <<XML
<kizuna version="1">
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/good</dir></plugins>
  <scorers>
    <scorer name="health" component="test-score">
      <param name="limit">-3</param>
      <param name="label">x</param>
    </scorer>
    <scorer name="other" component="test-score">
      <param name="limit">lots</param>
    </scorer>
  </scorers>
</kizuna>
XML
run 1 "$KIZUNA" --config "$WORK/bad.xml" check
contains "$WORK/out" "$WORK/bad.xml:9: parameter 'limit' (int): expected an integer, got 'lots'"
contains "$WORK/out" "$WORK/bad.xml:8: instance 'other': missing required parameter 'label'"
# one instance's parameter errors do not hide another's create() refusal
contains "$WORK/out" "$WORK/bad.xml:4: instance 'health' (component test-score of org.kizuna.test.good): create: limit must not be negative, got -3"
contains "$WORK/out" "3 problems found"
# once the parameters are right, the component's own create() judges them
sed -i 's|<param name="limit">lots</param>|<param name="label">y</param>|' "$WORK/bad.xml"
run 1 "$KIZUNA" --config "$WORK/bad.xml" check
contains "$WORK/out" "$WORK/bad.xml:4: instance 'health' (component test-score of org.kizuna.test.good): create: limit must not be negative, got -3"

printf '<kizuna version="1">\n  <store path="x"/>\n  <bogus/>\n</kizuna>\n' >"$WORK/schema.xml"
run 1 "$KIZUNA" --config "$WORK/schema.xml" check
contains "$WORK/out" "$WORK/schema.xml:3: Did not expect element bogus there"
printf '<kizuna version="1">\n  <store path="x">\n</kizuna>\n' >"$WORK/broken.xml"
run 1 "$KIZUNA" --config "$WORK/broken.xml" check
contains "$WORK/out" "$WORK/broken.xml:3: Opening and ending tag mismatch"

# a refused plugin on the search path makes check fail too
cat >"$WORK/refusing.xml" <<XML
<kizuna version="1">
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/refusals</dir></plugins>
</kizuna>
XML
run 1 "$KIZUNA" --config "$WORK/refusing.xml" check
contains "$WORK/out" "no_entry.so: plugin refused: no entry symbol"

# no config at all
(cd "$WORK" && KIZUNA_CONFIG= run 2 "$KIZUNA" check)
contains "$WORK/err" "no stack config"
echo "ok"
