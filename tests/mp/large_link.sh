#!/usr/bin/env bash
# Flow control for a link slower than the publisher (docs/spec/wire.md,
# "Flow control"): between two simulated hosts, the bridge's port to the
# subscriber carries 1 Gbit/s (tbf, a 5 ms queue), as a switch's port to a
# slower host would, while the publisher may send 5 GB/s. The subscriber's
# socket never fills, so it never falls behind; what the link cannot carry
# it drops (with a 256 KiB burst, tbf takes the publisher's GSO runs whole
# and drops whole ones), and before SLOW for loss almost every message lost
# a fragment (2 of 13,568 messages of 1 MiB, 2% of 16 KiB ones delivered
# in 3 s). Now the subscriber counts the datagrams missing, asks the
# publisher for the rate that reaches it, and most messages arrive: here
# 3000 of 64 KiB and 150,000 of 1 KiB sent as fast as the publisher may, at
# least 75% delivered (18% and 48% with node_on_loss disabled), the rest
# counted (gaps, incomplete), and both sides count the SLOWs for loss.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2
tc qdisc add dev veth2 root tbf rate 1gbit burst 256kb latency 5ms \
  || fail "tc could not limit the link (sch_tbf)"

# check SIZE COUNT: COUNT messages of SIZE bytes as fast as the publisher
# may, then a few more once it says "waiting" (they reveal losses at the end
# as gaps); at least 75% must arrive and the rest be counted.
check() {
  local size=$1 count=$2 tail=3
  local total=$((count + tail)) dropped_before
  dropped_before=$(link_dropped)
  rm -f "$TMP/go"
  on_host 2 testpeer sub link.Blob --sum --accounted "$total" --linger 2.5 --timeout 60 \
    > "$TMP/sub" &
  local sub=$!
  wait_for 5 grep -q '^ready' "$TMP/sub" || fail "subscriber not ready"
  on_host 1 testpeer pub link.Blob --size "$size" --count "$count" --then-wait "$TMP/go" \
    --then-count $tail --wait-subs 1 --counters > "$TMP/pub" &
  local pub=$!
  wait_for 60 grep -q '^waiting' "$TMP/pub" || fail "$size bytes: publisher stuck"
  touch "$TMP/go"
  wait $pub || fail "$size bytes: publisher failed"
  wait $sub || fail "$size bytes: not all $total accounted for: $(grep counters "$TMP/sub")"
  local line; line=$(grep '^counters' "$TMP/sub")
  local got; got=$(grep -c '^msg' "$TMP/sub")
  echo "$size sub: $line"
  echo "$size pub: $(grep '^counters' "$TMP/pub")"
  local dropped=$(($(link_dropped) - dropped_before))
  echo "$size link: dropped $dropped"
  [ "$got" -ge $((total * 3 / 4)) ] || fail "$size bytes: only $got of $total delivered: $line"
  # A publisher slowed by the build (ASan on a busy machine) may never
  # outrun the link: nothing lost, nothing to ask for.
  if [ "$dropped" -gt 0 ]; then
    [ "$(get slow_loss_sent "$line")" -gt 0 ] || fail "$size bytes: no SLOW for loss sent"
    [ "$(get slow_received "$(grep '^counters' "$TMP/pub")")" -gt 0 ] \
      || fail "$size bytes: the publisher never slowed down"
  else
    echo "note: $size bytes: the publisher never outran the link here; SLOW for loss not exercised"
  fi
  join <(awk '/^sum/ {print $3, $5}' "$TMP/pub" | sort) <(awk '/^msg/ {print $3, $6}' "$TMP/sub" | sort) \
    | awk '$2 != $3 {bad++} END {exit bad > 0}' || fail "$size bytes: corrupted message delivered"
  echo "ok: $size bytes: $got of $total delivered, $(get slow_loss_sent "$line") SLOW for loss"
}
get() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
link_dropped() { tc -s qdisc show dev veth2 | grep -o 'dropped [0-9]*' | awk '{print $2}'; }
check 65536 3000   # fragments: runs of them missing
check 1024 150000  # small values, many to a datagram: runs of sequence numbers missing
pass "slower link: most messages arrive, the rest counted"
