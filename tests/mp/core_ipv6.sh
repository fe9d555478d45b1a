#!/usr/bin/env bash
# IPv6: two simulated hosts exchange a type over the ff15::/16 groups
# (docs/spec/wire.md, "Groups"), and a late joiner's query is answered.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2
# Wait for IPv6 duplicate address detection of the link-local addresses.
for k in 1 2; do
  wait_for 5 bash -c "! ip -n h$k -6 addr show dev eth0 | grep -q tentative" || fail "DAD on h$k"
done
on_host 2 testpeer sub v6.Type --ipv6 --count 5 --timeout 15 > "$TMP/sub.out" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub.out" || fail "subscriber not ready"
on_host 1 testpeer pub v6.Type --ipv6 --count 5 --wait-subs 1 --timeout 10 --linger 10 > "$TMP/pub.out" &
wait $SUB || fail "IPv6 subscriber got $(grep -c '^msg' "$TMP/sub.out") of 5"
on_host 2 testpeer query v6.Type --ipv6 --timeout 2 > "$TMP/q.out" || fail "IPv6 query unanswered"
grep -q '"n":5' "$TMP/q.out" || fail "wrong latest value: $(cat "$TMP/q.out")"
pass "IPv6 exchange and query between two hosts"
