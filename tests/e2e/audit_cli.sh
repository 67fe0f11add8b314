#!/usr/bin/env bash
# End-to-end test of `civicid audit` on a real LMDB store, and the tamper
# tests: consent events recorded with the CLI fill the log; checkpoints are
# C2SP signed notes of the Merkle tree head, signed by the audit key the
# first `civicid serve` made in the store (never before one ran); an
# untouched log and its export verify (the export offline, with the
# published vkeys only, in a directory where no store appears); inclusion
# and consistency proofs verify offline and a tampered one does not; the
# audit key rotates on the record. Then, each on its own copy of the store,
# one byte of one entry is changed, an entry deleted, two swapped, one
# inserted, one duplicated, a tree node changed, the tail truncated below a
# checkpoint, and `audit verify` must fail naming the first bad sequence
# number; an old backup of the store, and a fork of equal size, are named as
# a rollback against a later checkpoint a witness (`civicid witness serve`)
# cosigned, and one only the log signed is refused. The same damage is done to the
# export file, and what needs no key: entries changed with every later prev
# recomputed and the checkpoints deleted, entries appended after the last
# checkpoint, a checkpoint signed by another key of the log's name. The
# attacker is audit_tamper, which edits the LMDB files without libauth, and
# tlog_tool, which signs notes with a key of its own. Every export is on the
# record: an audit.exported entry (actor operator) written before it leaves;
# the whole log's export ends with its own record and a checkpoint covering
# it, and still verifies. The token keys' changes (keys rotate --revoke,
# --publish-only, keys drop) are entries too: key.activated, key.published,
# key.withdrawn, and the log verifies with them.
# A query by citizen whose look cannot be put on the log (a sync failed by
# fault_sync) prints nothing.
# Usage: CIVICID_BIN=path/to/civicid AUDIT_TAMPER=path/to/audit_tamper \
#        TLOG_TOOL=path/to/tlog_tool CID_FAULT_SYNC=path/to/libfault_sync.so \
#        tests/e2e/audit_cli.sh
set -uo pipefail
bin=${CIVICID_BIN:?set CIVICID_BIN}
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
tamper=${AUDIT_TAMPER:?set AUDIT_TAMPER}
tlog=${TLOG_TOOL:?set TLOG_TOOL}
shim=${CID_FAULT_SYNC:?set CID_FAULT_SYNC (the fault_sync library: build/asan/tests/e2e/libfault_sync.so)}
tmp=$(mktemp -d)
serve_pid=
witness_pid=
trap '[ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null
[ -z "$witness_pid" ] || kill -KILL "$witness_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
store=$tmp/store
ISSUER=https://id.city.example
ORIGIN=id.city.example/audit
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
C=(--store "$store")
# a paper grant is checked against the policies in force: one that permits what is granted below
mkdir -p "$tmp/policies"
cat >"$tmp/policies/childcare.policy" <<'POLICY'
service childcare
name.ja 子育て支援
name.en Childcare support
purpose fee-calculation
	text.ja 保育料を算定するため
	text.en To calculate your childcare fee
	basis consent
	retention 5y
	consent_valid 1y
	permit email
	permit given_name
	permit family_name
	permit phone_number
POLICY
CC=(--service childcare --purpose fee-calculation --policies "$tmp/policies")

expect 0 "audit --help" "$bin" audit --help
for v in verify export explain query provisions checkpoint prove verify-proof vkeys officer; do
	has "audit --help documents $v" "$out" "  $v"
done
for o in --issuer --allow-unsigned-tail --release --vkeys --witness-checkpoint "civicid keys jwks" \
	"keys rotate --audit"; do
	has "audit --help documents $o" "$out" "$o"
done
expect 0 "audit explain --help" "$bin" audit explain --help
has "documents the notice of the entry's policy version" "$out" "exact ja/en notice"
expect 0 "audit prove --help" "$bin" audit prove --help
has "documents the tlog-proof format" "$out" "c2sp.org/tlog-proof@v1"
hasnt "audit --help names no option keys jwks lacks" "$out" "jwks --all"
expect 2 "audit without a verb" "$bin" audit
expect 2 "audit with an unknown verb" "$bin" audit frob "${C[@]}"
expect 2 "a bad --from" "$bin" audit query "${C[@]}" --from yesterday
has "says what a time looks like" "$err" "YYYY-MM-DD"
expect 2 "verify with --file but no --vkeys" "$bin" audit verify "${C[@]}" --file x
# the verbs of one option parser (cli_parse_args) refuse alike, before they open the store:
# DESCRIPTION|WHAT STDERR SAYS|ARGUMENTS AFTER audit
ps=ps_0123456789abcdef0123456789abcdef
while IFS='|' read -r desc says args; do
	read -ra a <<<"$args"
	expect 2 "$desc" "$bin" audit "${a[@]}" "${C[@]}"
	has "$desc: says '$says'" "$err" "$says"
done <<REFUSALS
prove with an unknown option|unknown option|prove --frob 1
prove with an argument after its options|unexpected argument|prove --seq 1 extra
trail without --citizen|trail needs --citizen USER|trail --format csv
trail with an argument|unexpected argument|trail --citizen hanako extra
explain with an argument|unexpected argument|explain --seq 1 extra
purge with an argument|unexpected argument|purge extra
purge with resolve's --reason|unknown option|purge --reason why
resolve without a pseudonym|resolve needs PSEUDONYM|resolve --reason why
resolve with two pseudonyms|unexpected argument|resolve $ps $ps
resolve with purge's --policies|unknown option|resolve --policies $tmp/policies $ps
resolve of a username|a pseudonym of the log (ps_ and 32 hex)|resolve hanako
REFUSALS
check "no refusal opened (and so made) the store" test ! -e "$store"
expect 2 "--jwks without --file" "$bin" audit verify "${C[@]}" --jwks x

