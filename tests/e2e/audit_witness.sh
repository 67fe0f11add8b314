#!/usr/bin/env bash
# End-to-end test of the audit log and its witness, as two processes: the
# real `civicid serve` (audit_witnesses names the witness; checkpoints
# every 5 s) and `civicid witness serve`, with its own store. Userinfo calls
# through the real server write release entries; the server pushes each
# new checkpoint and the witness cosigns it; the cosignature is kept with
# the checkpoint and travels in proofs. Then a backup of the store taken
# earlier (deploy/backup.sh, mdb_copy) is restored and the server goes on
# writing: the witness refuses its next checkpoint (the restored log does
# not extend the tree it cosigned), the server logs the refusal, and
# `civicid audit verify --witness-checkpoint` with the witness's state
# names the rollback, which the restored store alone does not show.
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/audit_witness.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"
command -v mdb_copy >/dev/null || bail "mdb_copy is required (lmdb-utils: deploy/install-deps.sh)"

wstore=$tmp/witness
W=
WITNESS_PID=
stop_witness() {
	[ -n "$WITNESS_PID" ] || return 0
	kill -TERM "$WITNESS_PID" 2>/dev/null
	wait "$WITNESS_PID" 2>/dev/null
	WITNESS_PID=
}
CLEANUP_HOOKS+=(stop_witness)

# ---------------------------------------------------------------- the witness
wvkey=$(cli witness init --store "$wstore" --name witness.example/w1 2>"$tmp/cli.err") ||
	bail "witness init" "$(cat "$tmp/cli.err")"
for attempt in 1 2 3; do
	port=$(free_port)
	"$bin" witness serve --store "$wstore" --port "$port" >"$tmp/witness.out" 2>"$tmp/witness.err" </dev/null &
	WITNESS_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q "listening on 127.0.0.1 port $port" "$tmp/witness.out" && break
		kill -0 "$WITNESS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q "listening on 127.0.0.1 port $port" "$tmp/witness.out"; then
		W=http://127.0.0.1:$port
		break
	fi
	stop_witness
done
[ -n "$W" ] || bail "civicid witness serve did not start" "$(cat "$tmp/witness.err")"
ok "the witness listens on $W"

# ---------------------------------------------------------------- the server
add_user hanako 'hanako-e2e-Passw0rd!' 'given_name=Hanako' 'family_name=Yamada'
add_statute_policy rp-audit given_name family_name
add_client --client-id rp-audit --name 'Audit e2e' --redirect-uri http://127.0.0.1:9/cb \
	--scope "openid profile"
RP_ID=$CLIENT_ID
RP_SECRET=$CLIENT_SECRET
cat >"$tmp/civicid.conf" <<CONF
audit_checkpoint_interval = 5
audit_witnesses = $W/ $wvkey
CONF
CIVICID_CONFIG=$tmp/civicid.conf
civicid_start
BASE=$ISSUER
ok "civicid serve listens on $ISSUER"
vkeys=$(curl -sS --max-time 30 "$ISSUER/.well-known/civicid-audit")
origin=$(json "d['origin']" <<<"$vkeys")
log_vkey=$(json "d['active']" <<<"$vkeys")
eq "the audit vkeys are published, the origin made of the issuer" "$origin" "127.0.0.1:$CPORT/audit"
eq "as the CLI prints them" "$(cli audit vkeys --store "$store" --json | json "d['vkeys']")" \
	"$(json "d['vkeys']" <<<"$vkeys")"
cli witness add-log --store "$wstore" --origin "$origin" --key "$log_vkey" >"$tmp/cli.out" 2>&1 ||
	bail "witness add-log" "$(cat "$tmp/cli.out")"
ok "the witness follows the log"

# a citizen logs in once through the real login form; the service calls userinfo
code_login_token "$RP_ID" "$RP_SECRET" hanako 'hanako-e2e-Passw0rd!'
at=$AT
ok "an access token"
userinfo() { # userinfo N: N calls, each a release written to the audit log
	local k s
	for ((k = 0; k < $1; k++)); do
		s=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $at" "$BASE/userinfo")
		[ "$s" = 200 ] || bail "userinfo answers 200" "$s"
	done
}
# the witness's cosigned size, 0 before any
witnessed() { cli witness show --store "$wstore" --json | json "d['logs'][0]['size']"; }
# wait_witnessed MIN: until the witness cosigned at least MIN entries (30 s at most)
wait_witnessed() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(witnessed)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
log_size() { cli audit verify --store "$store" --json | json "d['entries']"; }

userinfo 3
n1=$(log_size)
check "the server pushes its checkpoint, the witness cosigns it ($n1 entries)" wait_witnessed "$n1"
cli audit checkpoint --store "$store" >"$tmp/cp.note" 2>&1
has "the cosignature is kept with the checkpoint" "$(cat "$tmp/cp.note")" "— witness.example/w1 "
cli audit prove --store "$store" --seq 0 >"$tmp/p0.tlog-proof" 2>"$tmp/cli.err"
eq "a proof of entry 0" "$?" 0
{ cli audit vkeys --store "$store"; echo "$wvkey"; } >"$tmp/vkeys.txt"
out=$(cli audit verify-proof --proof "$tmp/p0.tlog-proof" --vkeys "$tmp/vkeys.txt" 2>&1)
eq "verifies offline" "$?" 0
has "witnessed" "$out" "cosigned by the witness witness.example/w1"

