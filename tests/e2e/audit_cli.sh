#!/usr/bin/env bash
# End-to-end test of `civicid audit` on a real LMDB store, and the tamper
# tests: consent events recorded with the CLI fill the log; checkpoints are
# signed (as the issuer the first `civicid serve` recorded in the store, never
# before one ran); an untouched log and its export verify (the export offline,
# with the JWKS only, in a directory where no store appears); then, each on
# its own copy of the store, one byte of one entry is changed, an entry
# deleted, two swapped, the tail truncated below a checkpoint, and `audit
# verify` must fail naming the first bad sequence number. The same damage is
# done to the export file, and what needs no key: entries changed with every
# later prev recomputed and the checkpoints deleted, entries appended after
# the last checkpoint, checkpoints checked against another issuer. The
# attacker is audit_tamper, which edits the LMDB files without libauth.
# Every export is on the record: an audit.exported entry (actor operator)
# written before it leaves; the whole log's export ends with its own record
# and a checkpoint covering it, and still verifies.
# Usage: CIVICID_BIN=path/to/civicid AUDIT_TAMPER=path/to/audit_tamper tests/e2e/audit_cli.sh
set -uo pipefail
bin=${CIVICID_BIN:?set CIVICID_BIN}
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
tamper=${AUDIT_TAMPER:?set AUDIT_TAMPER}
tmp=$(mktemp -d)
serve_pid=
trap '[ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
store=$tmp/store
ISSUER=https://id.city.example
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
for v in verify export query provisions checkpoint officer; do
	has "audit --help documents $v" "$out" "  $v"
done
for o in --issuer --allow-unsigned-tail --release "civicid keys jwks"; do
	has "audit --help documents $o" "$out" "$o"
done
hasnt "audit --help names no option keys jwks lacks" "$out" "jwks --all"
expect 2 "audit without a verb" "$bin" audit
expect 2 "audit with an unknown verb" "$bin" audit frob "${C[@]}"
expect 2 "a bad --from" "$bin" audit query "${C[@]}" --from yesterday
has "says what a time looks like" "$err" "YYYY-MM-DD"
expect 2 "verify with --file but no --jwks" "$bin" audit verify "${C[@]}" --file x

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
expect 0 "query the records of exports" "$bin" audit query "${C[@]}" --type audit.exported --json
same "an export that could not be signed left no record" "$out" ""
expect 0 "a JWKS without an issuer" "$bin" keys jwks "${C[@]}"
same "names no issuer" "$(json "'issuer' in d" <<<"$out")" False
has "and says why" "$err" "records no issuer yet"

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
serve https://moved.city.example
same "a server under another issuer started and stopped" "$serve_status" 0
has "and was told the log keeps its issuer" "$(cat "$tmp/serve.err")" \
	"keeps the issuer it was started with, $ISSUER"

expect 0 "sign a checkpoint" "$bin" audit checkpoint "${C[@]}" --json
has "a JWS" "$(json "d['checkpoint'].count('.')" <<<"$out")" 2
expect 0 "verify" "$bin" audit verify "${C[@]}"
has "six entries, one checkpoint" "$out" "intact: 6 entries, 1 signed checkpoints"

# two more events (seq 6, 7) after the checkpoint
expect 0 "withdraw hanako's email" "$bin" consent withdraw hanako "${C[@]}" --service childcare \
	--purpose fee-calculation --attribute email
expect 0 "grant phone_number to taro" "$bin" consent grant taro "${C[@]}" "${CC[@]}" --attribute phone_number
expect 0 "verify --json" "$bin" audit verify "${C[@]}" --json
same "eight entries" "$(json "d['entries']" <<<"$out")" 8
same "signed up to six" "$(json "d['covered']" <<<"$out")" 6
same "the store's tail is flagged" "$(json "d['unsigned_tail']" <<<"$out")" True
same "checked against the store's issuer" "$(json "d['issuer']" <<<"$out")" "$ISSUER"
expect 0 "verify (text)" "$bin" audit verify "${C[@]}"
has "says the tail is not signed" "$out" "unverified: entries 6..7 are not yet covered"
has "says up to where it is signed" "$out" "signed up to seq 5 as issuer $ISSUER"
expect 2 "--issuer goes with --file only" "$bin" audit verify "${C[@]}" --issuer "$ISSUER"
expect 2 "--allow-unsigned-tail goes with --file only" "$bin" audit verify "${C[@]}" --allow-unsigned-tail

