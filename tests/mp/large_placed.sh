#!/usr/bin/env bash
# Issue 7 (zero copies between the socket and the subscriber callback): a
# subscriber receives the fragments of large messages straight into the
# buffer they are reassembled in, guessing where each next datagram goes
# and checking the guess before anything is handed on. 200 messages of
# 1 MiB, each of different bytes, all arrive byte-exact; nearly every
# fragment came placed (the counters say how many), and the message buffers
# were reused rather than allocated per message. Then 200 kB messages cut
# into 1,500-byte fragments, which UDP GRO hands over in runs of up to 44
# in one buffer: such runs are not placed (they are read eight at a time
# and their fragments copied out, which costs less), so those messages
# must arrive byte-exact in reused buffers, placed or not.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

run_case() { # COUNT SIZE [publisher options]
  local count=$1 size=$2
  shift 2
  testpeer sub place.Blob --sum --count "$count" --timeout 60 > "$TMP/sub" &
  local sub=$!
  wait_for 5 grep -q '^ready' "$TMP/sub" || fail "subscriber not ready"
  testpeer pub place.Blob --size "$size" --count "$count" --wait-subs 1 --linger 1 "$@" > "$TMP/pub" ||
    fail "publisher failed"
  wait $sub || fail "delivered $(grep -c '^msg' "$TMP/sub") of $count: $(grep counters "$TMP/sub")"
  # Every message's checksum, in order, as the publisher made it.
  diff <(awk '/^sum/ {print $3, $5}' "$TMP/pub") <(awk '/^msg/ {print $3, $6}' "$TMP/sub") > "$TMP/diff" ||
    fail "messages differ from what was sent: $(head -5 "$TMP/diff")"
  line=$(grep '^counters' "$TMP/sub")
  echo "$line"
}
get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

check_placed() { # COUNT FRAGMENTS_PER_MESSAGE PERCENT_PLACED
  frags=$(get fragments) placed=$(get fragments_placed) allocs=$(get buffers_allocated)
  echo "placed $placed of $frags fragments; $allocs buffers allocated"
  [ "$frags" -ge $(($1 * $2)) ] || fail "too few fragments counted: $frags"
  # The first fragment of the first message cannot be guessed; a batch that
  # ends a message guesses on into the sender's next ones.
  [ $((placed * 100)) -ge $((frags * $3)) ] || fail "only $placed of $frags fragments placed"
  [ "$allocs" -le 40 ] || fail "$allocs buffers allocated for $1 messages: not reused"
}

run_case 200 1048576
check_placed 200 16 90

run_case 100 200000 --mtu 1500
check_placed 100 143 0
pass "large messages received in place, byte-exact"
