#!/usr/bin/env bash
# Acceptance 2c: a subscription to brewery.* receives a type that first
# appeared on the network after it subscribed; other types do not reach it.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

testpeer sub 'brewery.*' --count 1 --timeout 15 > "$TMP/sub.out" &
SUB=$!
wait_for 5 grep -q '^ready' "$TMP/sub.out" || fail "subscriber not ready"
# The type does not exist yet anywhere; it appears now, and is published
# until the subscriber has it.
testpeer pub brewery.NewSensor,other.Noise --count 200 --interval-ms 20 > "$TMP/pub.out" &
wait $SUB || fail "glob subscriber never received brewery.NewSensor"
grep -q '^msg brewery.NewSensor ' "$TMP/sub.out" || fail "wrong type: $(grep '^msg' "$TMP/sub.out")"
grep -q '^msg other.Noise' "$TMP/sub.out" && fail "other.Noise leaked into brewery.*"
pass "glob receives late type"
