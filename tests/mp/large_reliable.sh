#!/usr/bin/env bash
# Issue 6 acceptance: reliable mode delivers all of 1,000 messages of 64 KiB
# between two simulated hosts with 5% random loss (nftables, inside the
# receiving host's namespace): receivers ask for what they miss, the
# publisher repairs from its history; every message arrives byte-exact and
# the counters show the repairs.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2
# Loss on a real link drops single frames; our veth "link" would carry a
# run of fragments sent with UDP GSO as one packet (up to a whole message),
# so segment runs before the link (as large_loss.sh does).
ip -n h1 link set eth0 gso_max_segs 1
ip netns exec h2 nft -f - <<NFT
table inet dtsloss {
  chain input {
    type filter hook input priority 0;
    udp dport 5555 ip daddr != 239.255.0.1 numgen random mod 100 < 5 counter drop
  }
}
NFT

on_host 2 testpeer sub rel.Blob --sum --count 1000 --timeout 120 > "$TMP/sub" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub" || fail "subscriber not ready"
on_host 1 testpeer pub rel.Blob --reliable --size 65536 --count 1000 --wait-subs 1 --linger 120 \
  > "$TMP/pub" &
PUB=$!
wait $SUB || fail "reliable mode delivered $(grep -c '^msg' "$TMP/sub") of 1000: $(grep counters "$TMP/sub")"
# The publisher prints its checksums when its queue has drained (dts_flush),
# which may be after the subscriber has all 1000 (a last repair): stop it only
# then, or its buffered lines are lost and the comparison below fails.
wait_for 60 grep -q '^sent' "$TMP/pub" || fail "the publisher's queue did not drain"
kill_tree $PUB
line=$(grep '^counters' "$TMP/sub")
echo "$line"
get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
dropped=$(ip netns exec h2 nft list table inet dtsloss | grep -o 'packets [0-9]*' | awk '{print $2}')
echo "nftables dropped $dropped packets"
[ "$dropped" -gt 100 ] || fail "the loss was not injected"
[ "$(get repaired)" -gt 0 ] || fail "nothing counted as repaired"
[ "$(get nacks_sent)" -gt 0 ] || fail "no NACK sent"
[ "$(get dup)" = 0 ] || fail "duplicates delivered"
# All 1000 distinct, byte-exact.
[ "$(awk '/^msg/ {print $3}' "$TMP/sub" | sort -un | wc -l)" = 1000 ] || fail "not 1000 distinct messages"
join <(awk '/^sum/ {print $3, $5}' "$TMP/pub" | sort) <(awk '/^msg/ {print $3, $6}' "$TMP/sub" | sort) \
  | awk '$2 != $3 {bad++} END {exit !(NR == 1000 && bad == 0)}' || fail "content differs"
pass "reliable mode: 1000 x 64 KiB delivered under 5% loss, $(get repaired) repaired"
