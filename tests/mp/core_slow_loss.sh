#!/usr/bin/env bash
# SLOW for loss (docs/spec/wire.md, "Flow control", Loss on the way): a
# subscriber asks a publisher to slow down, with corr 1, when a run of 8 of
# its datagrams went missing, or when they are a fifth of what came within
# 20 ms; not for single datagrams lost now and then (random loss), and not
# for a publisher it only began to hear in the middle of a message (a late
# joiner). Publishers played by tests/lib/lossy.py, whose messages of 20
# fragments come with chosen fragments missing.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

mkfifo "$TMP/go"
python3 "$DTS_SRC/tests/lib/lossy.py" loss.Blob < "$TMP/go" > "$TMP/lossy" &
LOSSY=$!
exec 3> "$TMP/go"
wait_for 5 grep -q '^ready' "$TMP/lossy" || fail "lossy.py not ready"
testpeer sub loss.Blob --sum --count 1000000 --timeout 30 > "$TMP/sub" &
wait_for 5 grep -q '^ready' "$TMP/sub" || fail "subscriber not ready"
echo go >&3
wait_for 20 grep -q '^done' "$TMP/lossy" || fail "lossy.py did not finish: $(cat "$TMP/lossy")"
wait $LOSSY || true
cat "$TMP/lossy"
grep -q '^slow run 1$' "$TMP/lossy" || fail "no SLOW for loss after 8 fragments in a row went missing"
grep -q '^slow dense 1$' "$TMP/lossy" || fail "no SLOW for loss with half the fragments missing"
! grep -q '^slow single' "$TMP/lossy" || fail "SLOW for single fragments lost now and then (random loss)"
! grep -q '^slow late' "$TMP/lossy" || fail "SLOW for a publisher first heard in the middle of a message"
pass "SLOW for loss: runs and dense loss ask, random single losses and late joiners do not"
