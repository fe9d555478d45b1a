#!/usr/bin/env bash
# cli_errors: wrong command lines get exit status 2 and a message saying
# what was wrong and how to do it right: unknown verb (closest suggested),
# invalid JSON (position named), unknown interface (existing ones listed),
# bad option values, global options after the verb. Also --help for every
# verb, `dts help VERB` and --version.
source "$(dirname "$0")/../lib/common.sh"
in_netns "$@"

# expect_err STATUS REGEX CMD...: CMD exits with STATUS and stderr matches REGEX.
expect_err() {
  local want=$1 re=$2 rc=0; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = "$want" ] || fail "$* exited $rc, not $want: $(cat "$TMP/err")"
  grep -Eq -e "$re" "$TMP/err" || fail "$*: stderr does not match '$re': $(cat "$TMP/err")"
}

expect_err 2 "unknown verb 'eho'\. Did you mean 'dts echo'\?" "$DTS" eho x
expect_err 2 "Did you mean 'dts spy'\?" "$DTS" spyy
expect_err 2 "Did you mean 'dts query'\?" "$DTS" qurey T
expect_err 2 "Did you mean 'dts doctor'\?" "$DTS" docter
expect_err 2 "Did you mean 'dts echo'\?" "$DTS" ehco x
expect_err 2 "Did you mean 'dts pub'\?" "$DTS" pbu x
expect_err 2 "Did you mean 'dts ls'\?" "$DTS" list
# Nothing close: no suggestion ('fly' is two edits from 'ls').
expect_err 2 "^dts: unknown verb 'fly'\.$" "$DTS" fly
pass "unknown verbs suggest the closest"

expect_err 2 'VALUE is not valid JSON at line 1, column 7 \(position 7\)' "$DTS" pub brewery.T '{"a": x}'
expect_err 2 'VALUE is not valid JSON at line 1, column 12 \(position 12\)' "$DTS" pub brewery.T '{"tank":"T1"'
printf '{"a":1}\n{"a":\n' | { "$DTS" pub brewery.T 2>"$TMP/err" && fail "bad stdin line accepted"; } || true
grep -q 'standard input line 2 is not valid JSON at line 1, column' "$TMP/err" || fail "stdin line: $(cat "$TMP/err")"
"$DTS" pub brewery.T </dev/null 2>"$TMP/err" && fail "pub of an empty standard input exited 0"
grep -q 'standard input held no value' "$TMP/err" || fail "empty stdin: $(cat "$TMP/err")"
pass "invalid JSON names the position"

expect_err 2 "no interface 'nosuch0' here\. Interfaces that exist: lo \(127\.0\.0\.1\)" "$DTS" -i nosuch0 ls
DTS_IFACE=nosuch1 expect_err 2 "no interface 'nosuch1' here\. Interfaces that exist: lo" "$DTS" echo x
expect_err 2 "no interface '10\.9\.9\.9' here" "$DTS" -i 10.9.9.9 query brewery.T
pass "unknown interface lists the existing ones"

expect_err 1 'nobody answered for brewery.Nobody within' "$DTS" query brewery.Nobody --timeout 0.3
# Ctrl-C ends a long query at once (it waited for its whole --timeout).
"$DTS" -v query brewery.Nobody --timeout 60 2>"$TMP/q.err" &
q=$!
wait_for 10 grep -q 'asking for brewery.Nobody' "$TMP/q.err" || fail "query -v: $(cat "$TMP/q.err")"
kill -INT $q
start=$SECONDS
if wait $q; then fail "interrupted query exited 0"; fi
[ $((SECONDS - start)) -le 5 ] || fail "query took $((SECONDS - start)) s to stop after Ctrl-C"
grep -q 'interrupted before anyone answered' "$TMP/q.err" || fail "query Ctrl-C: $(cat "$TMP/q.err")"
pass "query with nobody publishing"

