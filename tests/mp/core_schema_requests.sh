#!/usr/bin/env bash
# Schema answers are bounded (docs/spec/discovery.md, SCHEMA_REQ): 100
# requests for one schema within 2 s (a node gone wrong, or many fresh
# `dts echo`s) get at most one answer per 100 ms, not 100 answers (the
# publisher counts the others in schema_answers_held). Without the bound,
# every request was answered, and an answer may be 33 KB of fragments.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

python3 "$DTS_SRC/tests/lib/schemareq.py" 100 2 > "$TMP/req" &
REQ=$!
wait_for 5 grep -q '^ready' "$TMP/req" || fail "requester not ready"
# A publisher of a type with a schema for 6 s (it says the schema once when
# it declares the type; the requester starts from that answer).
testpeer pub sch.Temperature --schema '{"type":"object"}' --count 60 --interval-ms 100 \
  --counters > "$TMP/pub" &
PUB=$!
wait $REQ || fail "requester: $(cat "$TMP/req")"
wait $PUB || fail "publisher failed: $(cat "$TMP/pub")"
n=$(awk '/^answers/ {print $2}' "$TMP/req")
line=$(grep '^counters' "$TMP/pub")
held=$(echo "$line" | tr ' ' '\n' | awk -F= '$1 == "schema_answers_held" {print $2}')
echo "$(cat "$TMP/req"); the publisher held back $held requests"
[ "$n" -ge 5 ] || fail "only $n answers to 100 requests over 2 s: the schema must still be answered"
[ "$n" -le 25 ] || fail "$n answers to 100 requests over 2 s: not bounded (at most ~21 expected)"
[ "$held" -ge 50 ] || fail "schema_answers_held is $held: the requests held back are not counted"
pass "100 schema requests in 2 s got $n answers ($held held back)"