# query and filtered exports
expect 0 "query hanako" "$bin" audit query "${C[@]}" --citizen hanako --json
same "four entries of hanako" "$(grep -c . <<<"$out")" 4
same "the last is the withdrawal" "$(tail -n1 <<<"$out" | json "d['type']")" consent.withdrawn
expect 0 "query consent.granted of email" "$bin" audit query "${C[@]}" --type consent.granted --attribute email --json
same "two grants of email" "$(grep -c . <<<"$out")" 2
expect 0 "query newest first, limit 1" "$bin" audit query "${C[@]}" --newest-first --limit 1 --json
same "seq 7" "$(json "d['seq']" <<<"$out")" 7
expect 0 "export csv of taro" "$bin" audit export "${C[@]}" --format csv --citizen taro
has "a CSV header" "$(head -n1 <<<"$out")" "seq,time,type,actor,citizen,service"
same "header and four rows" "$(grep -c . <<<"$out")" 5
taro_id=$(sed -n 2p <<<"$out" | cut -d, -f5)
expect 0 "the export is on the record" "$bin" audit query "${C[@]}" --type audit.exported --json
same "one record, as entry 8" "$(json "d['seq']" <<<"$out")" 8
same "by the operator" "$(json "d['actor']" <<<"$out")" operator
same "from the CLI" "$(json "d['endpoint']" <<<"$out")" cli
same "of what was exported" "$(json "sorted(d['ext'].items())" <<<"$out")" \
	"[('citizen', '$taro_id'), ('format', 'csv'), ('rows', '4')]"

# the whole log, exported and verified offline with the public keys only
expect 0 "keys jwks" "$bin" keys jwks "${C[@]}"
printf '%s\n' "$out" >"$tmp/jwks.json"
same "the JWKS names the log's issuer" "$(json "d['issuer']" <<<"$out")" "$ISSUER"
expect 0 "export the whole log" "$bin" audit export "${C[@]}" --output "$tmp/full.jsonl"
has "says how many entries" "$err" "10 entries written to $tmp/full.jsonl"
same "ten entries and two checkpoints" "$(grep -c . "$tmp/full.jsonl")" 12
same "the last line is a checkpoint" "$(tail -n1 "$tmp/full.jsonl" | json "'checkpoint' in d")" True
record=$(tail -n2 "$tmp/full.jsonl" | head -n1)
same "the last entry is the export's own record" "$(json "d['type'], d['seq']" <<<"$record")" \
	"audit.exported 9"
same "by the operator from the CLI" "$(json "d['actor'], d['endpoint']" <<<"$record")" \
	"operator cli"
same "of the whole log, up to the checkpoint after it" "$(json "sorted(d['ext'].items())" <<<"$record")" \
	"[('checkpoint', '10'), ('format', 'jsonl'), ('rows', '10')]"
same "the CLI signed it as the server's issuer" "$(tail -n1 "$tmp/full.jsonl" | json \
	"__import__('json').loads(__import__('base64').urlsafe_b64decode(d['checkpoint'].split('.')[1] + '==='))['iss']")" \
	"$ISSUER"
# the auditor's machine: no store, no configuration, and none is made
mkdir "$tmp/auditor"
cp "$tmp/full.jsonl" "$tmp/jwks.json" "$tmp/auditor/"
expect 0 "verify the export offline" bash -c "cd '$tmp/auditor' && '$bin' audit verify --file full.jsonl --jwks jwks.json"
has "export intact" "$out" "intact: 10 entries, 2 signed checkpoints"
has "signed to its end, its record included, as the JWKS's issuer" "$out" "signed up to seq 9 as issuer $ISSUER (the expected issuer)"
same "no store appeared where the auditor verified" "$(ls -A "$tmp/auditor" | tr '\n' ' ')" "full.jsonl jwks.json "
expect 2 "offline verification takes no --store" "$bin" audit verify --file "$tmp/full.jsonl" --jwks "$tmp/jwks.json" "${C[@]}"
expect 0 "the store has a checkpoint at 10 now" "$bin" audit verify "${C[@]}" --json
same "covered 10" "$(json "d['covered']" <<<"$out")" 10
same "nothing unsigned" "$(json "d['unsigned_tail']" <<<"$out")" False

# the issuer: given, named by the JWKS, both, or neither
V=(audit verify --file "$tmp/full.jsonl")
python3 -c "import json, sys; d = json.load(open(sys.argv[1])); del d['issuer']; print(json.dumps(d))" \
	"$tmp/jwks.json" >"$tmp/jwks-plain.json"
