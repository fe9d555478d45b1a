#!/usr/bin/env bash
# Acceptance 2e: a killed peer (no goodbye) disappears from the node list
# within the documented timeout: peer_timeout_ms (5000 ms by default) after
# its last heartbeat, checked every 50 ms (docs/spec/discovery.md, "Leases").
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

testpeer pub lost.Type --count 1 --linger 60 > "$TMP/victim.out" &
VICTIM=$!
wait_for 5 grep -q '^instance' "$TMP/victim.out" || fail "victim did not start"
inst=$(awk '/^instance/ {print $2}' "$TMP/victim.out")
testpeer peers --present "$inst" --absent "$inst" --timeout 20 > "$TMP/watch.out" &
WATCH=$!
wait_for 5 grep -q '^present' "$TMP/watch.out" || fail "victim never discovered"
kill -9 $VICTIM
t0=$(date +%s%N)
wait $WATCH || fail "killed peer still listed after 20 s"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# Lease 5000 ms from the last heartbeat (sent at most 1.2 s before the
# kill), one tick, and the watcher's 5 ms poll.
[ "$ms" -le 5300 ] || fail "killed peer forgotten after $ms ms, documented bound is 5000 ms + 50 ms tick"
[ "$ms" -ge 3500 ] || fail "peer forgotten after only $ms ms: lease not honoured"
pass "killed peer forgotten after $ms ms"
