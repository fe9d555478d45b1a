#!/usr/bin/env bash
# Issue 6: large transfers from the terminal. `dts pub TYPE --format raw
# @FILE` sends a 5 MiB file; `dts echo TYPE --save DIR` writes it back as one
# file per message, byte-identical; --json reports the file and its size.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

head -c 5242880 /dev/urandom > "$TMP/in.bin"
dts echo file.Blob --count 2 --timeout 20 --save "$TMP/out/" --json > "$TMP/echo.out" &
ECHO=$!
# Publish until the subscriber has both copies (it may start after us).
for i in $(seq 40); do
  dts pub file.Blob --format raw "@$TMP/in.bin" || fail "dts pub @FILE failed"
  [ "$(ls "$TMP/out" 2>/dev/null | grep -vc part)" -ge 2 ] && break
  sleep 0.1
done
wait $ECHO || fail "dts echo --save did not get 2 messages: $(cat "$TMP/echo.out")"
n=0
for f in "$TMP"/out/file.Blob-*.bin; do
  cmp -s "$f" "$TMP/in.bin" || fail "$f differs from what was sent"
  n=$((n + 1))
done
[ $n -ge 2 ] || fail "expected 2 saved files, found $n"
python3 - "$TMP/echo.out" <<'PY' || fail "bad --json --save output"
import json, os, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["value"] is None and o["bytes"] == 5242880 and os.path.exists(o["file"]), o
    assert "//" not in o["file"], o  # --save DIR/ names DIR/NAME
PY
ls "$TMP/out" | grep -q '\.part$' && fail "a temporary file was left behind"
pass "5 MiB through dts pub @FILE and dts echo --save, byte-identical"

# Compressed and reliable from the terminal: a compressible 3 MB file with
# --compress zstd --reliable arrives identical (dts echo decompresses).
head -c 3000000 /dev/zero | tr '\0' 'k' > "$TMP/koji.txt"
dts echo file.Koji --count 1 --timeout 20 --save "$TMP/koji" > "$TMP/koji.out" &
ECHO=$!
for i in $(seq 40); do
  dts pub file.Koji --format raw --compress zstd --reliable "@$TMP/koji.txt" || fail "pub --compress failed"
  [ -n "$(ls "$TMP/koji" 2>/dev/null | grep -v part)" ] && break
  sleep 0.1
done
wait $ECHO || fail "compressed message not received: $(cat "$TMP/koji.out")"
cmp -s "$TMP"/koji/file.Koji-*.bin "$TMP/koji.txt" || fail "compressed message differs"
out=$(dts pub file.Koji --compress brotli x 2>&1) && fail "bad --compress accepted"
echo "$out" | grep -q "must be zstd, lz4 or blosc" || fail "unclear --compress error: $out"
pass "dts pub --compress zstd --reliable, decompressed by dts echo"
