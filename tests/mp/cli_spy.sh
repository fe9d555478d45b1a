#!/usr/bin/env bash
# cli_spy: `dts spy` on a pseudo-terminal (tmux) shows the live types with
# their rates and last values and quits on `q`; without a terminal it
# prints plain periodic lines.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

"$DTS" pub brewery.Temperature --rate 10 --count 0 '{"tank":"T1","celsius":18.5}' &
"$DTS" pub brewery.Gravity --rate 5 --count 0 '{"tank":"T1","sg":1.042}' &
"$DTS" pub brewery.Setpoint --linger 60 '{"tank":"T1","celsius":12}' &

TMUX_SOCK="$TMP/tmux.sock"
tmux -S "$TMUX_SOCK" new-session -d -x 120 -y 40 "\"$DTS\" spy; echo spy-exited; sleep 30"
cleanup_add "tmux -S '$TMUX_SOCK' kill-server"
screen() { tmux -S "$TMUX_SOCK" capture-pane -p; }
# screen_has REGEX: the pane shows a line matching REGEX.
screen_has() { screen | grep -Eq "$1"; }

wait_for 10 screen_has '^brewery.Temperature +json +(9|10)\.[0-9]{2} +[0-9.]+ [KM]?i?B/s +1 +0 +0 +0  \{"tank":"T1","celsius":18.5\}' \
  || fail "spy never showed Temperature at ~10 msg/s: $(screen)"
wait_for 10 screen_has '^brewery.Gravity +json +[45]\.[0-9]{2} ' || fail "spy never showed Gravity: $(screen)"
# Published once before spy started: its value comes from a query.
wait_for 10 screen_has '^brewery.Setpoint +json .*\{"tank":"T1","celsius":12\}' || fail "no Setpoint value: $(screen)"
screen_has '^ dts spy  3 types' || fail "header: $(screen)"
pass "spy shows live types and rates"

tmux -S "$TMUX_SOCK" send-keys q
wait_for 5 screen_has '^spy-exited' || fail "q did not quit spy: $(screen)"
pass "q quits"

# On 80 columns every row fits its line (it used to wrap, the last value on
# a line of its own): the reliability columns go, the value stays.
tmux -S "$TMUX_SOCK" new-session -d -s narrow -x 80 -y 24 "\"$DTS\" spy; sleep 30"
narrow() { tmux -S "$TMUX_SOCK" capture-pane -p -t narrow; }
wait_for 10 bash -c "$(declare -f narrow); TMUX_SOCK='$TMUX_SOCK'; narrow | grep -Eq '^brewery.Temperature +json +[0-9.]+ +[0-9.]+ [KM]?i?B/s +1  \{\"tank\"'" \
  || fail "spy on 80 columns: $(narrow)"
narrow | grep -q 'TYPE .* LAST VALUE' || fail "80-column header: $(narrow)"
narrow | grep -q 'GAPS' && fail "80 columns kept the reliability columns: $(narrow)"
narrow | awk 'length($0) > 80 {bad = 1} END {exit bad}' || fail "a line longer than 80 columns: $(narrow)"
[ "$(narrow | grep -c '^  ')" = 0 ] || fail "wrapped rows on 80 columns: $(narrow)"
tmux -S "$TMUX_SOCK" send-keys -t narrow q
pass "spy fits 80 columns"

"$DTS" spy --duration 2.5 >"$TMP/plain.txt" || fail "spy without a terminal exited $?"
grep -Eq '^--- [0-9:]{8}  3 types' "$TMP/plain.txt" || fail "plain header: $(cat "$TMP/plain.txt")"
grep -Eq '^brewery.Temperature +json +[0-9.]+ ' "$TMP/plain.txt" || fail "plain lines: $(cat "$TMP/plain.txt")"
grep -Eq '^TYPE +FORMAT +MSG/S +BW +PUBS +GAPS +INCOMP +REPAIR +LAST VALUE$' "$TMP/plain.txt" \
  || fail "no column names without a terminal: $(cat "$TMP/plain.txt")"
if grep -q ' 0 types' "$TMP/plain.txt"; then fail "an empty first block: $(cat "$TMP/plain.txt")"; fi
if grep -q $'\e' "$TMP/plain.txt"; then fail "escape sequences without a terminal"; fi
"$DTS" spy --duration 0.6 >"$TMP/short.txt" || fail "spy --duration 0.6 exited $?"
grep -Eq '^brewery.Temperature +json ' "$TMP/short.txt" \
  || fail "a --duration shorter than the interval printed no block: $(cat "$TMP/short.txt")"
pass "spy without a terminal"