expect_err 2 '--rate expects a number .* not .abc.' "$DTS" pub brewery.T --rate abc 1
expect_err 2 '--count expects a whole number' "$DTS" echo x --count -3
expect_err 2 '--port expects a whole number from 1 to 65535' "$DTS" --port 70000 ls
expect_err 2 '--format must be json or raw' "$DTS" pub brewery.T --format xml 1
expect_err 2 '-i is a global option: put it before the verb' "$DTS" echo x -i lo
expect_err 2 "unknown option '--bogus'\$" "$DTS" ls --bogus
expect_err 2 "unknown option '--formt'\. Did you mean '--format'\?" "$DTS" pub brewery.T --formt raw x
expect_err 2 'option --json takes no value' "$DTS" echo x --json=1
expect_err 2 'option --js takes no value' "$DTS" echo x --js=1
expect_err 2 "option '--co' is ambiguous: --count or --compress" "$DTS" pub brewery.T --co 3 x
expect_err 2 "unknown option '--jsno'\. Did you mean '--json'\?" "$DTS" echo x --jsno
expect_err 2 "unknown option '--timout=3'\. Did you mean '--timeout'\?" "$DTS" echo x --timout=3
expect_err 2 'option --timeout needs a value' "$DTS" echo x --timeout
expect_err 2 'which types\? Give a PATTERN' "$DTS" echo
expect_err 2 "'bad..name' is not a type name" "$DTS" pub bad..name 1
expect_err 2 "cannot read @$TMP/missing" "$DTS" pub brewery.T --format raw "@$TMP/missing"
expect_err 2 'usage: dts' "$DTS"
expect_err 2 '--timeout expects a number .* not .0x10.' "$DTS" echo x --timeout 0x10
expect_err 2 '--count expects a whole number .* not . 5.' "$DTS" echo x --count " 5"
expect_err 2 '--wait expects a number from 0\.1 to 3600' "$DTS" ls --wait 0
expect_err 2 "--save needs a directory, got '--json'" "$DTS" echo x --save --json
: >"$TMP/afile"
expect_err 2 "--save $TMP/afile: that is a file, not a directory" "$DTS" echo x --save "$TMP/afile"
expect_err 2 "cannot make directory $TMP/afile/sub for --save" "$DTS" echo x --save "$TMP/afile/sub"
# @FILE holds a JSON document for the formats that take JSON; where it is
# invalid, the error names the file.
printf '{"tank":"T1",\n "celsius":18.5}\n' >"$TMP/value.json"
"$DTS" pub brewery.T --linger 0 "@$TMP/value.json" || fail "pub @FILE with a JSON document exited $?"
printf '{"tank":' >"$TMP/bad.json"
expect_err 2 "@$TMP/bad.json is not valid JSON at line 1" "$DTS" pub brewery.T --linger 0 "@$TMP/bad.json"
expect_err 2 "@$TMP/bad.json is not valid JSON" "$DTS" pub brewery.T --format cbor "@$TMP/bad.json"
# Integers beyond 64 bits are valid JSON: json sends the text as it is.
"$DTS" pub notes.Big --linger 0 '{"n":123456789012345678901234567890}' \
  || fail "pub refused a JSON integer beyond 64 bits"
expect_err 2 'NUL\) in a string' "$DTS" pub brewery.T '{"a":"x\u0000"}'
expect_err 2 '-v is a global option: put it before the verb' "$DTS" echo x -vv
expect_err 2 '-i is a global option: put it before the verb' "$DTS" ls -ilo
expect_err 2 "a value that starts with '-' goes after '--'" "$DTS" pub brewery.T -5
DTS_PORT=70000 expect_err 2 'DTS_PORT expects a whole number from 1 to 65535' "$DTS" ls
DTS_TTL=1x expect_err 2 'DTS_TTL expects a whole number from 0 to 255' "$DTS" ls
expect_err 2 '--iface needs an interface name' "$DTS" --iface= ls
long=$(printf 'a%.0s' $(seq 1 300))
expect_err 2 'a type name is at most 200 bytes' "$DTS" pub "$long" 1
expect_err 2 'a type name is at most 200 bytes' "$DTS" echo "$long"
expect_err 2 'A pattern is a type name made of' "$DTS" hz 'bad..pattern' --duration 1
pass "bad options and arguments"

# A value that could not leave (no usable interface) fails the command.
ip link set lo down
expect_err 1 '1 of 1 message\(s\) of brewery.T could not be sent' "$DTS" pub brewery.T 1
ip link set lo up
pass "pub fails when nothing was sent"

for verb in ls pub echo sub query hz bw spy doctor; do
  "$DTS" "$verb" --help >"$TMP/help" || fail "dts $verb --help exited $?"
  grep -q "^usage: dts $verb" "$TMP/help" || fail "dts $verb --help: no usage"
  grep -q "^  dts $verb" "$TMP/help" || fail "dts $verb --help: no example"
  cmp -s "$TMP/help" <("$DTS" help "$verb") || fail "dts help $verb differs from --help"
done
"$DTS" --help | grep -q '^  doctor ' || fail "dts --help lists the verbs"
for a in help --help; do
  cmp -s <("$DTS" --help) <("$DTS" help $a) || fail "dts help $a is not dts --help"
done
"$DTS" --version | grep -Eq '^dts [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
pass "help for every verb"
