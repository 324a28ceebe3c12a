#!/usr/bin/env bash
# A secret given in the environment never appears in `kizuna plugins
# --json`, `kizuna check` output or the log, even at debug level and even
# when a plugin itself tries to log it.
. "$(dirname "$0")/lib.sh"

SECRET="kz-test-secret-$RANDOM-$RANDOM-value"
export KZ_TEST_API_KEY="$SECRET"
cat >"$WORK/stack.xml" <<XML
<kizuna version="1">
  <plugins><dir>$KZ_TEST_PLUGIN_DIR/good</dir></plugins>
  <scorers>
    <scorer name="health" component="test-score">
      <param name="label">Health</param>
      <param name="api_key" env="KZ_TEST_API_KEY"/>
    </scorer>
  </scorers>
</kizuna>
XML

KIZUNA_LOG_LEVEL=debug run 0 "$KIZUNA" --config "$WORK/stack.xml" plugins --json
lacks "$WORK/out" "$SECRET"
lacks "$WORK/err" "$SECRET"

KIZUNA_LOG_LEVEL=debug run 0 "$KIZUNA" -v -v --config "$WORK/stack.xml" check
lacks "$WORK/out" "$SECRET"
lacks "$WORK/err" "$SECRET"
# the plugin did try to log it (so this test can fail): the host masked it
contains "$WORK/err" "[health] connecting with api_key=********"

# a secret written in the file itself is masked as well, with a warning
sed -i "s|<param name=\"api_key\" env=\"KZ_TEST_API_KEY\"/>|<param name=\"api_key\">$SECRET</param>|" "$WORK/stack.xml"
KIZUNA_LOG_LEVEL=debug run 0 "$KIZUNA" --config "$WORK/stack.xml" check
lacks "$WORK/out" "$SECRET"
lacks "$WORK/err" "$SECRET"
contains "$WORK/err" "secret parameter 'api_key' is written in the file"
equals "$(grep -c "is written in the file" "$WORK/err")" "1" "the warning comes once"
echo "ok"
