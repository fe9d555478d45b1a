#!/usr/bin/env bash
# tests/install/consumer.sh: install the build into a temporary prefix
# (cmake --install), check what lands there, then build tests/install/consumer.c
# with the compiler and `pkg-config --cflags --libs dts-codec` alone (no
# source tree on the include path) and run it. ctest entry install_consumer;
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
  bin/dts share/man/man1/dts.1; do
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
echo "install_consumer: ok ($libs)"
