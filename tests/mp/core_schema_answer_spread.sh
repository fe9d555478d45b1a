#!/usr/bin/env bash
# Several publishers of one schema do not all answer each request for it
# (docs/spec/discovery.md, SCHEMA_REQ): a node that knows other publishers
# of the type waits a random 51-100 ms and holds its answer when it hears
# another's first. Four publishers, five requests half a second apart (each
# past the 100 ms gap, so every node would answer each): about one answer
# per request, not four (the publishers count the rest in
# schema_answers_held). Before, every publisher answered every request:
# twenty answers, each up to 33 KB of fragments.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

# The requester starts from the first publisher's unasked answer, then
# waits 2 s, while the publishers learn that the others publish the type.
python3 "$DTS_SRC/tests/lib/schemareq.py" 5 2.5 2 > "$TMP/req" &
REQ=$!
wait_for 5 grep -q '^ready' "$TMP/req" || fail "requester not ready"
PUBS=()
for i in 1 2 3 4; do
  testpeer pub sch.Temperature --schema '{"type":"object"}' --count 70 --interval-ms 100 \
    --counters > "$TMP/pub$i" &
  PUBS+=($!)
done
wait $REQ || fail "requester: $(cat "$TMP/req")"
held=0
for i in 1 2 3 4; do
  wait "${PUBS[$((i - 1))]}" || fail "publisher $i failed: $(cat "$TMP/pub$i")"
  h=$(grep '^counters' "$TMP/pub$i" | tr ' ' '\n' | awk -F= '$1 == "schema_answers_held" {print $2}')
  held=$((held + h))
done
n=$(awk '/^answers/ {print $2}' "$TMP/req")
echo "$(cat "$TMP/req"); the publishers held back $held answers"
[ "$n" -ge 5 ] || fail "only $n answers to 5 requests: each must be answered"
[ "$n" -le 10 ] || fail "$n answers to 5 requests from 4 publishers: not spread (20 without)"
[ "$held" -ge 10 ] || fail "schema_answers_held sums to $held: the answers held back are not counted"
pass "5 schema requests to 4 publishers got $n answers ($held held back)"