expect 0 "--issuer the log's" "$bin" "${V[@]}" --jwks "$tmp/jwks.json" --issuer "$ISSUER"
expect 1 "--issuer other than the JWKS's" "$bin" "${V[@]}" --jwks "$tmp/jwks.json" --issuer https://evil.example
has "says the two differ" "$err" "--issuer https://evil.example differs from the issuer"
expect 1 "another issuer expected, a JWKS naming none" "$bin" "${V[@]}" --jwks "$tmp/jwks-plain.json" --issuer https://evil.example
has "names the first checkpoint and both issuers" "$out" \
	"DAMAGED at seq 5: checkpoint 6 is signed as issuer $ISSUER, not https://evil.example"
expect 0 "no issuer expected" "$bin" "${V[@]}" --jwks "$tmp/jwks-plain.json"
has "says the issuer was not checked" "$out" "as issuer $ISSUER (not checked"
expect 0 "--json names the issuer" "$bin" "${V[@]}" --jwks "$tmp/jwks.json" --json
same "issuer" "$(json "d['issuer']" <<<"$out")" "$ISSUER"
same "issuer checked" "$(json "d['issuer_checked']" <<<"$out")" True

# another store's keys do not verify the checkpoints
expect 0 "keys of another store" "$bin" keys jwks --store "$tmp/other"
printf '%s\n' "$out" >"$tmp/other-jwks.json"
expect 1 "export with a foreign JWKS" "$bin" audit verify --file "$tmp/full.jsonl" --jwks "$tmp/other-jwks.json"
has "names the first checkpoint's last entry" "$out" "DAMAGED at seq 5"
expect 1 "damage is not excused by --allow-unsigned-tail" "$bin" audit verify --file "$tmp/full.jsonl" \
	--jwks "$tmp/other-jwks.json" --allow-unsigned-tail

# what needs no key: a log rebuilt without checkpoints, an entry appended after the last one
python3 - "$tmp/full.jsonl" "$tmp/forged.jsonl" "$tmp/appended.jsonl" <<'EOF'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
entries = [l for l in lines if not l.startswith('{"checkpoint":')]
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
EOF
expect 1 "a log rebuilt without its checkpoints is not verified" "$bin" audit verify --file "$tmp/forged.jsonl" --jwks "$tmp/jwks.json"
has "says nothing is signed" "$out" "NOT VERIFIED from seq 0: nothing is signed"
hasnt "never 'signed up to seq 0'" "$out" "signed up to seq 0"
expect 0 "accepted unsigned, it is all unverified" "$bin" audit verify --file "$tmp/forged.jsonl" \
	--jwks "$tmp/jwks.json" --allow-unsigned-tail
has "says nothing is signed" "$out" "unverified: nothing is signed: no checkpoint covers entries 0..9"
hasnt "and not that anything is" "$out" "signed up to"
expect 1 "an entry appended after the last checkpoint is not verified" "$bin" audit verify --file "$tmp/appended.jsonl" --jwks "$tmp/jwks.json"
has "names the unsigned entries" "$out" "NOT VERIFIED from seq 10: entries 10..10 follow the last signed checkpoint"
expect 0 "accepted unsigned, the tail is reported" "$bin" audit verify --file "$tmp/appended.jsonl" \
	--jwks "$tmp/jwks.json" --allow-unsigned-tail
has "signed up to the checkpoint" "$out" "signed up to seq 9 as issuer $ISSUER"
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
damage "the tail from 5 truncated (below the checkpoint at 10)" 5 truncate 5
damage "the first entry deleted" 0 delete 0
expect 0 "the original still verifies" "$bin" audit verify "${C[@]}"

# tampering with the export
edit_export() { # edit_export NAME EXPECTED_SEQ PYTHON-EXPRESSION-ON-lines
	local name=$1 want=$2
	python3 -c "
import sys
lines = open(sys.argv[1]).read().splitlines()
$3
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')" "$tmp/full.jsonl" "$tmp/bad.jsonl"
	expect 1 "export, $name: verify fails" "$bin" audit verify --file "$tmp/bad.jsonl" --jwks "$tmp/jwks.json"
	has "export, $name: names seq $want" "$out" "DAMAGED at seq $want:"
}
# lines: 0..5 entries, 6 checkpoint(6), 7..10 entries 6..9, 11 checkpoint(10)
edit_export "one byte of entry 3" 3 "lines[3] = lines[3].replace('operator', 'operbtor', 1)"
edit_export "entry 4 removed" 4 "del lines[4]"
edit_export "entries 1 and 2 swapped" 1 "lines[1], lines[2] = lines[2], lines[1]"
edit_export "entries 6 and 7 cut, the checkpoint at 10 kept" 6 "del lines[7:9]"
edit_export "a checkpoint's signature changed" 5 "lines[6] = lines[6][:-6] + ('AAAA' if lines[6][-6:-2] != 'AAAA' else 'BBBB') + lines[6][-2:]"

echo "1..$n"
[ "$fails" -eq 0 ]
