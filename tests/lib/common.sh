# tests/lib/common.sh: helpers for multi-process tests. Source it from a
# tests/mp/*.sh script; the script re-runs itself inside a private network
# namespace (tests/netns-run) on first use of `in_netns "$@"`.
#
#   in_netns "$@"          re-exec this script inside a fresh namespace
#   wait_for SECS CMD...   run CMD until it succeeds or SECS pass (fails then)
#   wait_file_lines F N S  wait until file F has at least N lines, S seconds
#   fail MSG               print MSG and exit 1
#   cleanup_add CMD        run CMD on exit (kills background processes)
set -euo pipefail
DTS_SRC=${DTS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DTS_BUILD=${DTS_BUILD:-$DTS_SRC/build}
DTS_BIN=${DTS_BIN:-$DTS_BUILD/bin}
DTS="$DTS_BIN/dts"
export PATH="$DTS_BIN:$PATH"

in_netns() {
  if [ "${DTS_IN_NETNS:-}" != "1" ]; then
    exec "$DTS_SRC/tests/netns-run" bash "$0" "$@"
  fi
  TMP=$(mktemp -d)
  cleanup_add "rm -rf '$TMP'"
}

_CLEANUP=()
cleanup_add() { _CLEANUP+=("$1"); }
_run_cleanup() {
  local rc=$?
  local i
  for ((i = ${#_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${_CLEANUP[$i]}" >/dev/null 2>&1 || true; done
  # Kill whatever is left of our children and their children (a function
  # run with & is a subshell whose child outlives a plain kill).
  kill_tree $$ 2>/dev/null || true
  exit $rc
}
trap _run_cleanup EXIT

# kill_tree PID: terminate every descendant of PID (not PID itself when it
# is this shell), deepest first.
kill_tree() {
  local p
  for p in $(pgrep -P "$1"); do
    kill_tree "$p"
    kill "$p" 2>/dev/null || true
  done
  [ "$1" = "$$" ] || kill "$1" 2>/dev/null || true
}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.05
  done
}

wait_file_lines() {
  local f=$1 n=$2 secs=$3
  wait_for "$secs" bash -c "[ -f '$f' ] && [ \$(wc -l < '$f') -ge $n ]"
}

# hosts_make N: make N simulated hosts h1..hN, namespaces joined by veth
# pairs to a bridge inside this test's private namespace, addresses
# 10.77.0.K/24 on that bridge only, each with a multicast route. Run a
# command on host K with: on_host K CMD...
hosts_make() {
  local n=$1 k
  ip link add dtsbr0 type bridge
  ip link set dtsbr0 up
  for ((k = 1; k <= n; k++)); do
    ip netns add "h$k"
    ip link add "veth$k" type veth peer name eth0 netns "h$k"
    ip link set "veth$k" master dtsbr0 up
    ip -n "h$k" link set lo up
    ip -n "h$k" addr add "10.77.0.$k/24" dev eth0
    ip -n "h$k" link set eth0 up
    ip -n "h$k" route add 224.0.0.0/4 dev eth0
  done
}
on_host() { local k=$1; shift; ip netns exec "h$k" "$@"; }
