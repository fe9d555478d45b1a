#!/usr/bin/env bash
# cli_query: `dts query` gets the last value from a publisher that has
# finished sending and lingers (`dts pub --linger`), in text and JSON; with
# nobody publishing it exits 1 with a clear message.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

# Nobody publishes: exit 1, a message naming the type.
if "$DTS" query brewery.Setpoint --timeout 0.5 >"$TMP/q0.out" 2>"$TMP/q0.err"; then
  fail "query with no publisher should exit 1"
fi
grep -q "nobody answered for brewery.Setpoint" "$TMP/q0.err" || fail "message: $(cat "$TMP/q0.err")"
pass "query with no publisher"

# A publisher sends once, then lingers answering from its last value.
"$DTS" pub brewery.Setpoint --linger 30 '{"tank":"T1","celsius":12}' &
wait_for 10 "$DTS" query brewery.Setpoint --timeout 0.5 || fail "no answer from the publisher"
"$DTS" query brewery.Setpoint --json >"$TMP/q.json" || fail "query --json exited $?"
python3 - "$TMP/q.json" <<'PY' || fail "query --json: $(cat "$TMP/q.json")"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
assert len(msgs) == 1, msgs
m = msgs[0]
assert m["type"] == "brewery.Setpoint" and m["format"] == "json" and m["seq"] == 1, m
assert m["value"] == {"tank": "T1", "celsius": 12}, m
assert set(m["sender"]) == {"instance", "host", "addr"}
PY
"$DTS" query brewery.Setpoint >"$TMP/q.txt" || fail "query exited $?"
grep -q '^brewery.Setpoint from [0-9a-f]\{16\} .*{"tank":"T1","celsius":12}$' "$TMP/q.txt" \
  || fail "query text: $(cat "$TMP/q.txt")"
pass "query answered from the last value"

# Two publishers answer: both are printed.
"$DTS" pub brewery.Setpoint --linger 30 '{"tank":"T2","celsius":14}' &
wait_for 10 bash -c "\"$DTS\" query brewery.Setpoint --timeout 0.5 | grep -q T2" \
  || fail "second publisher never answered"
"$DTS" query brewery.Setpoint --timeout 1 >"$TMP/q2.txt"
[ "$(wc -l <"$TMP/q2.txt")" -eq 2 ] || fail "expected two answers: $(cat "$TMP/q2.txt")"
pass "query with two publishers"