# a backup now; the log grows and the witness cosigns more
"$here/../../deploy/backup.sh" "$store" "$tmp/backups" >"$tmp/backup.out" 2>&1 ||
	bail "deploy/backup.sh" "$(cat "$tmp/backup.out")"
backup=$(tail -n 1 "$tmp/backup.out")
ok "a backup of the store, taken while the server runs"
userinfo 4
n2=$(log_size)
check "the log grew to $n2 entries, cosigned" wait_witnessed "$n2"
cp "$tmp/cp.note" "$tmp/cp-n1.note"

# the backup restored, and the server writes on
civicid_stop
rm -rf "$store"
cp -a "$backup" "$store"
# the same issuer (tokens issued before the restore still work), on another port
CIVICID_PUBLIC_ISSUER=$ISSUER
civicid_start
BASE=http://127.0.0.1:$CPORT
ok "the server runs on the restored backup, as $ISSUER"
userinfo 9
n3=$(log_size)
check "the restored log grew past what the witness cosigned ($n3 > $n2)" test "$n3" -gt "$n2"
refused=
for ((i = 0; i < 300; i++)); do
	if grep -q "refused checkpoint" "$tmp/civicid.err"; then refused=yes; break; fi
	sleep 0.1
done
eq "the witness refuses the restored log's checkpoint, and the server says so" "$refused" yes
has "as not extending the tree it cosigned" "$(grep 'refused checkpoint' "$tmp/civicid.err" | head -n 1)" \
	"(HTTP 422): inconsistent"
cli witness show --store "$wstore" --json >"$tmp/witness.json"
eq "the witness kept the refused checkpoint as evidence" \
	"$(json "d['logs'][0]['refused']['verdict']" <"$tmp/witness.json")" inconsistent
eq "and still holds what it cosigned" "$(json "d['logs'][0]['size']" <"$tmp/witness.json")" "$n2"
civicid_stop

# the auditor: the restored store alone looks intact; the witness's checkpoint tells
out=$(cli audit verify --store "$store" 2>&1)
eq "the restored store verifies on its own" "$?" 0
has "intact" "$out" "intact: $n3 entries"
# (the witness's vkey given: the store's configuration is not read here)
V=(--vkeys "$tmp/vkeys.txt")
out=$(cli audit verify --store "$store" "${V[@]}" --witness-checkpoint "$tmp/witness.json" 2>&1)
eq "against the witness's checkpoint it does not" "$?" 1
has "named a rollback" "$out" "ROLLBACK at seq $((n2 - 1)): fork or rollback: the first $n2 entries are not the tree the witness checkpoint signs"
out=$(cli audit verify --store "$backup" "${V[@]}" --witness-checkpoint "$tmp/witness.json" 2>&1)
eq "the backup as it was: a log cut short" "$?" 1
has "named" "$out" "ROLLBACK at seq $n1: rollback or truncation: the log holds $n1 entries, the witness checkpoint $n2"
out=$(cli audit verify --store "$store" "${V[@]}" --witness-checkpoint "$tmp/cp-n1.note" 2>&1)
eq "an older checkpoint the restored log does extend" "$?" 0
has "says it holds it, and who cosigned it" "$out" \
	"the log holds and extends the witness checkpoint (cosigned by witness.example/w1)"
# the same offline, on an export of the restored log
cli audit export --store "$store" --output "$tmp/restored.jsonl" >"$tmp/cli.out" 2>&1
eq "an export of the restored log" "$?" 0
out=$(cli audit verify --file "$tmp/restored.jsonl" "${V[@]}" --witness-checkpoint "$tmp/witness.json" 2>&1)
eq "offline, against the witness's checkpoint it fails" "$?" 1
has "named a rollback" "$out" "ROLLBACK at seq $((n2 - 1)): fork or rollback"
out=$(cli audit verify --file "$tmp/restored.jsonl" "${V[@]}" --witness-checkpoint "$tmp/cp-n1.note" 2>&1)
eq "offline, the older checkpoint is extended" "$?" 0
has "says so" "$out" "the log holds and extends the witness checkpoint (cosigned by witness.example/w1)"
# the checkpoint without the witness's line: only the log vouches for it
grep -v "^— witness.example/w1 " "$tmp/cp-n1.note" >"$tmp/cp-n1-log.note"
out=$(cli audit verify --file "$tmp/restored.jsonl" "${V[@]}" --witness-checkpoint "$tmp/cp-n1-log.note" 2>&1)
eq "a checkpoint with no cosignature is refused" "$?" 1
has "as no witness checkpoint" "$out" "is not a witness checkpoint: no valid cosignature of a witness"
hasnt "and nothing is claimed witnessed" "$out" "witnessed up to"
stop_witness
finish
