#!/usr/bin/env bash
# cli_doctor: `dts doctor` in a namespace without a route for 224.0.0.0/4
# reports it with the command that fixes it: a warning when lo is the only
# interface (dts falls back to it, and its self-test passes), a problem
# (exit 1) when another interface could reach other hosts; after running
# that very command, doctor finds all well and its self-test passes.
export DTS_NETNS_NO_MCAST_ROUTE=1
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

"$DTS" doctor >"$TMP/bad.txt" 2>"$TMP/bad.err" \
  || fail "doctor with lo alone and no multicast route exited $?: $(cat "$TMP/bad.txt")"
grep -q '^  WARN  no route covers 224.0.0.0/4: dts falls back to lo' "$TMP/bad.txt" \
  || fail "no route warning: $(cat "$TMP/bad.txt")"
grep -q '^  ok    self-test: a probe came back through lo' "$TMP/bad.txt" \
  || fail "self-test without a route: $(cat "$TMP/bad.txt")"
fix=$(grep -A1 'no route covers' "$TMP/bad.txt" | sed -n 's/^        fix: //p')
[ "$fix" = "ip route add 224.0.0.0/4 dev lo" ] || fail "fix command: '$fix'"
pass "doctor warns of the missing route on lo alone, with its fix"

# With an interface that could reach other hosts, the missing route is a
# problem.
ip link add dtsdoc0 type veth peer name dtsdoc1
ip link set dtsdoc1 up
ip addr add 10.78.0.1/24 dev dtsdoc0
ip link set dtsdoc0 up multicast on
if "$DTS" doctor >"$TMP/eth.txt" 2>&1; then
  fail "doctor with an interface and no multicast route should exit 1: $(cat "$TMP/eth.txt")"
fi
grep -q '^  FAIL  no route covers 224.0.0.0/4' "$TMP/eth.txt" || fail "no route problem: $(cat "$TMP/eth.txt")"
grep -q 'fix: ip route add 224.0.0.0/4 dev dtsdoc0' "$TMP/eth.txt" || fail "fix: $(cat "$TMP/eth.txt")"
grep -q 'problem' "$TMP/eth.txt" || fail "summary: $(cat "$TMP/eth.txt")"
ip link del dtsdoc0
pass "doctor reports the missing route as a problem where other hosts could be reached"

# Run the fix exactly as printed.
$fix
"$DTS" doctor >"$TMP/good.txt" 2>&1 || fail "doctor after the fix exited $?: $(cat "$TMP/good.txt")"
grep -q '^  ok    route to the groups' "$TMP/good.txt" || fail "route: $(cat "$TMP/good.txt")"
grep -q '^  ok    self-test: a probe came back through lo' "$TMP/good.txt" || fail "self-test: $(cat "$TMP/good.txt")"
grep -q '^  ok    multicast-capable interfaces: lo (127.0.0.1)' "$TMP/good.txt" || fail "interfaces"
grep -q '^all is well' "$TMP/good.txt" || fail "summary: $(cat "$TMP/good.txt")"
if grep -q FAIL "$TMP/good.txt"; then fail "FAIL after the fix: $(cat "$TMP/good.txt")"; fi
pass "doctor with a route: all is well"

# Loopback multicast off is found, with its fix.
ip link set lo multicast off
if "$DTS" doctor >"$TMP/lo.txt" 2>&1; then fail "doctor with lo multicast off should exit 1"; fi
grep -q 'fix: ip link set dev lo up multicast on' "$TMP/lo.txt" || fail "lo fix: $(cat "$TMP/lo.txt")"
ip link set lo multicast on
pass "doctor reports loopback multicast off"

# An interface that does not exist is named with those that do; it is a
# wrong command line (exit 2, as for every verb), and the self-test, which
# could not open a node there, is skipped rather than blamed on a firewall.
rc=0
"$DTS" -i nosuch0 doctor >"$TMP/if.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "doctor -i nosuch0 exited $rc, not 2: $(cat "$TMP/if.txt")"
grep -q "interface 'nosuch0' does not exist; interfaces here: lo (127.0.0.1)" "$TMP/if.txt" \
  || fail "unknown interface: $(cat "$TMP/if.txt")"
grep -q "^  --    self-test: skipped, no interface 'nosuch0' to test" "$TMP/if.txt" \
  || fail "self-test not skipped: $(cat "$TMP/if.txt")"
if grep -q "nft\|firewall" "$TMP/if.txt"; then fail "firewall fix for a missing interface"; fi
pass "doctor with an unknown interface"