# an empty log verifies; there is nothing to sign
expect 0 "verify an empty log" "$bin" audit verify "${C[@]}"
has "zero entries" "$out" "intact: 0 entries"
expect 0 "keys exist" "$bin" keys list "${C[@]}"
expect 1 "checkpoint of an empty log" "$bin" audit checkpoint "${C[@]}"

# six consent events (seq 0..5) by the CLI, then a checkpoint
expect 0 "user add hanako" bash -c "printf 'hanako-pass-1' | '$bin' user add hanako ${C[*]} --password-stdin"
expect 0 "user add taro" bash -c "printf 'taro-pass-123' | '$bin' user add taro ${C[*]} --password-stdin"
for a in email given_name family_name; do
	for u in hanako taro; do
		expect 0 "grant $a for $u" "$bin" consent grant "$u" "${C[@]}" "${CC[@]}" --attribute "$a" --expires-in 30
	done
done
# no server has run on the store: it records no issuer, so nothing is signed
expect 1 "checkpoint before any server ran" "$bin" audit checkpoint "${C[@]}"
has "says the store records no issuer" "$err" "records no issuer yet"
expect 1 "export before any server ran" "$bin" audit export "${C[@]}"
has "export says what to do" "$err" "start \`civicid serve\` on this store"
# a failed export leaves --output as it was: the file is replaced only by a whole one
printf 'an earlier export\n' >"$tmp/kept.jsonl"
expect 1 "export over a file before any server ran" "$bin" audit export "${C[@]}" --output "$tmp/kept.jsonl"
same "the file is as it was" "$(cat "$tmp/kept.jsonl")" "an earlier export"
expect 1 "a filtered export with a control character in --service" "$bin" audit export "${C[@]}" \
	--service "$(printf 'child\001care')" --output "$tmp/kept.jsonl"
same "the file is still as it was" "$(cat "$tmp/kept.jsonl")" "an earlier export"
same "and nothing is left beside it" "$(ls "$tmp" | grep -c '^kept\.jsonl')" 1
expect 0 "query the records of exports" "$bin" audit query "${C[@]}" --type audit.exported --json
same "an export that could not be signed left no record" "$out" ""
expect 0 "a JWKS without an issuer" "$bin" keys jwks "${C[@]}"
same "names no issuer" "$(json "'issuer' in d" <<<"$out")" False
has "and says why" "$err" "records no issuer yet"
expect 1 "no audit key before any server ran" "$bin" audit vkeys "${C[@]}"
has "says to start the server" "$err" "no audit key yet"

# serve ISSUER: runs `civicid serve` on the store until it has started, then stops it
serve() {
	local i
	mkdir -p "$tmp/policies"
	: >"$tmp/serve.out"
	"$bin" serve --store "$store" --port 0 --issuer "$1" --policies "$tmp/policies" \
		>"$tmp/serve.out" 2>"$tmp/serve.err" </dev/null &
	serve_pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q '^civicid: issuer ' "$tmp/serve.out" && break
		kill -0 "$serve_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$serve_pid" 2>/dev/null
	wait "$serve_pid"
	serve_status=$?
	serve_pid=
}
serve "$ISSUER"
same "the server started and stopped" "$serve_status" 0
has "as $ISSUER" "$(cat "$tmp/serve.out")" "civicid: issuer $ISSUER"
expect 0 "the first start made the audit key" "$bin" audit vkeys "${C[@]}"
printf '%s\n' "$out" >"$tmp/vkeys.txt"
same "one vkey, named by the origin" "$(grep -c "^$ORIGIN+[0-9a-f]\{8\}+" "$tmp/vkeys.txt")" 1
expect 0 "vkeys --json" "$bin" audit vkeys "${C[@]}" --json
same "names the origin" "$(json "d['origin']" <<<"$out")" "$ORIGIN"
same "and the active key" "$(json "d['active'] == d['vkeys'][0]" <<<"$out")" True
serve https://moved.city.example
same "a server under another issuer started and stopped" "$serve_status" 0
has "and was told the log keeps its issuer" "$(cat "$tmp/serve.err")" \
	"keeps the issuer it was started with, $ISSUER"

expect 0 "sign a checkpoint" "$bin" audit checkpoint "${C[@]}" --json
note=$(json "d['checkpoint']" <<<"$out")
same "a signed note: origin, size, tree head, time" \
	"$(sed -n '1p;2p' <<<"$note" | tr '\n' ' ')" "$ORIGIN 6 "
has "signed by the audit key" "$note" "— $ORIGIN "
expect 0 "verify" "$bin" audit verify "${C[@]}"
has "six entries, one checkpoint" "$out" "intact: 6 entries, 1 signed checkpoints"
has "names what no witness checked" "$out" "detected only against a witness checkpoint"
expect 0 "checkpoint (text)" "$bin" audit checkpoint "${C[@]}"
printf '%s\n' "$out" >"$tmp/cp6.note"
same "the same checkpoint again: the log did not grow" "$out" "$note"

# two more events (seq 6, 7) after the checkpoint
expect 0 "withdraw hanako's email" "$bin" consent withdraw hanako "${C[@]}" --service childcare \
	--purpose fee-calculation --attribute email
