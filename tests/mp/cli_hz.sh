#!/usr/bin/env bash
# cli_hz: `dts hz` and `dts bw` report rates and bandwidth per type and per
# publisher; with packets dropped by nftables inside the namespace, hz
# counts the gaps in the publishers' sequence numbers.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

"$DTS" pub brewery.Temperature --rate 10 --count 0 '{"tank":"T1","celsius":18.5}' &
"$DTS" pub brewery.Temperature --rate 10 --count 0 '{"tank":"T2","celsius":19.5}' &

# last_report FILE: the last complete report (blocks end with a blank line).
last_report() { awk 'BEGIN{RS=""} {r=$0} END{print r}' "$1"; }

"$DTS" hz 'brewery.*' --duration 4 >"$TMP/hz.txt" || fail "hz exited $?"
last_report "$TMP/hz.txt" >"$TMP/hz.last"
python3 - "$TMP/hz.last" <<'PY' || fail "hz report: $(cat "$TMP/hz.txt")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
head = re.match(r"brewery.Temperature \(json\)  ([\d.]+) msg/s .* publishers 2 .* gaps 0$", lines[0])
assert head and 15 <= float(head.group(1)) <= 25, lines[0]
pubs = [re.match(r"  [0-9a-f]{16} \S+ +([\d.]+) msg/s  min ([\d.]+)s  max ([\d.]+)s  std ([\d.]+)s  n \d+  gaps 0$", l) for l in lines[1:]]
assert len(pubs) == 2 and all(pubs), lines
for p in pubs:
    rate, mn, mx = float(p.group(1)), float(p.group(2)), float(p.group(3))
    assert 8 <= rate <= 12 and 0.05 < mn <= mx < 0.3, p.group(0)
PY
pass "hz rates per type and publisher"

"$DTS" bw 'brewery.*' --duration 3 >"$TMP/bw.txt" || fail "bw exited $?"
last_report "$TMP/bw.txt" | head -1 | grep -Eq '^brewery.Temperature \(json\)  [0-9.]+ B/s  [0-9.]+ msg/s  publishers 2' \
  || fail "bw report: $(cat "$TMP/bw.txt")"
last_report "$TMP/bw.txt" | grep -Eq '^  [0-9a-f]{16} .* B/s  mean 28 B  min 28 B  max 28 B  n [0-9]+  gaps 0$' \
  || fail "bw publisher lines: $(cat "$TMP/bw.txt")"
pass "bw"

# --json: one object per report, the same figures.
"$DTS" hz 'brewery.*' --duration 3 --json >"$TMP/hz.json" || fail "hz --json exited $?"
python3 - "$TMP/hz.json" <<'PY' || fail "hz --json: $(cat "$TMP/hz.json")"
import json, re, sys
reports = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(reports) >= 2, len(reports)
last = reports[-1]
assert set(last) == {"time_ns", "types", "untracked"} and last["untracked"] == 0, last.keys()
(t,) = last["types"]
assert t["type"] == "brewery.Temperature" and t["format"] == "json", t
assert 15 <= t["msgs_per_s"] <= 25 and t["publishers"] == 2 and t["gaps"] == 0, t
assert t["bytes_per_s"] == t["msgs_per_s"] * 28 or abs(t["bytes_per_s"] / t["msgs_per_s"] - 28) < 0.01, t
assert len(t["senders"]) == 2, t["senders"]
for p in t["senders"]:
    assert re.match(r"^[0-9a-f]{16}$", p["instance"]), p
    assert 8 <= p["msgs_per_s"] <= 12 and 0.05 < p["interval_min_s"] <= p["interval_max_s"] < 0.3, p
    assert p["size_min"] == p["size_max"] == 28 and p["gaps"] == 0 and p["late"] == 0, p
PY
pass "hz --json"

# Nothing matches: hz says so and exits 1 after --duration.
if "$DTS" hz 'nothing.*' --duration 1 >/dev/null 2>"$TMP/none.err"; then fail "hz with no messages should exit 1"; fi
grep -q "no messages for 'nothing.\*'" "$TMP/none.err" || fail "hz message: $(cat "$TMP/none.err")"
pass "hz with nothing"

# Drop a third of the data packets (not the control group 239.255.0.1).
nft add table inet dtsloss
nft add chain inet dtsloss in '{ type filter hook input priority 0; }'
nft add rule inet dtsloss in ip daddr != 239.255.0.1 udp dport 5555 numgen random mod 100 '<' 33 drop
"$DTS" pub lossy.Sample --rate 50 --count 0 '{"x":1}' &
"$DTS" hz lossy.Sample --duration 4 >"$TMP/loss.txt" || fail "hz under loss exited $?"
last_report "$TMP/loss.txt" | grep -Eq '^lossy.Sample .*gaps [1-9][0-9]*$' || fail "no gaps counted: $(cat "$TMP/loss.txt")"
last_report "$TMP/loss.txt" | grep -Eq '^  [0-9a-f]{16} .*gaps [1-9][0-9]*$' || fail "no gaps per publisher"
pass "hz counts gaps under loss"
