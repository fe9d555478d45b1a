#!/usr/bin/env bash
# cli_ls: `dts ls` lists the types of running publishers (table and JSON)
# with their format and publisher count; `dts ls --nodes` lists the nodes.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

"$DTS" pub brewery.Temperature --rate 10 --count 0 '{"tank":"T1","celsius":18.5}' &
"$DTS" pub brewery.Temperature --rate 10 --count 0 '{"tank":"T2","celsius":19.5}' &
"$DTS" pub notes.Text --format raw --rate 5 --count 0 'hello' &
"$DTS" pub idle.Setpoint --linger 60 '{"celsius":12}' & # one value, then silent

wait_for 15 bash -c "\"$DTS\" ls --wait 1 | grep -q '^notes.Text'" || fail "ls never showed the types"
"$DTS" ls --wait 2 >"$TMP/ls.txt" || fail "ls exited $?"
grep -Eq '^brewery.Temperature +json +[0-9a-f]{16} +2 ' "$TMP/ls.txt" || fail "ls table: $(cat "$TMP/ls.txt")"
grep -Eq '^notes.Text +raw +[0-9a-f]{16} +1 ' "$TMP/ls.txt" || fail "ls table: $(cat "$TMP/ls.txt")"
pass "ls table"

"$DTS" ls --json --wait 2 >"$TMP/ls.json" || fail "ls --json exited $?"
python3 - "$TMP/ls.json" <<'PY' || fail "ls --json: $(cat "$TMP/ls.json")"
import json, sys
types = {t["name"]: t for t in json.load(open(sys.argv[1]))}
t = types["brewery.Temperature"]
assert t["format"] == "json" and t["publishers"] == 2, t
# 20 messages/s in all, counted from when ls heard of the type.
assert 14 < t["msgs_per_s"] < 26 and t["bytes_per_s"] > 0, t
assert len(t["schema_id"]) == 16 and len(t["type_id"]) == 16
assert types["notes.Text"]["format"] == "raw"
# A publisher that sent nothing while ls listened: its latest value, sent
# to ls as a new subscriber, is no traffic.
assert types["idle.Setpoint"]["publishers"] == 1, types["idle.Setpoint"]
assert types["idle.Setpoint"]["msgs_per_s"] == 0, types["idle.Setpoint"]
PY
pass "ls --json"

# A wait under a second still measures the rates (they used to show 0).
short_rate() {
  "$DTS" ls --json --wait 0.8 | python3 -c '
import json, sys
t = {t["name"]: t for t in json.load(sys.stdin)}["brewery.Temperature"]
assert 8 < t["msgs_per_s"] < 40, t'
}
wait_for 20 short_rate || fail "ls --wait 0.8: no rate for brewery.Temperature"
pass "ls --wait 0.8 rates"

"$DTS" ls --nodes --json --wait 2 >"$TMP/nodes.json" || fail "ls --nodes exited $?"
python3 - "$TMP/nodes.json" <<'PY' || fail "ls --nodes --json: $(cat "$TMP/nodes.json")"
import json, sys
nodes = json.load(open(sys.argv[1]))
assert len(nodes) == 4, nodes
for n in nodes:
    assert len(n["instance"]) == 16 and n["hostname"] and n["pid"] > 0 and n["types"] >= 1, n
    # Multicast routed through lo leaves the source address empty (0.0.0.0);
    # it is shown as this host.
    assert n["addr"].startswith("127.0.0.1:"), n
PY
"$DTS" ls --nodes --wait 1 | grep -Eq '^[0-9a-f]{16} [0-9a-f]{16} ' || fail "ls --nodes table"
pass "ls --nodes"
