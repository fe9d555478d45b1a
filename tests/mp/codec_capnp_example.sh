#!/usr/bin/env bash
# Issue 5 example: the Cap'n Proto sensor (generated builders) publishes
# brewery.Temperature; the logger reads it with generated readers, and a
# dts echo with no generated code prints it as JSON from the schema that
# travelled.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
EX="$DTS_BUILD/examples"
"$EX/capnp_logger" --count 3 > "$TMP/logger.out" &
LOGGER=$!
dts echo brewery.Temperature --count 3 --timeout 20 --json > "$TMP/echo.out" &
ECHO=$!
wait_for 5 grep -q '^listening' "$TMP/logger.out" || fail "logger did not start"
"$EX/capnp_sensor" T7 --hz 5 --count 40 > "$TMP/sensor.out" 2>&1 &
wait $LOGGER || fail "logger failed: $(cat "$TMP/logger.out")"
grep -Eq '^brewery.Temperature seq [0-9]+ tank T7 celsius 1[0-9]\.[0-9]{2}$' "$TMP/logger.out" \
  || fail "logger output: $(cat "$TMP/logger.out")"
wait $ECHO || fail "echo failed: $(cat "$TMP/echo.out")"
python3 - "$TMP/echo.out" <<'PY' || fail "echo JSON: $(cat "$TMP/echo.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3
for o in lines:
    assert o["format"] == "capnp" and o["value"]["tank"] == "T7", o
    assert 10 < o["value"]["celsius"] < 30, o
PY
pass "capnp example: generated writer, generated reader, dynamic echo"
