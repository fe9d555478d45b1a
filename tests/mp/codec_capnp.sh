#!/usr/bin/env bash
# codec_capnp: `dts pub --format capnp --schema FILE.capnp --message STRUCT`
# compiles the schema with `capnp compile`, encodes JSON values as Cap'n
# Proto and declares the type with its schema; fresh `dts echo --json`,
# `dts echo` and `dts query --json` processes, which have no generated code
# and have never seen the type, fetch the schema by schema id and print the
# decoded fields (and `dts spy` the last value) with the mapping of `capnp convert binary:json`: UInt64 at
# its limit as a string, a nested struct, lists, an enum by name, a named
# union as a one-key object, an unnamed union member, a group, defaults
# (issue 5, acceptance). Also: the bytes on the wire are what the capnp
# tool reads, and what `dts pub` says about a missing struct or capnp tool.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

command -v capnp >/dev/null || fail "the capnp tool is missing (Debian: apt install capnproto)"

cat >"$TMP/brewery.capnp" <<'EOF'
@0xd7c4e1b2a3f40501;
struct Position { lat @0 :Float64; lon @1 :Float64; }
struct Reading {
  tank @0 :Text;
  celsius @1 :Float64;
  serial @2 :UInt64;
  counter @3 :Int64;
  ok @4 :Bool = true;
  unit @5 :Unit;
  position @6 :Position;
  history @7 :List(Int32);
  probes @8 :List(Position);
  blob @9 :Data;
  status :union { nominal @10 :Void; warning @11 :Text; fault @12 :UInt32; }
  union { manual @13 :Void; auto @14 :UInt16; }
  location :group { row @15 :UInt8; depthCm @16 :Int16 = -5; }
  enum Unit { celsius @0; fahrenheit @1; kelvin @2; }
  struct Nested { note @0 :Text; }
}
EOF
VALUE='{"tank":"T1","celsius":18.5,"serial":"18446744073709551615","counter":"-9223372036854775808","ok":false,"unit":"kelvin","position":{"lat":35.68,"lon":139.77},"history":[1,-2,2147483647],"probes":[{"lat":1.5,"lon":-0.5},{"lat":0,"lon":0}],"blob":[0,1,255],"status":{"warning":"foam"},"auto":7,"location":{"row":3}}'

# check FILE N PYEXPR: FILE has N JSON lines (list `msgs`) and PYEXPR holds.
check() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
msgs = [json.loads(l) for l in open(path) if l.strip()]
assert len(msgs) == n, f"expected {n} lines, got {len(msgs)}: {msgs}"
assert eval("(" + expr + ")"), f"failed: {expr}\n{json.dumps(msgs, indent=1)}"
PY
}

WANT='{"tank": "T1", "celsius": 18.5, "serial": "18446744073709551615",
  "counter": "-9223372036854775808", "ok": False, "unit": "kelvin",
  "position": {"lat": 35.68, "lon": 139.77}, "history": [1, -2, 2147483647],
  "probes": [{"lat": 1.5, "lon": -0.5}, {"lat": 0, "lon": 0}], "blob": [0, 1, 255],
  "status": {"warning": "foam"}, "location": {"row": 3, "depthCm": -5}, "auto": 7}'

# echo_reading OUT [WHERE]: a fresh `dts echo --json` prints 2 messages into
# OUT while a publisher repeats VALUE until killed (left running as $p1).
echo_reading() {
  "$DTS" echo brewery.Reading --json --count 2 --timeout 20 >"$1" 2>"$TMP/e.err" &
  local e=$!
  "$DTS" pub brewery.Reading --format capnp --schema "$TMP/brewery.capnp" --message Reading \
    --rate 10 --count 0 "$VALUE" 2>"$TMP/pub.err" &
  p1=$!
  wait $e || fail "echo of capnp${2:+ $2} exited $?: $(cat "$TMP/e.err" "$TMP/pub.err")"
}

# 1. A publisher repeating until killed; a fresh echo prints 2 messages.
echo_reading "$TMP/e.json"
check "$TMP/e.json" 2 '
all(m["type"] == "brewery.Reading" and m["format"] == "capnp" for m in msgs) and
msgs[0]["seq"] < msgs[1]["seq"] and
list(msgs[0]["value"].keys()) == list('"$WANT"'.keys()) and
msgs[0]["value"] == '"$WANT" || fail "capnp fields"
pass "capnp decoded from a schema fetched by id (UInt64 limit, nested struct, lists, enum, unions, group)"

# 2. The same JSON as the capnp tool prints for the payload: the echo's
#    value, encoded again by the tool from our JSON, gives the tool's JSON.
python3 -c 'import json,sys; print(json.dumps(json.loads(open(sys.argv[1]).readline())["value"]))' \
  "$TMP/e.json" >"$TMP/ours.json"
capnp convert json:binary "$TMP/brewery.capnp" Reading <"$TMP/ours.json" >"$TMP/r.bin" ||
  fail "capnp does not read our JSON"
