#!/usr/bin/env bash
# codec_errors: what `dts pub` says when a value does not fit its format or
# schema (a JSON field the protobuf message lacks, with the valid names; a
# wrong value type; protoc failing or missing), and what `dts echo` prints
# for a payload its codec refuses ({"undecodable", "base64"}) and for a
# schema that never arrives (base64 after the wait, with a note on stderr).
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

PROTO="$DTS_SRC/tests/data/codec_reading.proto"

# expect_usage NAME PATTERN CMD...: CMD exits 2 and its stderr matches PATTERN.
expect_usage() {
  local name=$1 pattern=$2 rc=0; shift 2
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  [ "$rc" = 2 ] || fail "$name: exit $rc, expected 2: $(cat "$TMP/$name.err")"
  grep -qE "$pattern" "$TMP/$name.err" || fail "$name: stderr does not match '$pattern': $(cat "$TMP/$name.err")"
  [ ! -s "$TMP/$name.out" ] || fail "$name: printed on stdout"
}

# 1. A JSON field the message does not have: named, with the valid fields,
#    also inside a nested message.
expect_usage unknown 'message brewery.Reading has no field "tnk"; its fields are: tank, celsius, counter' \
  "$DTS" pub brewery.Reading --format protobuf --schema "$PROTO" --message brewery.Reading '{"tnk":"T1"}'
expect_usage nested 'message brewery.Position has no field "height"; its fields are: lat, lon' \
  "$DTS" pub brewery.Reading --format protobuf --schema "$PROTO" '{"position":{"lat":1,"height":2}}'
pass "unknown protobuf field named with the valid ones"

# 2. A value of the wrong kind, an integer past 64 bits, invalid JSON.
expect_usage kind 'field counter: expected a 64-bit integer' \
  "$DTS" pub brewery.Reading --format protobuf --schema "$PROTO" '{"counter":"many"}'
expect_usage big 'field serial' \
  "$DTS" pub brewery.Reading --format protobuf --schema "$PROTO" '{"serial":"18446744073709551616"}'
expect_usage syntax 'not valid JSON at line 1, column' \
  "$DTS" pub brewery.Level --format cbor '{"tank":'
pass "wrong value kinds and invalid JSON"

# 3. Message not in the schema; protobuf without a schema; bad combinations.
expect_usage nomsg 'no message brewery.Nope in .*--message NAME' \
  "$DTS" pub brewery.X --format protobuf --schema "$PROTO" --message brewery.Nope '{}'
expect_usage noschema 'protobuf needs its schema: --schema' \
  "$DTS" pub brewery.X --format protobuf '{}'
expect_usage cborschema 'cbor carries no schema' \
  "$DTS" pub brewery.X --format cbor --schema "$PROTO" '{}'
pass "schema options checked"

# 4. protoc refusing a .proto: its own message is shown; protoc missing:
#    how to install it or where to get a descriptor set.
printf 'syntax = "proto3";\nmessage A { int32 x = 1; strin y = 2; }\n' >"$TMP/bad.proto"
expect_usage protoc '"strin" is not defined' \
  "$DTS" pub t.A --format protobuf --schema "$TMP/bad.proto" '{}'
rc=0
env PATH=/nonexistent "$DTS" pub t.A --format protobuf --schema "$PROTO" --message brewery.Reading '{}' \
  2>"$TMP/noprotoc.err" || rc=$?
[ "$rc" = 1 ] || fail "protoc missing: exit $rc"
grep -q "cannot run protoc" "$TMP/noprotoc.err" && grep -q "apt install protobuf-compiler" "$TMP/noprotoc.err" \
  || fail "protoc missing: $(cat "$TMP/noprotoc.err")"
pass "protoc errors"

# 5. A CBOR payload its codec refuses (an array claiming 2^26 items in 5
#    bytes), sent as a hand-made frame of a type declared cbor without a
#    schema: printed as undecodable with the bytes in base64, never garbage.
#    Then a frame whose schema id nobody can answer: printed as base64 after
#    the wait, with a note on stderr.
send_frame() { # TYPE SCHEMA_HEX_OR_EMPTY_CBOR PAYLOAD_HEX SEQ
  python3 - "$@" <<'PY'
import socket, struct, sys, time
def fnv(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h
name, schema, payload, seq = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
tid = fnv(name.encode())
sid = fnv(b"\x02") if schema == "cbor" else int(schema, 16)
hdr = struct.pack("<2sBBHHIIQQQQQq", b"DT", 1, 1, 0, 0, len(payload), 0, tid, sid,
                  0x5151, 0x99, seq, time.time_ns())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
s.sendto(hdr + payload, (f"239.255.{1 + tid % 255}.{1 + (tid >> 8) % 254}", 5555))
PY
}
# keep_sending TYPE SCHEMA PAYLOAD: one frame every 0.1 s (new sequence numbers).
keep_sending() {
  local i=1
  while :; do send_frame "$@" $i; i=$((i + 1)); sleep 0.1; done
}
"$DTS" echo hostile.Cbor --json --count 1 --timeout 20 >"$TMP/h.json" 2>"$TMP/h.err" &
e1=$!
"$DTS" echo hostile.Cbor --count 1 --timeout 20 >"$TMP/h.txt" 2>/dev/null &
e2=$!
keep_sending hostile.Cbor cbor 9a04000000 &
k=$!
wait $e1 || fail "echo of hostile cbor exited $?: $(cat "$TMP/h.err")"
wait $e2 || fail "text echo of hostile cbor exited $?"
kill $k; wait $k 2>/dev/null || true
python3 - "$TMP/h.json" <<'PY' || fail "undecodable: $(cat "$TMP/h.json")"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["format"] == "cbor", m
v = m["value"]
assert set(v) == {"undecodable", "base64"} and v["base64"] == "mgQAAAA=", v
assert "claims" in v["undecodable"], v
PY
grep -q '^hostile.Cbor undecodable (cbor payload refused by its codec: .*) base64:mgQAAAA=$' "$TMP/h.txt" \
  || fail "undecodable in text mode: $(cat "$TMP/h.txt")"
pass "undecodable payload printed as such"

"$DTS" echo orphan.Type --json --count 1 --timeout 20 >"$TMP/o.json" 2>"$TMP/o.err" &
e1=$!
keep_sending orphan.Type 0123456789abcdef 0a0354310a &
k=$!
wait $e1 || fail "echo of an orphan schema exited $?"
kill $k; wait $k 2>/dev/null || true
python3 - "$TMP/o.json" <<'PY' || fail "orphan schema: $(cat "$TMP/o.json")"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["value"] == {"base64": "CgNUMQo="}, m
assert m["received_ns"] - m["sent_ns"] < 10**9
PY
grep -q "schema 0123456789abcdef did not arrive within 2000 ms" "$TMP/o.err" \
  || fail "no note for a missing schema: $(cat "$TMP/o.err")"
pass "missing schema: base64 after the wait, with a note"
