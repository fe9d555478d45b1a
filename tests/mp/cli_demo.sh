#!/usr/bin/env bash
# cli_demo: `scripts/demo` (make demo) shows live brewery data in `dts spy`
# within 5 seconds, and q stops it and every process it started.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

TMUX_SOCK="$TMP/tmux.sock"
tmux -S "$TMUX_SOCK" new-session -d -x 120 -y 40 \
  "DTS_TEST_MARK='$TMP' \"$DTS_SRC/scripts/demo\" \"$DTS_BUILD\" 2>'$TMP/demo.err'; echo demo-exited; sleep 30"
cleanup_add "tmux -S '$TMUX_SOCK' kill-server"
screen() { tmux -S "$TMUX_SOCK" capture-pane -p; }
screen_has() { screen | grep -Eq "$1"; }

wait_for 5 screen_has '^brewery.Temperature +json +[0-9]+\.[0-9]{2} .*"celsius":' \
  || fail "no live temperatures within 5 s: $(screen) $(cat "$TMP/demo.err")"
wait_for 5 screen_has '^brewery.Gravity +json .*"sg":1\.0' || fail "no gravity: $(screen)"
wait_for 5 screen_has '^brewery.Setpoint +json .*"celsius":' || fail "no setpoint: $(screen)"
wait_for 5 screen_has '^brewery.Temperature +json +1[0-4]\.[0-9]{2} +[0-9.]+ [KM]?i?B/s +3 ' \
  || fail "temperature rate and publishers: $(screen)"
pass "demo shows live brewery data"

# leftovers prints the publishers this demo started that still run (other
# tests may run publishers at the same time: they lack our mark).
leftovers() {
  local p
  for p in $(pgrep -f 'bin/dts pub'); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "DTS_TEST_MARK=$TMP"; then echo "$p"; fi
  done
}
no_leftovers() { [ -z "$(leftovers)" ]; }
[ -n "$(leftovers)" ] || fail "cannot find the demo's publishers (test broken?)"
tmux -S "$TMUX_SOCK" send-keys q
wait_for 10 screen_has '^demo-exited' || fail "q did not stop the demo: $(screen)"
wait_for 10 no_leftovers || fail "publishers left running: $(leftovers)"
pass "q stops the demo"
