#!/usr/bin/env bash
# Acceptance: garbage, truncated, oversized and wrong-version frames sent to
# a data group and to the control group are counted and dropped, and the
# node keeps delivering.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

testpeer sub junk.Type --count 101 --timeout 30 > "$TMP/sub.out" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub.out" || fail "subscriber not ready"
testpeer pub junk.Type --count 100 --interval-ms 20 --wait-subs 1 > "$TMP/pub.out" &
for i in $(seq 20); do python3 "$DTS_SRC/tests/lib/junk.py" junk.Type 5; done
wait $SUB || fail "delivery stopped under garbage: $(grep -c '^msg' "$TMP/sub.out") of 101"
line=$(grep '^counters' "$TMP/sub.out")
echo "$line"
get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
# 100 from the real publisher, and the one well-formed frame junk.py forges
# (instance 0000000000001234, seq 7) once: its 99 copies are duplicates.
pub=$(awk '/^instance/ {print $2}' "$TMP/pub.out")
real=$(grep -c "^msg junk.Type [0-9]* $pub " "$TMP/sub.out" || true)
forged=$(grep -c '^msg junk.Type 7 0000000000001234 ' "$TMP/sub.out" || true)
[ "$real" = 100 ] || fail "real publisher: $real of 100 delivered"
[ "$forged" = 1 ] || fail "forged well-formed frame delivered $forged times"
[ "$(get received)" = 101 ] || fail "received $(get received), want 101"
[ "$(get gaps)" = 0 ] || fail "gaps $(get gaps)"
[ "$(get dup)" -gt 0 ] || fail "duplicates not counted"
for k in malformed foreign bad_version control_malformed fragments_malformed \
  control_fragments_refused; do
  [ "$(get $k)" -gt 0 ] || fail "counter $k did not count the junk"
done
pass "garbage counted and dropped while delivering"
