#!/usr/bin/env bash
# Acceptance 2b: two simulated hosts (namespaces joined by veth pairs and a
# bridge). A subscriber started first receives from a publisher started
# later; a subscriber started later gets the latest value through a query
# within 1 s.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2

on_host 2 testpeer sub brewery.Temperature --count 5 --timeout 20 > "$TMP/early.out" &
EARLY=$!
wait_for 5 grep -q '^ready' "$TMP/early.out" || fail "early subscriber not ready"
on_host 1 testpeer pub brewery.Temperature --count 5 --wait-subs 1 --timeout 10 --linger 20 \
  > "$TMP/pub.out" &
PUB=$!
wait $EARLY || fail "early subscriber got $(grep -c '^msg' "$TMP/early.out") of 5"
grep -q '"n":5' "$TMP/early.out" || fail "last value missing"
grep -q 'msg brewery.Temperature 1 ' "$TMP/early.out" || fail "first message missing"
wait_for 5 grep -q '^sent 5' "$TMP/pub.out" || fail "publisher did not finish"

on_host 2 testpeer query brewery.Temperature --timeout 1 > "$TMP/late.out" \
  || fail "late joiner got no answer within 1 s: $(cat "$TMP/late.out")"
grep -q '^reply 5 {"type":"brewery.Temperature","n":5}' "$TMP/late.out" \
  || fail "wrong latest value: $(cat "$TMP/late.out")"
ms=$(awk '/^elapsed_ms/ {print $2}' "$TMP/late.out")
[ "$ms" -lt 1000 ] || fail "query took $ms ms"
kill_tree $PUB
pass "two hosts: early subscriber and late query ($ms ms)"
