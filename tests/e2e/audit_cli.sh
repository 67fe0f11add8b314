#!/usr/bin/env bash
# End-to-end test of `civicid audit` on a real LMDB store, and the tamper
# tests: consent events recorded with the CLI fill the log; checkpoints are
# signed; an untouched log and its export verify (the export offline, with
# the JWKS only); then, each on its own copy of the store, one byte of one
# entry is changed, an entry deleted, two swapped, the tail truncated below a
# checkpoint, and `audit verify` must fail naming the first bad sequence
# number. The same damage is done to the export file. The attacker is
# audit_tamper, which edits the LMDB files without libauth.
# Usage: CIVICID_BIN=path/to/civicid AUDIT_TAMPER=path/to/audit_tamper tests/e2e/audit_cli.sh
set -uo pipefail
bin=${CIVICID_BIN:?set CIVICID_BIN}
tamper=${AUDIT_TAMPER:?set AUDIT_TAMPER}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$tmp/store
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
C=(--store "$store")
CC=(--service childcare --purpose fee-calculation --policy-version v1 --purpose-digest d1)

expect 0 "audit --help" "$bin" audit --help
for v in verify export query provisions checkpoint officer; do
	has "audit --help documents $v" "$out" "  $v"
done
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
expect 0 "verify (text)" "$bin" audit verify "${C[@]}"
has "says the tail is not signed" "$out" "entries 6..7 are not yet covered"

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

# the whole log, exported and verified offline with the public keys only
expect 0 "keys jwks" "$bin" keys jwks "${C[@]}"
printf '%s\n' "$out" >"$tmp/jwks.json"
expect 0 "export the whole log" "$bin" audit export "${C[@]}" --output "$tmp/full.jsonl"
same "eight entries and two checkpoints" "$(grep -c . "$tmp/full.jsonl")" 10
same "the last line is a checkpoint" "$(tail -n1 "$tmp/full.jsonl" | json "'checkpoint' in d")" True
expect 0 "verify the export offline" "$bin" audit verify --file "$tmp/full.jsonl" --jwks "$tmp/jwks.json" "${C[@]}"
has "export intact" "$out" "intact: 8 entries, 2 signed checkpoints"
expect 0 "the store has a checkpoint at 8 now" "$bin" audit verify "${C[@]}" --json
same "covered 8" "$(json "d['covered']" <<<"$out")" 8

# another store's keys do not verify the checkpoints
expect 0 "keys of another store" "$bin" keys jwks --store "$tmp/other"
printf '%s\n' "$out" >"$tmp/other-jwks.json"
expect 1 "export with a foreign JWKS" "$bin" audit verify --file "$tmp/full.jsonl" --jwks "$tmp/other-jwks.json" "${C[@]}"
has "names the first checkpoint's last entry" "$out" "DAMAGED at seq 5"

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
damage "one byte of the last entry" 7 byte 7 14
damage "entry 4 deleted" 4 delete 4
damage "entries 2 and 5 swapped" 2 swap 2 5
damage "the tail from 5 truncated (below the checkpoint at 8)" 5 truncate 5
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
	expect 1 "export, $name: verify fails" "$bin" audit verify --file "$tmp/bad.jsonl" --jwks "$tmp/jwks.json" "${C[@]}"
	has "export, $name: names seq $want" "$out" "DAMAGED at seq $want:"
}
# lines: 0..5 entries, 6 checkpoint(6), 7..8 entries 6 and 7, 9 checkpoint(8)
edit_export "one byte of entry 3" 3 "lines[3] = lines[3].replace('operator', 'operbtor', 1)"
edit_export "entry 4 removed" 4 "del lines[4]"
edit_export "entries 1 and 2 swapped" 1 "lines[1], lines[2] = lines[2], lines[1]"
edit_export "entries 6 and 7 cut, the checkpoint at 8 kept" 6 "del lines[7:9]"
edit_export "a checkpoint's signature changed" 5 "lines[6] = lines[6][:-6] + ('AAAA' if lines[6][-6:-2] != 'AAAA' else 'BBBB') + lines[6][-2:]"

echo "1..$n"
[ "$fails" -eq 0 ]
