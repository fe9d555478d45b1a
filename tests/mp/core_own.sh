#!/usr/bin/env bash
# Acceptance 2d: a node does not receive its own messages unless it asks to.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

# Without --own: the publisher subscribes through a second node? No: the same
# node subscribes to what it publishes and must see nothing, while another
# process sees everything.
testpeer sub own.Test --count 20 --timeout 15 > "$TMP/other.out" &
OTHER=$!
wait_for 5 grep -q '^ready' "$TMP/other.out" || fail "other subscriber not ready"
testpeer pub own.Test --count 20 --wait-subs 1 --linger 0.5 > "$TMP/quiet.out" \
  || fail "publisher failed"
wait $OTHER || fail "the other process did not receive 20"
grep -q '^msg' "$TMP/quiet.out" && fail "node without --own received its own message"

testpeer pub own.Self --count 20 --own --linger 1 > "$TMP/own.out" || fail "own publisher failed"
n=$(grep -c '^msg own.Self' "$TMP/own.out" || true)
[ "$n" = 20 ] || fail "node with --own received $n of its 20 messages"
pass "own messages only on request"
