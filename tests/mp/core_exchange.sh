#!/usr/bin/env bash
# Acceptance 2a: two processes on one host exchange 1,000 messages of each of
# 3 types with no loss and no cross-talk (each subscriber pattern receives
# only its type, every n exactly once, in order).
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

testpeer sub mp.Alpha mp.Beta mp.Gamma --count 3000 --timeout 30 > "$TMP/sub.out" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub.out" || fail "subscriber not ready"
testpeer pub mp.Alpha,mp.Beta,mp.Gamma --count 1000 --wait-subs 1 --timeout 10 > "$TMP/pub.out" \
  || fail "publisher failed: $(cat "$TMP/pub.out")"
wait $SUB || fail "subscriber did not get 3000 messages: $(grep -c '^msg' "$TMP/sub.out") arrived"
python3 - "$TMP/sub.out" <<'PY' || exit 1
import json, sys
seen = {}
for line in open(sys.argv[1]):
    if not line.startswith("msg "): continue
    _, typ, seq, sender, payload = line.rstrip("\n").split(" ", 4)
    v = json.loads(payload)
    assert v["type"] == typ, f"cross-talk: {typ} carried {v}"
    assert int(seq) == v["n"], f"seq {seq} for n {v['n']}"
    seen.setdefault(typ, []).append(v["n"])
for t in ("mp.Alpha", "mp.Beta", "mp.Gamma"):
    assert seen.get(t) == list(range(1, 1001)), f"{t}: {len(seen.get(t, []))} messages, not 1..1000 in order"
print("3 x 1000 messages, in order, no cross-talk")
PY
grep -q 'counters received=3000 gaps=0 dup=0' "$TMP/sub.out" || fail "counters: $(grep counters "$TMP/sub.out")"
pass "core exchange"
