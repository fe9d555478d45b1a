#!/usr/bin/env bash
# dts bench: pub/sub prints the contract's JSON keys with sane values, the
# subscriber exits by itself when the publisher's run ends, and ping/pong
# prints round-trip percentiles, with the loop on the caller's thread and
# on a thread of its own. Also the errors: no subscriber, bad side.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

dts bench sub --json --seconds 1 > "$TMP/sub.json" &
SUB=$!
dts bench pub --size 256 --seconds 1 --json > "$TMP/pub.json" || fail "bench pub failed"
wait_for 20 bash -c "! kill -0 $SUB 2>/dev/null" || fail "bench sub did not exit by itself"
wait $SUB || fail "bench sub failed: $(cat "$TMP/sub.json")"
python3 - "$TMP/sub.json" "$TMP/pub.json" <<'PY' || fail "bad bench JSON"
import json, sys
sub = json.loads(open(sys.argv[1]).read())
pub = json.loads(open(sys.argv[2]).read())
for k in ("sent_per_s", "delivered_per_s", "mb_per_s", "loss_pct", "peak_rss_kb"):
    assert k in sub, k
    assert k in pub, k  # the publisher's object has the subscriber's figures too
assert pub["delivered_per_s"] == sub["delivered_per_s"] and pub["loss_pct"] == sub["loss_pct"], (sub, pub)
assert sub["size"] == 256 and sub["delivered"] > 1000, sub
assert sub["sent"] == pub["sent"], (sub, pub)
assert 0 <= sub["loss_pct"] <= 100 and sub["mb_per_s"] > 0
print(f"bench: {sub['delivered_per_s']:.0f} msg/s delivered, loss {sub['loss_pct']}%")
PY
dts bench pong --json &
PONG=$!
# Bounded: a ping whose pongs stop coming ends after 5 lost in a row, and
# this catches a ping that hangs elsewhere.
timeout 120 dts bench ping --size 64 --count 500 --json > "$TMP/ping.json" \
  || fail "bench ping failed or hung ($?): $(cat "$TMP/ping.json")"
wait_for 10 bash -c "! kill -0 $PONG 2>/dev/null" || fail "bench pong did not stop after the ping"
python3 - "$TMP/ping.json" <<'PY' || fail "bad ping JSON"
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["round_trips"] == 500 and 0 < o["p50_us"] <= o["p90_us"] <= o["p99_us"] <= o["max_us"], o
assert o["peak_rss_kb"] > 0
PY
# The same with each node's loop on a thread of its own (--thread): the
# pong answers from its callback on that thread, the ping waits for its own.
dts bench pong --thread --json &
PONG=$!
timeout 120 dts bench ping --thread --size 64 --count 300 --json > "$TMP/pingt.json" ||
    fail "bench ping --thread failed or hung ($?)"
wait_for 10 bash -c "! kill -0 $PONG 2>/dev/null" || fail "bench pong --thread did not stop"
python3 - "$TMP/pingt.json" <<'PY' || fail "bad ping --thread JSON"
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["round_trips"] == 300 and 0 < o["p50_us"] <= o["p99_us"] <= o["max_us"], o
PY
# A pong that stops answering (stopped mid-run) ends the ping with an error
# after 5 round trips lost in a row, instead of 1 s for each one left.
dts bench pong &
PONG=$!
cleanup_add "kill -CONT $PONG 2>/dev/null; kill $PONG 2>/dev/null"
dts bench ping --count 1000000 2> "$TMP/ping_stuck.err" > /dev/null &
PING=$!
pong_answers() {
  dts ls --json --wait 2 | python3 -c '
import json, sys
t = {t["name"]: t for t in json.load(sys.stdin)}
assert t["bench.Pong"]["msgs_per_s"] > 0'
}
wait_for 40 pong_answers || fail "the pong never answered the long ping"
kill -STOP $PONG
wait_for 30 bash -c "! kill -0 $PING 2>/dev/null" || fail "ping did not stop when its pong did"
rc=0; wait $PING || rc=$?
[ $rc = 1 ] || fail "ping with a stopped pong: exit status $rc, want 1"
grep -q "no pong came back for 5 round trips in a row" "$TMP/ping_stuck.err" ||
  fail "unclear error: $(cat "$TMP/ping_stuck.err")"
# Stopped, the pong also stops its heartbeats: gone once its lease runs out.
grep -Eq "subscribed but does not answer|pong' is gone" "$TMP/ping_stuck.err" ||
  fail "no reason given: $(cat "$TMP/ping_stuck.err")"
# Resumed, the pong reads the ping's "quit" and may exit before it is killed.
kill -CONT $PONG; kill $PONG 2>/dev/null || true; wait $PONG 2>/dev/null || true
out=$(dts bench pub --seconds 0.2 2>&1) && fail "pub without a subscriber succeeded"
echo "$out" | grep -q "start 'dts bench sub' first" || fail "unclear error: $out"
rc=0; out=$(dts bench sideways 2>&1) || rc=$?
[ $rc = 2 ] || fail "bad side: exit status $rc, want 2"
echo "$out" | grep -q "use pub, sub, ping or pong" || fail "unclear error: $out"
rc=0; out=$(dts bench ping --seconds 1 --rate 5 2>&1) || rc=$?
[ $rc = 2 ] || fail "ping --seconds: exit status $rc, want 2"
echo "$out" | grep -q "is for 'bench pub' and 'bench sub', not 'ping'" || fail "unclear error: $out"
rc=0; out=$(dts bench pub --count 5 2>&1) || rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "\-\-count is for 'bench ping'" || fail "pub --count: $rc $out"
# --pace-dgrams reaches the node: at 1000 datagrams/s a flood of 64-byte
# messages waits for the pacer (pace_waits), which the defaults never make
# it do at this size; a bad value is refused.
dts bench sub --json --seconds 1 > "$TMP/paced_sub.json" &
SUB=$!
dts bench pub --size 64 --seconds 1 --pace-dgrams 1000 --json > "$TMP/paced.json" \
  || fail "bench pub --pace-dgrams failed"
wait $SUB || fail "bench sub beside --pace-dgrams failed"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["pace_waits"] > 0, d' \
  "$TMP/paced.json" || fail "--pace-dgrams 1000 did not pace: $(cat "$TMP/paced.json")"
rc=0; out=$(dts bench pub --pace-dgrams x 2>&1) || rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "\-\-pace-dgrams expects a number" || fail "bad --pace-dgrams: $rc $out"
# A sub whose run never came prints no results line, only why.
rc=0; out=$(timeout --preserve-status -s INT 1 dts bench sub --json 2>/dev/null) || rc=$?
[ $rc = 1 ] && [ -z "$out" ] || fail "sub with no run: exit $rc, printed '$out'"
pass "dts bench pub/sub and ping/pong (caller and thread mode)"
