#!/usr/bin/env bash
# End-to-end test of `civicid witness`: its CLI on a fresh store of its own,
# and `civicid witness serve` driven over HTTP with curl through the
# c2sp.org/tlog-witness add-checkpoint protocol. The log is played by
# tlog_tool (tests/e2e/tools/tlog_tool.c, on libauth's merkle.h and note.h):
# it grows and gets cosignatures that verify; a rollback, a cut tail, a fork
# of equal size, a log restored from an older state and grown again, a
# wrong key, a broken signature and an unknown origin are refused with the
# spec's status and a named verdict; the witness remembers across a restart.
# Usage: CIVICID_BIN=build/asan/server/civicid TLOG_TOOL=build/asan/tests/tlog_tool \
#        tests/e2e/witness.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

tool=${TLOG_TOOL:?set TLOG_TOOL to the tlog_tool binary (e.g. build/asan/tests/tlog_tool)}
[ -x "$tool" ] || bail "TLOG_TOOL=$tool is not an executable"

wstore=$tmp/witness
origin=city.example/civicid/audit
W=

# the log's key: private key line, then vkey line
"$tool" keygen "$origin" >"$tmp/log.keys" || bail "tlog_tool keygen"
log_skey=$(sed -n 1p "$tmp/log.keys")
log_vkey=$(sed -n 2p "$tmp/log.keys")

# ---------------------------------------------------------------- the CLI
wvkey=$(cli witness init --store "$wstore" --name witness.example/w1 2>"$tmp/cli.err") ||
	bail "witness init" "$(cat "$tmp/cli.err")"
check "init prints the witness's vkey (cosignature type 0x04)" \
	grep -qE '^witness\.example/w1\+[0-9a-f]{8}\+B[A-P][A-Za-z0-9+/]{42}$' <<<"$wvkey"
cli witness init --store "$wstore" --name witness.example/w2 >/dev/null 2>"$tmp/cli.err"
eq "a second init is refused" "$?" 1
has "saying the store has a key" "$(cat "$tmp/cli.err")" "already has a witness key"
cli witness init --store "$tmp/other" --name 'two words' >/dev/null 2>&1
eq "a name with a space is bad usage" "$?" 2
cli witness add-log --store "$wstore" --origin "$origin" --key "$log_vkey" >"$tmp/cli.out" 2>&1
eq "add-log" "$?" 0
cli witness add-log --store "$wstore" --origin "$origin" --key "$wvkey" >/dev/null 2>&1
eq "a cosigner's vkey is not a log key (bad usage)" "$?" 2
cli witness add-log --store "$wstore" --origin "$origin" --key "$log_vkey" >/dev/null 2>&1
eq "the same key twice is refused" "$?" 1
cli witness show --store "$wstore" >/dev/null 2>&1
eq "show" "$?" 0
cli witness show >/dev/null 2>&1
eq "without --store: bad usage (a witness never uses the server's store)" "$?" 2

# ---------------------------------------------------------------- serve
witness_start() {
	local attempt port i want
	for attempt in 1 2 3; do
		: "attempt $attempt"
		port=$(free_port)
		want="civicid witness: listening on 127.0.0.1 port $port"
		: >"$tmp/civicid.out"
		: >"$tmp/civicid.err"
		"$bin" witness serve --store "$wstore" --port "$port" \
			>"$tmp/civicid.out" 2>"$tmp/civicid.err" </dev/null &
		CIVICID_PID=$!
		for ((i = 0; i < 300; i++)); do
			if grep -qxF "$want" "$tmp/civicid.out"; then
				W=http://127.0.0.1:$port
				return 0
			fi
			kill -0 "$CIVICID_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$CIVICID_PID" 2>/dev/null
		wait "$CIVICID_PID" 2>/dev/null
		CIVICID_PID=
		grep -qiE 'cannot listen' "$tmp/civicid.err" || break
	done
	bail "civicid witness serve did not start" "$(cat "$tmp/civicid.out" "$tmp/civicid.err")"
}

# add FILE: POSTs the body in FILE to /add-checkpoint; sets code, ctype, verdict; body in $BODY
add() {
	code=$(curl -sS -X POST --data-binary "@$1" -o "$BODY" -D "$HEADERS" --max-time 30 \
		-w '%{http_code}' "$W/add-checkpoint" 2>"$tmp/curl.err") ||
		code="000 $(cat "$tmp/curl.err")"
	ctype=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^\r]*\).*/\1/p' "$HEADERS" | tail -n 1)
	verdict=$(sed -n 's/^X-Civicid-Witness-Verdict: *\([^\r]*\).*/\1/Ip' "$HEADERS" | tail -n 1)
}
# mkreq OLD SIZE [tlog_tool options]: the log's add-checkpoint body into $tmp/req
mkreq() {
	local old=$1 size=$2
	shift 2
	"$tool" body "$log_skey" "$old" "$size" "$@" >"$tmp/req" || bail "tlog_tool body $old $size $*"
}

witness_start
ok "civicid witness serve listens on $W"

