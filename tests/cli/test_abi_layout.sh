#!/usr/bin/env bash
# The plugin ABI has no trailing padding on any target we know of
# (tests/abi_layout.c holds the static assertions), and the headers are
# valid C11 and C++ with every warning on.
. "$(dirname "$0")/lib.sh"
src="$KZ_SOURCE_DIR/tests/abi_layout.c"
inc="$KZ_SOURCE_DIR/include"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$inc" "$src" || fail "host target"
for t in x86_64-linux-gnu i386-linux-gnu armv7-linux-gnueabihf aarch64-linux-gnu; do
  clang --target="$t" -std=c11 -ffreestanding -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$src" || fail "target $t"
done
printf '#include <kizuna/kizuna.h>\n' >"$WORK/cxx.cc"
c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$WORK/cxx.cc" || fail "C++"
echo "ok"