capnp convert binary:json "$TMP/brewery.capnp" Reading <"$TMP/r.bin" >"$TMP/tool.json"
python3 - "$TMP/ours.json" "$TMP/tool.json" <<'PY' || fail "our JSON differs from capnp's"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a == b and list(a) == list(b), (a, b)
PY
pass "the JSON equals capnp convert binary:json"

# 3. Text mode and query.
"$DTS" echo brewery.Reading --count 1 --timeout 20 >"$TMP/e.txt" || fail "text echo exited $?"
grep -q '^brewery.Reading {"tank":"T1",' "$TMP/e.txt" || fail "text echo: $(cat "$TMP/e.txt")"
"$DTS" query brewery.Reading --json --timeout 1 >"$TMP/q.json" || fail "query exited $?"
check "$TMP/q.json" 1 'msgs[0]["format"] == "capnp" and msgs[0]["value"]["serial"] == "18446744073709551615"' \
  || fail "query of capnp"
"$DTS" spy --duration 3 --interval 0.5 >"$TMP/spy.txt" || fail "spy exited $?"
grep -q '^brewery.Reading .*{"tank":"T1","celsius":18.5' "$TMP/spy.txt" ||
  fail "spy last value of capnp: $(tail -5 "$TMP/spy.txt")"
pass "text echo, query and spy decode capnp"
kill $p1; wait $p1 2>/dev/null || true

# 4. Without --message the last part of the type names the struct; a
#    nested struct by Outer.Inner; values from standard input.
"$DTS" echo brewery.Nested --json --count 3 --timeout 20 >"$TMP/n.json" &
e1=$!
seq 1 1000000 | sed 's/.*/{"note":"n&"}/' |
  "$DTS" pub brewery.Nested --format capnp --schema "$TMP/brewery.capnp" --message Reading.Nested \
    --rate 20 &
p1=$!
wait $e1 || fail "echo of a capnp stream exited $?"
kill $p1 2>/dev/null; wait $p1 2>/dev/null || true
check "$TMP/n.json" 3 'all(m["value"]["note"].startswith("n") for m in msgs)' || fail "nested struct"
"$DTS" pub brewery.Position --format capnp --schema "$TMP/brewery.capnp" '{"lat":1}' \
  || fail "struct named by the type's last part"
pass "nested struct by Outer.Inner, struct by type name, stdin values"

# 5. Errors: an unknown struct lists the structs; a value that does not fit
#    names the field; a missing capnp tool says how to install it.
if "$DTS" pub brewery.X --format capnp --schema "$TMP/brewery.capnp" --message Nope '{}' \
  2>"$TMP/err1"; then fail "unknown struct accepted"; fi
grep -q 'no struct Nope' "$TMP/err1" && grep -q 'Reading.Nested' "$TMP/err1" &&
  grep -q 'Position' "$TMP/err1" || fail "unknown struct message: $(cat "$TMP/err1")"
if "$DTS" pub brewery.Reading --format capnp --schema "$TMP/brewery.capnp" --message Reading \
  '{"tank":"T1","bogus":1}' 2>"$TMP/err2"; then fail "unknown field accepted"; fi
grep -q "has no field 'bogus'" "$TMP/err2" || fail "unknown field message: $(cat "$TMP/err2")"
if "$DTS" pub brewery.Reading --format capnp --schema "$TMP/brewery.capnp" --message Reading \
  '{"serial":"18446744073709551616"}' 2>"$TMP/err3"; then fail "UInt64 overflow accepted"; fi
grep -q 'serial' "$TMP/err3" || fail "overflow message: $(cat "$TMP/err3")"
mkdir -p "$TMP/nobin"
ln -s "$DTS" "$TMP/nobin/dts"
if PATH="$TMP/nobin" "$TMP/nobin/dts" pub brewery.Reading --format capnp \
  --schema "$TMP/brewery.capnp" '{}' 2>"$TMP/err4"; then fail "pub without capnp succeeded"; fi
grep -q 'apt install capnproto' "$TMP/err4" || fail "missing capnp message: $(cat "$TMP/err4")"
if "$DTS" pub brewery.Reading --format capnp '{}' 2>"$TMP/err5"; then fail "no --schema accepted"; fi
grep -q -- '--schema FILE.capnp' "$TMP/err5" || fail "no schema message: $(cat "$TMP/err5")"
pass "clear errors: unknown struct (with the list), unknown field, overflow, no capnp, no schema"

# 6. Over a 1500-byte MTU, as on Ethernet: Reading's schema (2.4 KB) does
#    not fit one datagram, so its SCHEMA_ANS travels as dts fragments; a
#    fresh echo fetches it and decodes (before, it was never sent).
ip link set lo mtu 1500
echo_reading "$TMP/m.json" "over a 1500-byte MTU"
kill $p1; wait $p1 2>/dev/null || true
check "$TMP/m.json" 2 'all(m["value"] == '"$WANT"' for m in msgs)' ||
  fail "capnp over a 1500-byte MTU"
pass "a schema longer than a datagram travels as fragments (1500-byte MTU)"