mkreq 0 5
add "$tmp/req"
eq "a first checkpoint (size 5, from 0) is cosigned" "$code" 200
cosig=$(cat "$BODY")
check "the answer is one signature line of the witness" \
	grep -qE '^— witness\.example/w1 [A-Za-z0-9+/]+=*$' <<<"$cosig"
"$tool" checkpoint "$log_skey" 5 >"$tmp/cp5"
cat "$BODY" >>"$tmp/cp5"
out=$("$tool" verify "$log_vkey" "$wvkey" <"$tmp/cp5" 2>&1)
eq "checkpoint + cosignature verify against the log's and the witness's keys" "$?" 0
t=$(sed -n 2p <<<"$out" | cut -d' ' -f2)
now=$(date +%s)
check "the cosignature is timestamped now" test "${t:-0}" -ge $((now - 60)) -a "${t:-0}" -le "$now"

mkreq 5 12
add "$tmp/req"
eq "the log grew to 12 with a consistency proof from 5: cosigned" "$code" 200

mkreq 12 8 --proof-from 8
add "$tmp/req"
eq "a smaller tree claiming the recorded old size: 400 (tlog-witness)" "$code" 400
eq "named a rollback" "$verdict" rollback
has "saying why" "$(body)" "rollback"

mkreq 8 8
add "$tmp/req"
eq "a smaller tree from its own old size: 409" "$code" 409
eq "as text/x.tlog.size" "$ctype" text/x.tlog.size
eq "with the recorded size" "$(body)" 12
eq "named a rollback too" "$verdict" rollback

mkreq 12 12 --fork-at 10
add "$tmp/req"
eq "a fork of equal size (same size, another root): 422" "$code" 422
eq "named a fork" "$verdict" fork

mkreq 12 20 --fork-at 6
add "$tmp/req"
eq "a log restored to 6 entries and grown again to 20: 422" "$code" 422
eq "named inconsistent" "$verdict" inconsistent

"$tool" keygen "$origin" >"$tmp/impostor.keys"
"$tool" body "$(sed -n 1p "$tmp/impostor.keys")" 12 14 >"$tmp/req"
add "$tmp/req"
eq "the origin's name with another key: 403" "$code" 403
eq "named a bad signature" "$verdict" bad_signature

mkreq 12 14
python3 - "$tmp/req" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, encoding="utf-8").read()
head, sep, sig = b.rpartition("\u2014 city.example/civicid/audit ")
sig = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]  # past the key id
open(p, "w", encoding="utf-8").write(head + sep + sig)
EOF
add "$tmp/req"
eq "the log's key line over a broken signature: 403" "$code" 403

"$tool" keygen other.example/log >"$tmp/other.keys"
"$tool" body "$(sed -n 1p "$tmp/other.keys")" 0 3 >"$tmp/req"
add "$tmp/req"
eq "an origin the witness does not follow: 404" "$code" 404
eq "named unknown_origin" "$verdict" unknown_origin

mkreq 5 14
add "$tmp/req"
eq "an old size that is not the recorded one: 409" "$code" 409
eq "with the recorded size, for the log to retry" "$(body)" 12
eq "named a conflict" "$verdict" conflict

printf 'garbage\n' >"$tmp/req"
add "$tmp/req"
eq "a body that is no add-checkpoint request: 400" "$code" 400
eq "named malformed" "$verdict" malformed
head -c $((200 * 1024)) /dev/zero | tr '\0' a >"$tmp/req"
add "$tmp/req"
eq "a body over the limit: 413" "$code" 413
code=$(curl -sS -o /dev/null -w '%{http_code}' "$W/add-checkpoint")
eq "GET /add-checkpoint: 405" "$code" 405
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary @"$tmp/cp5" "$W/other")
eq "another path: 404" "$code" 404
has "each refusal is logged on stderr" "$(cat "$tmp/civicid.err")" "refused (fork)"

# ---------------------------------------------------------------- a restart
civicid_stop
witness_start
mkreq 0 14
add "$tmp/req"
eq "after a restart the witness still holds size 12 (409)" "$code" 409
eq "and says so" "$(body)" 12
mkreq 12 14
add "$tmp/req"
eq "and cosigns the log's next checkpoint" "$code" 200
"$tool" checkpoint "$log_skey" 14 >"$tmp/cp14"
cat "$BODY" >>"$tmp/cp14"
"$tool" verify "$log_vkey" "$wvkey" <"$tmp/cp14" >/dev/null 2>&1
eq "which verifies" "$?" 0

cli witness show --store "$wstore" --json >"$tmp/show.json" 2>&1
eq "show --json" "$?" 0
eq "shows the size last cosigned" "$(json "d['logs'][0]['size']" <"$tmp/show.json")" 14
eq "and the last refused, log-signed checkpoint" \
	"$(json "d['logs'][0]['refused']['verdict']" <"$tmp/show.json")" inconsistent
eq "with the witness's vkey" "$(json "d['vkey']" <"$tmp/show.json")" "$wvkey"
text=$(cli witness show --store "$wstore" 2>&1)
has "show names the log" "$text" "log $origin"
has "show has its size" "$text" "size     14"
civicid_stop
finish