expect 0 "grant phone_number to taro" "$bin" consent grant taro "${C[@]}" "${CC[@]}" --attribute phone_number
expect 0 "verify --json" "$bin" audit verify "${C[@]}" --json
same "eight entries" "$(json "d['entries']" <<<"$out")" 8
same "signed up to six" "$(json "d['covered']" <<<"$out")" 6
same "the store's tail is flagged" "$(json "d['unsigned_tail']" <<<"$out")" True
same "checked against the store's audit keys" "$(json "d['origin']" <<<"$out")" "$ORIGIN"
expect 0 "verify (text)" "$bin" audit verify "${C[@]}"
has "says the tail is not signed" "$out" "unverified: entries 6..7 are not yet covered"
has "says up to where it is signed" "$out" "signed up to seq 5 by the audit key of $ORIGIN"
expect 2 "--issuer goes with --file only" "$bin" audit verify "${C[@]}" --issuer "$ISSUER"
expect 2 "--allow-unsigned-tail goes with --file only" "$bin" audit verify "${C[@]}" --allow-unsigned-tail
# a copy of the store as it is now: an older backup, for the rollback case below
cp -a "$store" "$tmp/backup8"

# query and filtered exports
# (a query by citizen is a look, itself an entry: those are at the end, where no seq is counted)
expect 0 "query consent.granted of email" "$bin" audit query "${C[@]}" --type consent.granted --attribute email --json
same "two grants of email" "$(grep -c . <<<"$out")" 2
expect 0 "query newest first, limit 1" "$bin" audit query "${C[@]}" --newest-first --limit 1 --json
same "seq 7" "$(json "d['seq']" <<<"$out")" 7
expect 0 "export csv of taro" "$bin" audit export "${C[@]}" --format csv --citizen taro
has "a CSV header" "$(head -n1 <<<"$out")" "seq,time,type,actor,citizen,service"
same "header and four rows" "$(grep -c . <<<"$out")" 5
taro_ps=$(sed -n 2p <<<"$out" | cut -d, -f5)
same "its rows name taro by a pseudonym" "$(grep -cE '^ps_[0-9a-f]{32}$' <<<"$taro_ps")" 1
expect 0 "the export is on the record" "$bin" audit query "${C[@]}" --type audit.exported --json
same "one record, as entry 8" "$(json "d['seq']" <<<"$out")" 8
same "by the operator" "$(json "d['actor']" <<<"$out")" operator
same "from the CLI" "$(json "d['endpoint']" <<<"$out")" cli
same "of what was exported" "$(json "sorted(d['ext'].items())[1:]" <<<"$out")" \
	"[('format', 'csv'), ('rows', '4')]"
# (read off the store: a `user show` would itself be an entry, operator.viewed)
taro_id=$(mdb_dump -p -s usernames "$store" | grep -A1 -x ' taro' | tail -n1 | json "d['id']")
[ -n "$taro_id" ] || bad "taro's account id from the store" "none"
same "for taro, by his pseudonym, not his account id" \
	"$(json "d['ext']['citizen'].startswith('ps_') and '$taro_id' not in json.dumps(d)" <<<"$out")" True
same "and names taro as its citizen, the same pseudonym" "$(json "d['citizen'] == d['ext']['citizen']" <<<"$out")" True

# the whole log, exported and verified offline with the published vkeys only
expect 0 "export the whole log" "$bin" audit export "${C[@]}" --output "$tmp/full.jsonl"
has "says how many entries" "$err" "10 entries written to $tmp/full.jsonl"
same "ten entries and two checkpoints" "$(grep -c . "$tmp/full.jsonl")" 12
same "the last line is a signed note" "$(tail -n1 "$tmp/full.jsonl" | json "'note' in d")" True
record=$(tail -n2 "$tmp/full.jsonl" | head -n1)
same "the last entry is the export's own record" "$(json "d['type'], d['seq']" <<<"$record")" \
	"audit.exported 9"
same "by the operator from the CLI" "$(json "d['actor'], d['endpoint']" <<<"$record")" \
	"operator cli"
same "of the whole log, up to the checkpoint after it" "$(json "sorted(d['ext'].items())" <<<"$record")" \
	"[('checkpoint', '10'), ('format', 'jsonl'), ('rows', '10')]"
same "the CLI signed it as the log's origin, size 10" \
	"$(tail -n1 "$tmp/full.jsonl" | json "' '.join(d['note'].split('\n')[:2])")" "$ORIGIN 10"
