#!/usr/bin/env bash
# codec_pubsub: `dts pub --format protobuf|cbor|msgpack` encodes JSON values
# and declares the type with its schema; fresh `dts echo --json`, `dts
# echo`, `dts query --json` and `dts spy` processes, which have never seen
# those types, fetch the schema from the network by schema id and print the
# decoded fields: 64-bit integers at their limits, nested messages and
# maps, enums, bytes, NaN, repeated fields (issue 4, acceptance).
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

PROTO="$DTS_SRC/tests/data/codec_reading.proto"
PB_VALUE='{"tank":"T1","celsius":18.5,"counter":"-9223372036854775808","serial":"18446744073709551615","offset":"9223372036854775807","position":{"lat":35.68,"lon":139.77},"history":[1,-2,2147483647],"unit":"CELSIUS","probes":{"top":{"lat":1.5,"lon":-0.5}},"blob":"AAEC/w==","ok":true}'
CBOR_VALUE='{"tank":"T2","max":9223372036854775807,"min":-9223372036854775808,"umax":"18446744073709551615","nmin":"-18446744073709551616","nested":{"level":{"deep":[1,{"x":null}]}},"bytes":{"base64":"AAEC"},"nan":"NaN","f":-0.5}'
MP_VALUE='{"tank":"T3","max":9223372036854775807,"min":-9223372036854775808,"umax":"18446744073709551615","nested":{"a":{"b":[true,false,null]}},"s":"日本酒"}'

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

# 1. Three publishers, one per format, repeating until killed; one fresh
#    echo per type (each has never seen the type) prints 2 messages.
"$DTS" echo brewery.Reading --json --count 2 --timeout 20 >"$TMP/pb.json" 2>"$TMP/pb.err" &
e1=$!
"$DTS" echo brewery.Level --json --count 2 --timeout 20 >"$TMP/cbor.json" 2>"$TMP/cbor.err" &
e2=$!
"$DTS" echo brewery.Pack --json --count 2 --timeout 20 >"$TMP/mp.json" 2>"$TMP/mp.err" &
e3=$!
"$DTS" pub brewery.Reading --format protobuf --schema "$PROTO" --message brewery.Reading \
  --rate 10 --count 0 "$PB_VALUE" 2>"$TMP/pub_pb.err" &
p1=$!
"$DTS" pub brewery.Level --format cbor --rate 10 --count 0 "$CBOR_VALUE" &
p2=$!
"$DTS" pub brewery.Pack --format msgpack --rate 10 --count 0 "$MP_VALUE" &
p3=$!
wait $e1 || fail "echo of protobuf exited $?: $(cat "$TMP/pb.err" "$TMP/pub_pb.err")"
wait $e2 || fail "echo of cbor exited $?: $(cat "$TMP/cbor.err")"
wait $e3 || fail "echo of msgpack exited $?: $(cat "$TMP/mp.err")"

check "$TMP/pb.json" 2 '
all(m["type"] == "brewery.Reading" and m["format"] == "protobuf" for m in msgs) and
msgs[0]["seq"] < msgs[1]["seq"] and
msgs[0]["value"] == {"tank": "T1", "celsius": 18.5, "counter": "-9223372036854775808",
  "serial": "18446744073709551615", "offset": "9223372036854775807",
  "position": {"lat": 35.68, "lon": 139.77}, "history": [1, -2, 2147483647],
  "unit": "CELSIUS", "probes": {"top": {"lat": 1.5, "lon": -0.5}}, "blob": "AAEC/w==",
  "ok": True}' || fail "protobuf fields"
pass "protobuf decoded from a schema fetched by id (64-bit limits, nested message, map, enum)"

check "$TMP/cbor.json" 2 '
all(m["format"] == "cbor" for m in msgs) and
msgs[0]["value"] == {"tank": "T2", "max": 9223372036854775807, "min": -9223372036854775808,
  "umax": "18446744073709551615", "nmin": "-18446744073709551616",
  "nested": {"level": {"deep": [1, {"x": None}]}}, "bytes": {"base64": "AAEC"},
  "nan": "NaN", "f": -0.5}' || fail "cbor fields"
pass "cbor decoded (int64 and uint64/negative limits, nesting, bytes, NaN)"

check "$TMP/mp.json" 2 '
all(m["format"] == "msgpack" for m in msgs) and
msgs[0]["value"] == {"tank": "T3", "max": 9223372036854775807, "min": -9223372036854775808,
  "umax": "18446744073709551615", "nested": {"a": {"b": [True, False, None]}},
  "s": "日本酒"}' || fail "msgpack fields"
pass "msgpack decoded"

# 2. Text mode: the type name and the value as compact JSON on one line.
"$DTS" echo brewery.Reading --count 1 --timeout 20 >"$TMP/pb.txt" || fail "text echo exited $?"
python3 - "$TMP/pb.txt" <<'PY' || fail "text echo of protobuf: $(cat "$TMP/pb.txt")"
import json, sys
name, value = open(sys.argv[1]).read().rstrip("\n").split(" ", 1)
assert name == "brewery.Reading", name
v = json.loads(value)
assert v["serial"] == "18446744073709551615" and v["position"]["lon"] == 139.77, v
PY
pass "text mode prints decoded JSON"

# 3. query: a fresh process asks for the last value and decodes it.
"$DTS" query brewery.Reading --json --timeout 1 >"$TMP/q.json" || fail "query exited $?"
check "$TMP/q.json" 1 'msgs[0]["format"] == "protobuf" and msgs[0]["value"]["counter"] == "-9223372036854775808"' \
  || fail "query of protobuf"
pass "query decodes protobuf"

# 4. spy: the last value column shows the decoded value.
"$DTS" spy --duration 3 --interval 0.5 >"$TMP/spy.txt" || fail "spy exited $?"
grep -q '^brewery.Reading .*{"tank":"T1","celsius":18.5' "$TMP/spy.txt" \
  || fail "spy last value of protobuf: $(tail -5 "$TMP/spy.txt")"
grep -q '^brewery.Level .*{"tank":"T2"' "$TMP/spy.txt" || fail "spy last value of cbor"
pass "spy shows decoded last values"
kill $p1 $p2 $p3; wait $p1 $p2 $p3 2>/dev/null || true

# 5. One value per stdin line encoded as protobuf (--message by short name,
#    a descriptor set file instead of a .proto), held messages released in
#    order.
protoc --include_imports --descriptor_set_out="$TMP/reading.pb" -I"$DTS_SRC/tests/data" "$PROTO"
"$DTS" echo brewery.Stream --json --count 5 --timeout 20 >"$TMP/s.json" &
e1=$!
seq 1 1000000 | sed 's/.*/{"tank":"S","counter":"&"}/' |
  "$DTS" pub brewery.Stream --format protobuf --schema "$TMP/reading.pb" --message Reading --rate 20 &
p1=$!
wait $e1 || fail "echo of a protobuf stream exited $?"
kill $p1 2>/dev/null; wait $p1 2>/dev/null || true
check "$TMP/s.json" 5 '
[int(m["value"]["counter"]) for m in msgs] == list(range(int(msgs[0]["value"]["counter"]), int(msgs[0]["value"]["counter"]) + 5)) and
all(m["value"]["tank"] == "S" for m in msgs)' || fail "stdin protobuf stream"
pass "stdin lines as protobuf from a descriptor set, in order"
