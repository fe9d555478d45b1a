#!/usr/bin/env bash
# Acceptance 2f: two nodes declaring one type name with different schemas
# both report the mismatch (and both see the other's schema id).
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"
hosts_make 2
on_host 1 testpeer declare brewery.Temperature --schema '{"v":1}' --timeout 10 > "$TMP/a.out" &
A=$!
on_host 2 testpeer declare brewery.Temperature --schema '{"v":2}' --timeout 10 > "$TMP/b.out" &
B=$!
wait $A || fail "host 1 did not report the mismatch"
wait $B || fail "host 2 did not report the mismatch"
read -r _ a_ours a_theirs < <(grep '^mismatch' "$TMP/a.out")
read -r _ b_ours b_theirs < <(grep '^mismatch' "$TMP/b.out")
[ "$a_ours" = "$b_theirs" ] && [ "$b_ours" = "$a_theirs" ] && [ "$a_ours" != "$b_ours" ] \
  || fail "schema ids do not cross-match: $a_ours/$a_theirs vs $b_ours/$b_theirs"
pass "mismatch reported on both sides"
