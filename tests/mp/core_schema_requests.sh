#!/usr/bin/env bash
# Schema answers are bounded (docs/spec/discovery.md, SCHEMA_REQ): 100
# requests for one schema within 2 s (a node gone wrong, or many fresh
# `dts echo`s) get at most one answer per 100 ms, not 100 answers (the
# publisher counts the others in schema_answers_held). Without the bound,
# every request was answered, and an answer may be 33 KB of fragments.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

python3 "$DTS_SRC/tests/lib/schemareq.py" 100 2 > "$TMP/req" &
REQ=$!
wait_for 5 grep -q '^ready' "$TMP/req" || fail "requester not ready"
cat > "$TMP/s.json" <<'JSON'
{"type": "object", "properties": {"tank": {"type": "string"}, "celsius": {"type": "number"}}}
JSON
"$DTS" pub brewery.Temperature --schema "$TMP/s.json" --rate 2 --count 0 '{"tank":"T1","celsius":18}' \
  2>"$TMP/pub.err" &
PUB=$!
wait $REQ || fail "requester: $(cat "$TMP/req") $(cat "$TMP/pub.err")"
kill $PUB; wait $PUB 2>/dev/null || true
n=$(awk '/^answers/ {print $2}' "$TMP/req")
echo "$(cat "$TMP/req")"
[ "$n" -ge 5 ] || fail "only $n answers to 100 requests over 2 s: the schema must still be answered"
[ "$n" -le 25 ] || fail "$n answers to 100 requests over 2 s: not bounded (at most ~21 expected)"
pass "100 schema requests in 2 s got $n answers"
