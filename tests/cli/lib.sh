# tests/cli/lib.sh — helpers for the shell tests. Each test sources it,
# gets a private $WORK directory (removed on exit) and these checks, which
# print what went wrong and exit 1.
set -euo pipefail
: "${KIZUNA:?KIZUNA must name the kizuna binary}"
: "${KZ_TEST_PLUGIN_DIR:?}"
: "${KZ_SOURCE_DIR:?}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kz-cli-XXXXXX")
chmod 755 "$WORK"
trap "${KZ_KEEP_WORK:+:} rm -rf \"$WORK\"" EXIT
export KIZUNA_PLUGIN_PATH=

fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_RC CMD...: runs CMD, keeps stdout in $WORK/out and stderr in
# $WORK/err, and fails unless it exits with EXPECTED_RC.
run() {
  local want=$1; shift
  local rc=0
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "--- stdout"; cat "$WORK/out"; echo "--- stderr"; cat "$WORK/err"
    fail "'$*' exited $rc, expected $want"
  fi
}

# contains FILE TEXT: FILE holds TEXT (fixed string).
contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 lacks: $2"; }; }
lacks() { if grep -qF -- "$2" "$1"; then echo "--- $1:"; cat "$1"; fail "$1 must not contain: $2"; fi; }
equals() { [ "$1" = "$2" ] || fail "expected '$2', got '$1' ($3)"; }

# python_with MODULE DEBIAN_PACKAGE: sets $py to a python3 that can import
# MODULE: PATH's, else Debian's own (a version manager's python3 can
# shadow the one a python3-* package installs into).
python_with() {
  py=
  local p
  for p in "$(command -v python3 || true)" /usr/bin/python3; do
    if [ -n "$p" ] && "$p" -c "import $1" 2>/dev/null; then py=$p && return 0; fi
  done
  fail "no python3 with $1 (Debian: $2; packaging/install-deps.sh installs it)"
}

# start_http_receiver SECRET: starts tests/servers/http_server.py on
# loopback (its log in $WORK/hooks.log, stopped on exit) and sets $PORT.
start_http_receiver() {
  command -v python3 >/dev/null || fail "python3 is needed"
  python3 "$KZ_SOURCE_DIR/tests/servers/http_server.py" "$WORK/port" "$WORK/hooks.log" "$1" &
  KZ_RECEIVER=$!
  trap 'kill $KZ_RECEIVER 2>/dev/null; wait $KZ_RECEIVER 2>/dev/null; ${KZ_KEEP_WORK:+:} rm -rf "$WORK"' EXIT
  for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || fail "the HTTP receiver wrote no port"
  PORT=$(cat "$WORK/port")
  touch "$WORK/hooks.log"
}

# sample_config OUT CHANNELS PLAYBOOKS [SOURCES]: the sample stack's
# kizuna.xml with the XML in file CHANNELS inside <channels>, PLAYBOOKS
# before </kizuna> and SOURCES (if given) at the end of <sources>.
sample_config() {
  awk -v ch="$2" -v pb="$3" -v src="${4:-/dev/null}" '
    /<\/kizuna>/ { while ((getline l < pb) > 0) print l }
    /<\/sources>/ { while ((getline l < src) > 0) print l }
    { print }
    /<channels>/ { while ((getline l < ch) > 0) print l }
  ' "$KZ_SOURCE_DIR/sdk/examples/sample/kizuna.xml" >"$1"
}

# events_stack OUT DB: a stack config (in OUT, its store DB) with two csv
# sources: "crm" reads $WORK/accounts.csv (id,name) and "usage" reads
# $WORK/events.csv (event_id,time,account_id,event,quantity).
events_stack() {
  cat >"$1" <<XML
<kizuna version="1">
  <store path="$2"/>
  <sources>
    <source name="crm" component="csv">
      <param name="path">$WORK/accounts.csv</param>
      <map entity="account"><field name="id" from="id"/><field name="name" from="name"/></map>
    </source>
    <source name="usage" component="csv">
      <param name="path">$WORK/events.csv</param>
      <map entity="usage_event">
        <field name="id" from="event_id"/><field name="time" from="time"/><field name="account_id" from="account_id"/>
        <field name="name" from="event"/><field name="quantity" from="quantity"/>
      </map>
    </source>
  </sources>
</kizuna>
XML
}
