#!/usr/bin/env bash
# Flow control (docs/spec/wire.md, "Flow control"): a subscriber that takes
# 1 ms per message (60 MB/s, far less than any build of the publisher
# sends, ASan's included) falls behind; its socket fills past half, it
# sends SLOW to the publisher, which halves its rate until the subscriber
# keeps up. 3000 messages of 60,000 bytes (180 MB, more than the 128 MiB
# of memory the kernel grants a 64 MiB socket buffer; without SLOW about a
# tenth is lost) all arrive, byte-exact, with no gap, and both sides count
# the SLOWs.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

testpeer sub flow.Blob --sum --count 3000 --slow-us 1000 --timeout 60 > "$TMP/sub" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub" || fail "subscriber not ready"
testpeer pub flow.Blob --size 60000 --count 3000 --wait-subs 1 --linger 1 --counters > "$TMP/pub" &
PUB=$!
if ! wait $SUB; then
  wait $PUB
  # Where the loss was: RcvbufErrors (a full socket) or MemErrors (the
  # kernel's UDP memory), in this namespace, and the kernel's UDP memory.
  udp=$(awk '/^Udp:/ {if (!h) {split($0, k); h = 1} else {for (i = 2; i <= NF; i++) printf "%s=%s ", k[i], $i}}' /proc/net/snmp)
  fail "delivered $(grep -c '^msg' "$TMP/sub") of 3000: sub $(grep counters "$TMP/sub"); pub $(grep counters "$TMP/pub"); kernel: $udp; $(grep UDP: /proc/net/sockstat)"
fi
wait $PUB || true
line=$(grep '^counters' "$TMP/sub")
echo "sub: $line"
echo "pub: $(grep '^counters' "$TMP/pub")"
get() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
[ "$(get gaps "$line")" = 0 ] || fail "gaps: the subscriber lost messages"
[ "$(get incomplete "$line")" = 0 ] || fail "incomplete messages"
[ "$(get slow_sent "$line")" -gt 0 ] || fail "the subscriber never asked to slow down"
[ "$(get slow_received "$(grep '^counters' "$TMP/pub")")" -gt 0 ] || fail "the publisher never slowed down"
join <(awk '/^sum/ {print $3, $5}' "$TMP/pub" | sort) <(awk '/^msg/ {print $3, $6}' "$TMP/sub" | sort) \
  | awk '$2 != $3 {bad++} END {exit !(NR == 3000 && bad == 0)}' || fail "content differs"
pass "flow control: 3000 x 60 KB to a slow subscriber, no loss, $(get slow_sent "$line") SLOW sent"
