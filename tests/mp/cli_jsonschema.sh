#!/usr/bin/env bash
# JSON Schema on a json type (issue 4): `dts pub --schema FILE` refuses a
# value that does not fit, naming the path and the rule, and publishes one
# that fits; the schema travels, so a subscriber can fetch it.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
cat > "$TMP/temp.schema.json" <<'JSON'
{"type": "object", "required": ["tank", "celsius"],
 "properties": {"tank": {"type": "string"}, "celsius": {"type": "number", "minimum": -10, "maximum": 100}}}
JSON
rc=0; out=$(dts pub brewery.Temperature --schema "$TMP/temp.schema.json" '{"tank":"T1","celsius":150}' 2>&1) || rc=$?
[ $rc = 2 ] || fail "a value above the maximum was accepted (exit $rc)"
echo "$out" | grep -q '\$.celsius: above the maximum 100' || fail "unclear error: $out"
rc=0; out=$(dts pub brewery.Temperature --schema "$TMP/temp.schema.json" '{"celsius":5}' 2>&1) || rc=$?
echo "$out" | grep -q 'missing required property "tank"' || fail "unclear error: $out"
dts echo brewery.Temperature --count 1 --timeout 10 --json > "$TMP/echo.out" &
ECHO=$!
for i in $(seq 50); do
  dts pub brewery.Temperature --schema "$TMP/temp.schema.json" '{"tank":"T1","celsius":18.5}' \
    || fail "a fitting value was refused"
  [ -s "$TMP/echo.out" ] && break
  sleep 0.1
done
wait $ECHO || fail "the fitting value was not received"
grep -q '"celsius":18.5' "$TMP/echo.out" || fail "wrong value: $(cat "$TMP/echo.out")"
pass "JSON Schema checked on publish"