# the auditor's machine: no store, no configuration, and none is made
mkdir "$tmp/auditor"
cp "$tmp/full.jsonl" "$tmp/vkeys.txt" "$tmp/auditor/"
expect 0 "verify the export offline" bash -c "cd '$tmp/auditor' && '$bin' audit verify --file full.jsonl --vkeys vkeys.txt"
has "export intact" "$out" "intact: 10 entries, 2 signed checkpoints"
has "signed to its end, its record included, by the audit key" "$out" "signed up to seq 9 by the audit key of $ORIGIN"
same "no store appeared where the auditor verified" "$(ls -A "$tmp/auditor" | tr '\n' ' ')" "full.jsonl vkeys.txt "
expect 2 "offline verification takes no --store" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/vkeys.txt" "${C[@]}"
expect 0 "the store has a checkpoint at 10 now" "$bin" audit verify "${C[@]}" --json
same "covered 10" "$(json "d['covered']" <<<"$out")" 10
same "nothing unsigned" "$(json "d['unsigned_tail']" <<<"$out")" False
expect 0 "the vkeys document also reads as --vkeys" "$bin" audit vkeys "${C[@]}" --json
printf '%s\n' "$out" >"$tmp/vkeys.json"
expect 0 "verify with the JSON vkeys" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/vkeys.json"
# the token keys check legacy JWS checkpoints only: they prove nothing of a signed note
expect 0 "keys jwks" "$bin" keys jwks "${C[@]}"
printf '%s\n' "$out" >"$tmp/jwks.json"
expect 1 "the JWKS alone cannot check a signed note" "$bin" audit verify --file "$tmp/full.jsonl" --jwks "$tmp/jwks.json"
has "says what checks it" "$out" "DAMAGED at seq 5: the checkpoint after entry 5 is a signed note: the log's verifier keys check it"
expect 0 "--jwks beside --vkeys is harmless" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/vkeys.txt" --jwks "$tmp/jwks.json"
# another store's audit key does not verify the checkpoints
serve_other() {
	local pid i
	mkdir -p "$tmp/other"
	"$bin" serve --store "$tmp/other" --port 0 --issuer "$ISSUER" --policies "$tmp/policies" \
		>"$tmp/other.out" 2>&1 </dev/null &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q '^civicid: issuer ' "$tmp/other.out" && break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
}
serve_other
expect 0 "the vkeys of another store of the same issuer" "$bin" audit vkeys --store "$tmp/other"
printf '%s\n' "$out" >"$tmp/other-vkeys.txt"
expect 1 "export with a foreign audit key" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/other-vkeys.txt"
has "names the first checkpoint's last entry" "$out" "DAMAGED at seq 5: the checkpoint after entry 5 does not verify"
expect 1 "damage is not excused by --allow-unsigned-tail" "$bin" audit verify --file "$tmp/full.jsonl" \
	--vkeys "$tmp/other-vkeys.txt" --allow-unsigned-tail

# proofs: one entry, without the rest of the log; and one checkpoint extending another
expect 0 "prove entry 3" "$bin" audit prove "${C[@]}" --seq 3
printf '%s\n' "$out" >"$tmp/p3.tlog-proof"
same "a C2SP tlog-proof" "$(head -n1 "$tmp/p3.tlog-proof")" "c2sp.org/tlog-proof@v1"
same "carrying the entry" "$(sed -n 2p "$tmp/p3.tlog-proof" | cut -d' ' -f2 | base64 -d | json "d['seq']")" 3
same "of index 3" "$(sed -n 3p "$tmp/p3.tlog-proof")" "index 3"
expect 0 "verify-proof offline" bash -c "cd '$tmp/auditor' && '$bin' audit verify-proof --proof '$tmp/p3.tlog-proof' --vkeys vkeys.txt"
has "says it is proven" "$out" "proven: entry 3 (consent.granted,"
has "against the newest checkpoint" "$out" "in the log $ORIGIN of 10 entries"
python3 - "$tmp/p3.tlog-proof" "$tmp/bad-path.tlog-proof" "$tmp/bad-entry.tlog-proof" <<'PY'
import base64, json, sys
lines = open(sys.argv[1]).read().split('\n')
path = list(lines)
path[3] = base64.b64encode(bytes(32)).decode()  # the first hash of the path
open(sys.argv[2], 'w').write('\n'.join(path))
entry = list(lines)
e = json.loads(base64.b64decode(entry[1][6:]))
e['service'] = 'library'
entry[1] = 'extra ' + base64.b64encode(json.dumps(e, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()).decode()
open(sys.argv[3], 'w').write('\n'.join(entry))
PY
expect 1 "a proof with a changed path" "$bin" audit verify-proof --proof "$tmp/bad-path.tlog-proof" --vkeys "$tmp/vkeys.txt"
has "does not prove it" "$out" "NOT PROVEN: the inclusion path does not lead from entry 3"
expect 1 "a proof of a changed entry" "$bin" audit verify-proof --proof "$tmp/bad-entry.tlog-proof" --vkeys "$tmp/vkeys.txt"
has "does not prove it either" "$out" "NOT PROVEN"
expect 1 "a proof checked with another log's keys" "$bin" audit verify-proof --proof "$tmp/p3.tlog-proof" --vkeys "$tmp/other-vkeys.txt"
has "names the keys" "$out" "not signed by a key of the log"
expect 0 "prove entry 3 against the checkpoint of size 6" "$bin" audit prove "${C[@]}" --seq 3 --size 6
same "of size 6" "$(python3 -c 'import sys; print(sys.stdin.read().split("\n\n", 1)[1].split("\n")[1])' <<<"$out")" 6
expect 1 "no checkpoint of size 7" "$bin" audit prove "${C[@]}" --seq 3 --size 7
has "says so" "$err" "no signed checkpoint of that size"
expect 2 "an entry beyond the checkpoint" "$bin" audit prove "${C[@]}" --seq 6 --size 6
expect 2 "prove without --seq or --from-size" "$bin" audit prove "${C[@]}"
expect 0 "prove that 10 extends 6" "$bin" audit prove "${C[@]}" --from-size 6
printf '%s\n' "$out" >"$tmp/c6-10.json"
same "a consistency proof document" "$(json "d['type'], d['old_size'], d['size']" <"$tmp/c6-10.json")" \
	"civicid-audit-consistency/v1 6 10"
expect 0 "verify the consistency proof offline" "$bin" audit verify-proof --proof "$tmp/c6-10.json" --vkeys "$tmp/vkeys.txt"
has "proven" "$out" "extends its checkpoint of 6 entries"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1])); d['proof'] = d['proof'][::-1] if len(d['proof']) > 1 else ['A' * 43 + '=']
json.dump(d, open(sys.argv[2], 'w'))" "$tmp/c6-10.json" "$tmp/c-bad.json"
expect 1 "a changed consistency proof" "$bin" audit verify-proof --proof "$tmp/c-bad.json" --vkeys "$tmp/vkeys.txt"
has "names a fork or rollback" "$out" "does not extend the one of size 6"
expect 2 "verify-proof is offline" "$bin" audit verify-proof --proof "$tmp/c6-10.json" --vkeys "$tmp/vkeys.txt" "${C[@]}"

