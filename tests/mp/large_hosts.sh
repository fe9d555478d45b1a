#!/usr/bin/env bash
# Issue 6 acceptance: between two simulated hosts (veth, MTU 1500, so every
# fragment fits 1472 bytes and IP never fragments), 1 MiB and 64 MiB
# messages are delivered byte-exact (length and FNV-1a 64 checksum).
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2

check_size() {
  local size=$1 count=$2 secs=$3
  on_host 2 testpeer sub big.Blob --sum --count "$count" --timeout "$secs" > "$TMP/sub.$size" &
  local sub=$!
  wait_for 5 grep -q '^ready' "$TMP/sub.$size" || fail "subscriber not ready"
  on_host 1 testpeer pub big.Blob --size "$size" --count "$count" --wait-subs 1 --timeout 10 \
    > "$TMP/pub.$size" || fail "publisher of $size-byte messages failed"
  wait $sub || fail "$size bytes: $(grep -c '^msg' "$TMP/sub.$size") of $count delivered; $(grep counters "$TMP/sub.$size")"
  diff <(awk '/^sum/ {print $3, $4, $5}' "$TMP/pub.$size") \
       <(awk '/^msg/ {print $3, $5, $6}' "$TMP/sub.$size") || fail "$size bytes: content differs"
  echo "ok: $count x $size bytes byte-exact"
}
check_size 1048576 5 30
check_size 67108864 2 60
pass "large messages between hosts"
