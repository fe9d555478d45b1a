#!/usr/bin/env bash
# tests/install/consumer.sh: install the build into a temporary prefix
# (cmake --install), check what lands there, then build tests/install/consumer.c
# with the compiler and `pkg-config --cflags --libs dts-codec` alone (no
# source tree on the include path) and run it; then generate C from
# tests/install/reading.capnp with the installed capnpc-dts and build and
# run tests/install/consumer_capnp.c the same way, and tests/install/
# consumer_cxx.cpp as C++. ctest entry install_consumer;
# DTS_BUILD, DTS_SRC, CC and DTS_SAN_FLAGS come from CMakeLists.txt. No
# sockets: the consumer uses the in-process mem:// transport.
set -euo pipefail
: "${DTS_BUILD:?set by ctest}" "${DTS_SRC:?set by ctest}"
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

cmake --install "$DTS_BUILD" --prefix "$prefix" > "$tmp/install.log"

fail() {
  echo "install_consumer: $*" >&2
  exit 1
}
for f in include/dts/dts.h include/dts/codec.h include/dts/typed.h include/dts/transport.h \
  include/dts/capnp.h bin/dts bin/capnpc-dts share/man/man1/dts.1; do
  [ -e "$prefix/$f" ] || fail "$f not installed (see $tmp/install.log)"
done
pc=$(find "$prefix" -name dts-codec.pc)
[ -n "$pc" ] || fail "dts-codec.pc not installed"
for lib in libdts.a libdts_codec.a; do
  [ -e "$(dirname "$(dirname "$pc")")/$lib" ] || fail "$lib not beside pkgconfig/"
done
"$prefix/bin/dts" --help > /dev/null || fail "the installed dts --help failed"

export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(pkg-config --modversion dts)" = "$(pkg-config --modversion dts-codec)" ] ||
  fail "dts and dts-codec versions differ"
cflags=$(pkg-config --cflags dts-codec)
libs=$(pkg-config --libs dts-codec)
# The prefix the .pc files derive must be the one installed to.
inc=$(pkg-config --variable=includedir dts-codec)
[ "$inc/dts/dts.h" -ef "$prefix/include/dts/dts.h" ] ||
  fail "pkg-config's includedir is '$inc', not $prefix/include"
# shellcheck disable=SC2086 # flags: words
"$CC" ${DTS_SAN_FLAGS:-} -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
  "$DTS_SRC/tests/install/consumer.c" -o "$tmp/consumer" $cflags $libs ||
  fail "consumer.c did not build with: $cflags $libs"
out=$("$tmp/consumer")
[ "$out" = "consumer: ok" ] || fail "consumer printed '$out'"

# Cap'n Proto: the installed code generator, as the capnp tool's plugin.
mkdir "$tmp/gen"
cp "$DTS_SRC/tests/install/reading.capnp" "$tmp/"
(cd "$tmp" && capnp compile -o"$prefix/bin/capnpc-dts:$tmp/gen" reading.capnp) ||
  fail "capnp compile with the installed capnpc-dts failed"
# shellcheck disable=SC2086
"$CC" ${DTS_SAN_FLAGS:-} -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
  -I"$tmp/gen" "$DTS_SRC/tests/install/consumer_capnp.c" "$tmp/gen/reading.capnp.c" \
  -o "$tmp/consumer_capnp" $cflags $libs ||
  fail "consumer_capnp.c did not build with: $cflags $libs"
out=$("$tmp/consumer_capnp" "$tmp/reading.capnp")
[ "$out" = "consumer_capnp: ok" ] || fail "consumer_capnp printed '$out'"

# A file that uses a type of another file: its header includes the other's.
cat > "$tmp/common.capnp" <<'CAPNP'
@0xd1e2f3a4b5c6d7e8;
struct Stamp { seconds @0 :UInt64; }
CAPNP
cat > "$tmp/ev.capnp" <<'CAPNP'
@0xe1e2f3a4b5c6d7e9;
using Common = import "common.capnp";
struct Event { at @0 :Common.Stamp; name @1 :Text; }
CAPNP
(cd "$tmp" && capnp compile -o"$prefix/bin/capnpc-dts:$tmp/gen" ev.capnp common.capnp) ||
  fail "capnp compile of ev.capnp and common.capnp failed"
grep -q '#include "common.capnp.h"' "$tmp/gen/ev.capnp.h" ||
  fail "ev.capnp.h does not include common.capnp.h"
for c in ev common; do
  # shellcheck disable=SC2086
  "$CC" -std=c11 -Wall -Wextra -Werror -c "$tmp/gen/$c.capnp.c" -o "$tmp/$c.o" $cflags ||
    fail "$c.capnp.c did not compile"
done

# C++: the headers and the generated header link as C (extern "C").
# shellcheck disable=SC2086
"$CC" ${DTS_SAN_FLAGS:-} -std=c11 -Wall -Wextra -Werror -c "$tmp/gen/reading.capnp.c" \
  -o "$tmp/reading.o" $cflags || fail "reading.capnp.c did not compile"
# shellcheck disable=SC2086
"${CXX:-c++}" ${DTS_SAN_FLAGS:-} -std=c++11 -Wall -Wextra -Werror -I"$tmp/gen" \
  "$DTS_SRC/tests/install/consumer_cxx.cpp" "$tmp/reading.o" -o "$tmp/consumer_cxx" $cflags $libs ||
  fail "consumer_cxx.cpp did not build with: $cflags $libs"
out=$("$tmp/consumer_cxx")
[ "$out" = "consumer_cxx: ok" ] || fail "consumer_cxx printed '$out'"
echo "install_consumer: ok ($libs)"