# what needs no key: a log rebuilt without checkpoints, an entry appended after the last one
python3 - "$tmp/full.jsonl" "$tmp/forged.jsonl" "$tmp/appended.jsonl" <<'EOF2'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
entries = [l for l in lines if not l.startswith('{"checkpoint":') and not l.startswith('{"note":')]
def entry_hash(line):
    return hashlib.sha256(b'\0' + line.encode()).hexdigest()
# entry 3 changed, every later prev recomputed, the checkpoint lines deleted
forged, prev = [], '0' * 64
for i, line in enumerate(entries):
    if i == 3:
        line = line.replace('operator', 'operbtor', 1)
    line = line.replace('"prev":"%s"' % json.loads(line)['prev'], '"prev":"%s"' % prev, 1)
    prev = entry_hash(line)
    forged.append(line)
open(sys.argv[2], 'w').write('\n'.join(forged) + '\n')
# one more entry chained on after the last checkpoint
e = json.loads(entries[-1])
e['seq'] += 1
e['prev'] = entry_hash(entries[-1])
extra = json.dumps(e, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
open(sys.argv[3], 'w').write('\n'.join(lines + [extra]) + '\n')
EOF2
V=(audit verify --vkeys "$tmp/vkeys.txt" --file)
expect 1 "a log rebuilt without its checkpoints is not verified" "$bin" "${V[@]}" "$tmp/forged.jsonl"
has "says nothing is signed" "$out" "NOT VERIFIED from seq 0: nothing is signed"
hasnt "never 'signed up to seq 0'" "$out" "signed up to seq 0"
expect 0 "accepted unsigned, it is all unverified" "$bin" "${V[@]}" "$tmp/forged.jsonl" --allow-unsigned-tail
has "says nothing is signed" "$out" "unverified: nothing is signed: no checkpoint covers entries 0..9"
hasnt "and not that anything is" "$out" "signed up to"
: >"$tmp/empty.jsonl"
expect 1 "an empty file is no export" "$bin" "${V[@]}" "$tmp/empty.jsonl"
has "says nothing is signed" "$out" "DAMAGED at seq 0: no signed checkpoint"
expect 1 "not even with --allow-unsigned-tail" "$bin" "${V[@]}" "$tmp/empty.jsonl" --allow-unsigned-tail
expect 1 "an entry appended after the last checkpoint is not verified" "$bin" "${V[@]}" "$tmp/appended.jsonl"
has "names the unsigned entries" "$out" "NOT VERIFIED from seq 10: entries 10..10 follow the last signed checkpoint"
expect 0 "accepted unsigned, the tail is reported" "$bin" "${V[@]}" "$tmp/appended.jsonl" --allow-unsigned-tail
has "signed up to the checkpoint" "$out" "signed up to seq 9 by the audit key of $ORIGIN"
has "the tail unverified" "$out" "unverified: entries 10..10 are not yet covered"

# tampering with the store: each case on its own copy
damage() { # damage NAME EXPECTED_SEQ TAMPER-ARGS...
	local name=$1 want=$2
	shift 2
	rm -rf "$tmp/case"
	cp -a "$store" "$tmp/case"
	expect 0 "$name: tamper" "$tamper" "$tmp/case" "$@"
	expect 1 "$name: verify fails" "$bin" audit verify --store "$tmp/case"
	has "$name: names seq $want" "$out" "DAMAGED at seq $want:"
}
damage "one byte of entry 3" 3 byte 3 14
damage "one byte of the last entry" 9 byte 9 14
damage "entry 4 deleted" 4 delete 4
damage "entries 2 and 5 swapped" 2 swap 2 5
damage "a changed copy of entry 3 inserted before it" 3 insert 3
damage "entry 7 duplicated" 8 duplicate 7
damage "a stored tree node changed (node 1,2 over entries 4..5)" 5 node 1 2
damage "the tail from 5 truncated (below the checkpoint at 10)" 5 truncate 5
damage "the first entry deleted" 0 delete 0
expect 0 "the original still verifies" "$bin" audit verify "${C[@]}"

# a restored older backup, and a fork of equal size: only a later checkpoint held elsewhere
# (a witness's) tells them from the real log
cp "$tmp/full.jsonl" "$tmp/auditor/"
expect 0 "the newest checkpoint, as a witness would hold it" "$bin" audit checkpoint "${C[@]}"
printf '%s\n' "$out" >"$tmp/cp10-log.note"
# a witness, its own process and store, cosigns it: the first checkpoint of this log it sees
# (old 0, no proof)
expect 0 "a witness's key" "$bin" witness init --store "$tmp/witness" --name witness.example/w1
{ cat "$tmp/vkeys.txt"; printf '%s\n' "$out"; } >"$tmp/vkeys-w.txt"
expect 0 "the witness follows the log" "$bin" witness add-log --store "$tmp/witness" \
	--origin "$ORIGIN" --key "$(grep -m 1 "^$ORIGIN+" "$tmp/vkeys.txt")"
"$bin" witness serve --store "$tmp/witness" --port 0 >"$tmp/witness.out" 2>"$tmp/witness.err" </dev/null &
witness_pid=$!
for ((i = 0; i < 600; i++)); do
	grep -q 'listening on' "$tmp/witness.out" && break
	kill -0 "$witness_pid" 2>/dev/null || break
	sleep 0.1
done
wport=$(sed -n 's/^civicid witness: listening on 127.0.0.1 port \([0-9]*\)$/\1/p' "$tmp/witness.out")
expect 0 "the witness cosigns the checkpoint of 10" bash -c "{ printf 'old 0\n\n'; cat '$tmp/cp10-log.note'; } |
	curl -sS --fail --max-time 30 --data-binary @- 'http://127.0.0.1:$wport/add-checkpoint'"
kill -TERM "$witness_pid" 2>/dev/null
wait "$witness_pid"
witness_pid=
has "with its cosignature line" "$out" "— witness.example/w1 "
{ cat "$tmp/cp10-log.note"; printf '%s\n' "$out"; } >"$tmp/cp10.note"
W=(--vkeys "$tmp/vkeys-w.txt")
expect 0 "the backup of 8 entries verifies on its own" "$bin" audit verify --store "$tmp/backup8"
expect 1 "against the later checkpoint it is a rollback" "$bin" audit verify --store "$tmp/backup8" \
	--witness-checkpoint "$tmp/cp10.note" "${W[@]}"
has "named" "$out" "ROLLBACK at seq 8: rollback or truncation: the log holds 8 entries, the witness checkpoint 10"
expect 1 "--json says rollback" "$bin" audit verify --store "$tmp/backup8" --witness-checkpoint "$tmp/cp10.note" \
	"${W[@]}" --json
same "rollback true" "$(json "d['rollback']" <<<"${out}")" True
expect 0 "the real log holds and extends it" "$bin" audit verify "${C[@]}" --witness-checkpoint "$tmp/cp10.note" "${W[@]}"
has "says so, naming the witness" "$out" "the log holds and extends the witness checkpoint (cosigned by witness.example/w1)"
expect 0 "--json names the witness" "$bin" audit verify "${C[@]}" --witness-checkpoint "$tmp/cp10.note" "${W[@]}" --json
same "witness_checkpoint_by" "$(json "d['witness_checkpoint_by']" <<<"$out")" witness.example/w1
# only a witness's cosignature makes a checkpoint evidence
expect 1 "a checkpoint only the log signed is refused" "$bin" audit verify "${C[@]}" \
	--witness-checkpoint "$tmp/cp10-log.note" "${W[@]}"
has "says why" "$err" "is not a witness checkpoint: no valid cosignature of a witness whose vkey is in $tmp/vkeys-w.txt"
hasnt "and claims nothing" "$out" "holds and extends"
expect 1 "so is a cosignature by a witness not trusted" "$bin" audit verify "${C[@]}" \
	--witness-checkpoint "$tmp/cp10.note"
has "says where the vkey goes" "$err" "whose vkey is in audit_witnesses or --vkeys"
expect 1 "offline too" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/vkeys-w.txt" \
	--witness-checkpoint "$tmp/cp10-log.note"
has "says why" "$err" "is not a witness checkpoint"
expect 1 "offline, with no witness vkey given" "$bin" audit verify --file "$tmp/full.jsonl" \
	--vkeys "$tmp/vkeys.txt" --witness-checkpoint "$tmp/cp10.note"
has "says why" "$err" "is not a witness checkpoint"
# the backup grown again to 10 entries (two other events): a fork of equal size
expect 0 "the backup grows: an event" "$bin" consent grant hanako --store "$tmp/backup8" "${CC[@]}" --attribute phone_number
expect 0 "the backup grows: another" "$bin" consent withdraw taro --store "$tmp/backup8" --service childcare \
	--purpose fee-calculation --attribute email
expect 0 "the fork signs its own checkpoint of 10" "$bin" audit checkpoint --store "$tmp/backup8"
same "of the same size" "$(sed -n 2p <<<"$out")" 10
expect 1 "against the real checkpoint of 10 it is a fork" "$bin" audit verify --store "$tmp/backup8" \
	--witness-checkpoint "$tmp/cp10.note" "${W[@]}"
has "named at its last entry" "$out" "ROLLBACK at seq 9: fork or rollback: the first 10 entries are not the tree the witness checkpoint signs"
expect 1 "a checkpoint of another log is refused as evidence" "$bin" audit verify "${C[@]}" \
	--witness-checkpoint "$tmp/cp6.note" --vkeys "$tmp/other-vkeys.txt"
has "says it proves nothing" "$err" "is not a checkpoint signed by a key of the log given"
# the export is checked against it offline too
expect 0 "the export holds the witness checkpoint" "$bin" audit verify --file "$tmp/full.jsonl" \
	"${W[@]}" --witness-checkpoint "$tmp/cp10.note"
has "says so, naming the witness" "$out" "the log holds and extends the witness checkpoint (cosigned by witness.example/w1)"
expect 1 "an export of the first 6 entries only is a cut tail" bash -c \
	"head -n 7 '$tmp/full.jsonl' >'$tmp/cut.jsonl' && '$bin' audit verify --file '$tmp/cut.jsonl' --vkeys '$tmp/vkeys-w.txt' --witness-checkpoint '$tmp/cp10.note'"
has "named" "$out" "ROLLBACK at seq 6"

# tampering with the export
edit_export() { # edit_export NAME EXPECTED_SEQ PYTHON-EXPRESSION-ON-lines
	local name=$1 want=$2
	python3 -c "
import sys
lines = open(sys.argv[1]).read().splitlines()
$3
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')" "$tmp/full.jsonl" "$tmp/bad.jsonl"
	expect 1 "export, $name: verify fails" "$bin" audit verify --file "$tmp/bad.jsonl" --vkeys "$tmp/vkeys.txt"
	has "export, $name: names seq $want" "$out" "DAMAGED at seq $want:"
}
# lines: 0..5 entries, 6 checkpoint(6), 7..10 entries 6..9, 11 checkpoint(10)
edit_export "one byte of entry 3" 3 "lines[3] = lines[3].replace('operator', 'operbtor', 1)"
edit_export "entry 4 removed" 4 "del lines[4]"
edit_export "entries 1 and 2 swapped" 1 "lines[1], lines[2] = lines[2], lines[1]"
edit_export "entry 2 repeated" 3 "lines.insert(2, lines[2])"
edit_export "entries 6 and 7 cut, the checkpoint at 10 kept" 6 "del lines[7:9]"
edit_export "a checkpoint's signature changed" 5 "
import json
d = json.loads(lines[6]); n = d['note']; i = n.rindex(' ') + 12
d['note'] = n[:i] + ('A' if n[i] != 'A' else 'B') + n[i + 1:]
lines[6] = json.dumps(d, ensure_ascii=False, separators=(',', ':'))"
# a checkpoint signed with another key of the log's very name
"$tlog" keygen "$ORIGIN" >"$tmp/forger.keys"
python3 -c "import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[11])['note'], end='')" \
	"$tmp/full.jsonl" >"$tmp/cp-last.note"
"$tlog" resign "$(sed -n 1p "$tmp/forger.keys")" <"$tmp/cp-last.note" >"$tmp/forged.note"
edit_export "the last checkpoint re-signed by a forger's key of the log's name" 9 "
import json
lines[11] = json.dumps({'note': open('$tmp/forged.note').read()}, ensure_ascii=False, separators=(',', ':'))"
has "says whose signature is missing" "$out" "no valid signature of the log's audit key"

# the audit key rotates on the record
expect 0 "keys rotate --audit" "$bin" keys rotate --audit "${C[@]}" --json
new_vkey=$(json "d['vkey']" <<<"$out")
rot_cp=$(json "d['checkpoint']" <<<"$out")
expect 0 "the rotation is an entry" "$bin" audit query "${C[@]}" --type key.rotated --json
same "carrying the new vkey" "$(json "d['ext']['vkey']" <<<"$out")" "$new_vkey"
same "and the old one" "$(json "d['ext']['previous']" <<<"$out")" "$(sed -n 2p "$tmp/vkeys.txt")"
expect 0 "the checkpoint covering it" "$bin" audit prove "${C[@]}" --seq $((rot_cp - 1)) --size "$rot_cp"
same "is signed by both keys" "$(grep -c "^— $ORIGIN " <<<"$out")" 2
expect 0 "vkeys lists both" "$bin" audit vkeys "${C[@]}"
printf '%s\n' "$out" >"$tmp/vkeys2.txt"
same "two vkeys" "$(grep -vc '^#' "$tmp/vkeys2.txt")" 2
expect 0 "a grant after the rotation" "$bin" consent grant taro "${C[@]}" "${CC[@]}" --attribute email
expect 0 "export after the rotation" "$bin" audit export "${C[@]}" --output "$tmp/rotated.jsonl"
expect 0 "verifies with the key history" "$bin" audit verify --file "$tmp/rotated.jsonl" --vkeys "$tmp/vkeys2.txt"
expect 1 "not with the old key alone: the new key signs the last checkpoint" \
	"$bin" audit verify --file "$tmp/rotated.jsonl" --vkeys "$tmp/vkeys.txt"
expect 0 "the old export still verifies with the history" "$bin" audit verify --file "$tmp/full.jsonl" --vkeys "$tmp/vkeys2.txt"
expect 0 "the store verifies" "$bin" audit verify "${C[@]}"
expect 2 "--audit goes with rotate alone" "$bin" keys rotate --audit --alg ES256 "${C[@]}"

# a query naming a citizen is a look at them: on the record before it prints
expect 0 "query hanako" "$bin" audit query "${C[@]}" --citizen hanako --json
same "four entries of hanako" "$(grep -c . <<<"$out")" 4
same "the last is the withdrawal" "$(tail -n1 <<<"$out" | json "d['type']")" consent.withdrawn
expect 0 "who looked at hanako" "$bin" audit query "${C[@]}" --citizen hanako --type operator.viewed --json
same "the query, once (this one prints before its own record)" "$(grep -c . <<<"$out")" 1
same "by the operator's CLI, with the rows it printed" \
	"$(json "d['actor'], d['endpoint'], d['ext']['command'], d['ext']['rows']" <<<"$out")" \
	"operator cli audit query 4"
same "naming hanako by a pseudonym" "$(json "d['citizen'].startswith('ps_')" <<<"$out")" True
# a query naming a citizen whose look cannot be put on the log prints none of
# her entries: fault_sync, preloaded into the one command, fails its first
# sync (the commit of the operator.viewed entry) as a failing disk would
expect 0 "the log's size before" "$bin" audit verify "${C[@]}" --json
size_before=$(json "d['entries']" <<<"$out")
arm=$tmp/cut-the-look
: >"$arm"
expect 1 "query hanako when the look cannot be recorded: exit 1" \
	env CID_FAULT_SYNC_ARM="$arm" LD_PRELOAD="$shim" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:verify_asan_link_order=0" \
	"$bin" audit query "${C[@]}" --citizen hanako --json
same "the fault was met (the sync of the look's commit failed)" "$([ -e "$arm" ] || echo met)" met
has "it says the read could not be put on the log" "$err" "could not be put on the audit log"
same "and prints none of hanako's entries" "$out" ""
expect 0 "the log's size after" "$bin" audit verify "${C[@]}" --json
same "the log is as it was: no entry added" "$(json "d['entries']" <<<"$out")" "$size_before"
expect 0 "a query of many is no look at one" "$bin" audit query "${C[@]}" --type consent.granted --json
expect 0 "so it left no record" "$bin" audit query "${C[@]}" --type operator.viewed --json
same "the two looks at hanako only" "$(grep -c . <<<"$out")" 2
expect 0 "who took a copy of taro's entries" "$bin" audit query "${C[@]}" --citizen taro --type audit.exported --json
same "the export, found by citizen" "$(grep -c . <<<"$out"), $(json "d['seq']" <<<"$out")" "1, 8"

# the token keys' changes are on the record, each written with the change
expect 0 "keys list before --revoke" "$bin" keys list "${C[@]}" --json
old_es=$(json "[k['kid'] for k in d if k['alg'] == 'ES256' and k['state'] == 'active'][0]" <<<"$out")
expect 0 "no key.withdrawn before" "$bin" audit query "${C[@]}" --type key.withdrawn --json
same "none" "$out" ""
expect 0 "keys rotate --revoke --alg ES256" "$bin" keys rotate --revoke --alg ES256 "${C[@]}" --json
new_es=$(json "d[0]['kid']" <<<"$out")
expect 0 "the withdrawal is an entry" "$bin" audit query "${C[@]}" --type key.withdrawn --json
same "one key.withdrawn" "$(grep -c . <<<"$out")" 1
same "naming the old key and its alg, by the operator's CLI" \
	"$(json "d['ext']['kid'], d['ext']['alg'], d['actor'], d['endpoint']" <<<"$out")" "$old_es ES256 operator cli"
same "and no citizen nor service" "$(json "'citizen' in d or 'service' in d" <<<"$out")" False
expect 0 "the new key's activation is an entry" "$bin" audit query "${C[@]}" --type key.activated --json
same "naming the new key and the one it replaced" \
	"$(tail -n1 <<<"$out" | json "d['ext']['kid'], d['ext']['alg'], d['ext']['previous']")" "$new_es ES256 $old_es"
expect 0 "keys rotate --publish-only --alg RS256" "$bin" keys rotate --publish-only --alg RS256 "${C[@]}" --json
next_rs=$(json "d[0]['kid']" <<<"$out")
expect 0 "the publication is an entry" "$bin" audit query "${C[@]}" --type key.published --json
same "naming the next key" "$(tail -n1 <<<"$out" | json "d['ext']['kid'], d['ext']['alg']")" "$next_rs RS256"
expect 0 "keys drop the next key" "$bin" keys drop "$next_rs" "${C[@]}"
expect 0 "the drop is an entry" "$bin" audit query "${C[@]}" --type key.withdrawn --json
same "a second key.withdrawn, naming it" "$(grep -c . <<<"$out") $(tail -n1 <<<"$out" | json "d['ext']['kid']")" "2 $next_rs"
expect 0 "a drop of a key already out" "$bin" keys drop "$next_rs" "${C[@]}"
expect 0 "is no entry" "$bin" audit query "${C[@]}" --type key.withdrawn --json
same "still two" "$(grep -c . <<<"$out")" 2
expect 0 "the key. prefix finds the audit key's rotation and the token keys' changes" \
	"$bin" audit query "${C[@]}" --type key. --json
same "five" "$(grep -c . <<<"$out")" 5
expect 0 "the store verifies with them" "$bin" audit verify "${C[@]}"
expect 0 "export with them" "$bin" audit export "${C[@]}" --output "$tmp/keys.jsonl"
expect 0 "which verifies offline" "$bin" audit verify --file "$tmp/keys.jsonl" --vkeys "$tmp/vkeys2.txt"
# a pipe (here /dev/stdout) is not a file to replace but one to write
expect 0 "export to --output /dev/stdout" "$bin" audit export "${C[@]}" --output /dev/stdout
printf '%s\n' "$out" >"$tmp/piped.jsonl"
expect 0 "what it wrote is the log, and verifies" "$bin" audit verify --file "$tmp/piped.jsonl" --vkeys "$tmp/vkeys2.txt"

# the witnesses setting is checked before the server starts
printf 'audit_witnesses = https://w.example/ not-a-vkey\n' >"$tmp/bad-witness.conf"
expect 2 "serve --check refuses a witness without its vkey" "$bin" serve --check \
	--config "$tmp/bad-witness.conf" --store "$tmp/check" --policies "$tmp/policies"
has "saying which" "$err" "audit_witnesses: not-a-vkey is not a witness's cosignature vkey"
printf 'audit_witnesses = https://w.example/ %s\n' "$(sed -n 2p "$tmp/vkeys.txt")" >"$tmp/log-witness.conf"
expect 2 "nor with a log's vkey in place of a witness's" "$bin" serve --check \
	--config "$tmp/log-witness.conf" --store "$tmp/check" --policies "$tmp/policies"

echo "1..$n"
[ "$fails" -eq 0 ]
