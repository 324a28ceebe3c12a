#!/usr/bin/env bash
# A vendor's view: install host and SDK into a prefix, copy the installed
# template into a folder of their own, build it twice — with
# find_package(KizunaSDK) and with nothing but pkg-config — and the
# installed host loads, checks and lists both. Also checks symbol hygiene:
# every plugin exports its entry symbol and nothing else.
. "$(dirname "$0")/lib.sh"
: "${KZ_BUILD_DIR:?}"

PREFIX="$WORK/prefix"
cmake --install "$KZ_BUILD_DIR" --prefix "$PREFIX" >"$WORK/install.log" || { cat "$WORK/install.log"; fail "install"; }
KZ="$PREFIX/bin/kizuna"
[ -x "$KZ" ] || fail "no kizuna in the prefix"
pc=$(find "$PREFIX" -name kizuna-sdk.pc | head -1)
[ -n "$pc" ] || fail "kizuna-sdk.pc not installed"
[ -f "$PREFIX/include/kizuna/kizuna.h" ] || fail "headers not installed"
[ -f "$(find "$PREFIX" -name KizunaSDKConfig.cmake | head -1)" ] || fail "CMake package not installed"
[ -f "$PREFIX/share/kizuna/schema/stack.rng" ] || fail "schema not installed"

# only the entry symbol may be exported
exports_only_entry() {
  local syms
  syms=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v -E '^(__odr_asan|___?asan|__ubsan)' | sort | tr '\n' ' ')
  [ "$syms" = "kz_plugin_entry " ] || fail "$1 exports: $syms"
}

# 1. the template, copied out of the installed SDK, built with CMake
cp -r "$PREFIX/share/kizuna/sdk-template" "$WORK/vendor"
cmake -S "$WORK/vendor" -B "$WORK/vendor/build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
  >"$WORK/cfg.log" 2>&1 || { cat "$WORK/cfg.log"; fail "template configure"; }
cmake --build "$WORK/vendor/build" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "template build"; }
SO1="$WORK/vendor/build/example-scorer.so"
[ -f "$SO1" ] || fail "template build made no example-scorer.so"

# 2. the same source with only pkg-config
mkdir -p "$WORK/pc"
export PKG_CONFIG_PATH="$(dirname "$pc")"
# shellcheck disable=SC2046
cc -std=c11 -O2 $(pkg-config --cflags kizuna-sdk) -shared -o "$WORK/pc/example-scorer.so" \
  "$WORK/vendor/example_scorer.c" $(pkg-config --libs kizuna-sdk) || fail "pkg-config build"
equals "$(pkg-config --variable=abi_major kizuna-sdk)" "1" "pc abi_major"
SO2="$WORK/pc/example-scorer.so"
chmod 755 "$WORK/vendor/build" "$WORK/pc"

for so in "$SO1" "$SO2"; do
  exports_only_entry "$so"
  run 0 "$KZ" plugin check "$so"
  contains "$WORK/out" "com.example.scorer 1.0.0"
  run 0 "$KZ" plugin check --json "$so"
  equals "$(jq -r .loadable "$WORK/out")" "true" "loadable $so"
  # listed by `kizuna plugins`, beside the bundled plugins of the installed default dir
  KIZUNA_PLUGIN_PATH="$(dirname "$so")" run 0 "$KZ" plugins --json
  equals "$(jq -r '[.plugins[].id | select(test("^org\\.kizuna\\.[a-z]+$") | not)] | join(",")' "$WORK/out")" \
    "com.example.scorer" "listed"
  jq -e '.plugins | map(.id) | index("org.kizuna.log") != null' "$WORK/out" >/dev/null || fail "bundled log"
  equals "$(jq -r '.plugins[] | select(.id=="com.example.scorer") | .path' "$WORK/out")" "$(realpath "$so")" "path"
  equals "$(jq -r '.plugins[] | select(.id=="com.example.scorer") | .components[0].name' "$WORK/out")" \
    "example-score" "component"
  equals "$(jq -r '.refused | length' "$WORK/out")" "0" "refused"
done

# a stack that uses the vendor's scorer checks clean with the installed host
cat >"$WORK/stack.xml" <<XML
<kizuna version="1">
  <plugins><dir>$WORK/vendor/build</dir></plugins>
  <scorers>
    <scorer name="health" component="example-score"><param name="target">20</param></scorer>
  </scorers>
</kizuna>
XML
run 0 "$KZ" --config "$WORK/stack.xml" check
sed -i 's|<param name="target">20</param>|<param name="target">0</param>|' "$WORK/stack.xml"
run 1 "$KZ" --config "$WORK/stack.xml" check
contains "$WORK/out" "parameter 'target' must be a number above 0"

# the bundled and test plugins of this build follow the same rule
for so in "$KZ_BUILD_DIR"/lib/kizuna/plugins/*.so "$KZ_TEST_PLUGIN_DIR/good/good.so"; do
  exports_only_entry "$so"
done
echo "ok"
