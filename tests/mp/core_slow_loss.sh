#!/usr/bin/env bash
# SLOW for loss (docs/spec/wire.md, "Flow control", Loss on the way): a
# subscriber asks a publisher to slow down, with corr 1, when a run of 8 of
# its datagrams went missing, or when they are a fifth of what came within
# 20 ms; not for single datagrams lost now and then (random loss), and not
# for a publisher it only began to hear in the middle of a message (a late
# joiner). Publishers played by tests/lib/lossy.py, whose messages of 20
# fragments come with chosen fragments missing. A subscriber told that its
# link loses at random (DTS_RANDOM_LOSS=1) never asks.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

# run NAME [ENV=VALUE...]: lossy.py's scenarios against a subscriber run
# with that environment; its report in $TMP/NAME.
run() {
  local name=$1; shift
  rm -f "$TMP/go"
  mkfifo "$TMP/go"
  python3 "$DTS_SRC/tests/lib/lossy.py" loss.Blob < "$TMP/go" > "$TMP/$name" &
  local lossy=$!
  exec 3> "$TMP/go"
  wait_for 5 grep -q '^ready' "$TMP/$name" || fail "lossy.py not ready"
  env "$@" testpeer sub loss.Blob --sum --count 1000000 --timeout 30 > "$TMP/sub.$name" &
  local sub=$!
  wait_for 5 grep -q '^ready' "$TMP/sub.$name" || fail "subscriber not ready"
  echo go >&3
  wait_for 20 grep -q '^done' "$TMP/$name" || fail "lossy.py did not finish: $(cat "$TMP/$name")"
  wait $lossy || true
  exec 3>&-
  kill $sub 2>/dev/null; wait $sub 2>/dev/null || true
  cat "$TMP/$name"
}

run default
grep -q '^slow run 1$' "$TMP/default" || fail "no SLOW for loss after 8 fragments in a row went missing"
grep -q '^slow dense 1$' "$TMP/default" || fail "no SLOW for loss with half the fragments missing"
! grep -q '^slow single' "$TMP/default" || fail "SLOW for single fragments lost now and then (random loss)"
! grep -q '^slow late' "$TMP/default" || fail "SLOW for a publisher first heard in the middle of a message"
pass "SLOW for loss: runs and dense loss ask, random single losses and late joiners do not"

# A node told its link loses at random (DTS_RANDOM_LOSS=1, dts_node_config
# random_loss) never asks for loss.
run random DTS_RANDOM_LOSS=1
! grep -q '^slow' "$TMP/random" || fail "SLOW for loss with DTS_RANDOM_LOSS=1: $(cat "$TMP/random")"
pass "DTS_RANDOM_LOSS=1: no SLOW for loss"
