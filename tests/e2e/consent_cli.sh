#!/usr/bin/env bash
# End-to-end test of `civicid consent` on a real LMDB store: a citizen made
# with the CLI, paper grants, list and show (text and --json), withdrawals
# recorded under the version they withdraw, history that is never deleted,
# and non-zero exits with a clear message on bad input.
# Usage: CIVICID_BIN=path/to/civicid tests/e2e/consent_cli.sh
set -uo pipefail
bin=${CIVICID_BIN:?set CIVICID_BIN}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$tmp/store
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
C=(--store "$store")
CC=(--service childcare --purpose fee-calculation)
V1=3f1c0e6a9d2b4c5e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e

# help
expect 0 "civicid --help lists consent" "$bin" --help
has "consent is no longer 'not yet available'" "$(grep consent <<<"$out")" "list, show, withdraw, grant"
expect 0 "civicid consent --help" "$bin" consent --help
has "consent --help shows usage" "$out" "usage: civicid consent"
for v in list show withdraw grant; do has "consent --help documents $v" "$out" "  $v "; done
expect 2 "consent without a verb" "$bin" consent
expect 2 "unknown verb" "$bin" consent frob "${C[@]}"
has "unknown verb says so" "$err" "unknown verb"

# citizens, made with the CLI
expect 0 "user add hanako" bash -c "printf 'hanako-pass-1' | '$bin' user add hanako ${C[*]} --password-stdin"
expect 0 "user add taro" bash -c "printf 'taro-pass-123' | '$bin' user add taro ${C[*]} --password-stdin"
expect 0 "user show hanako" "$bin" user show hanako "${C[@]}" --json
hanako_id=$(json "d['id']" <<<"$out")

# nothing yet
expect 0 "list with no records" "$bin" consent list hanako "${C[@]}"
has "says there are none" "$out" "no consent records for hanako"
expect 0 "list --json with no records" "$bin" consent list hanako "${C[@]}" --json
same "an empty array" "$(json "len(d)" <<<"$out")" 0

# grant on paper
expect 0 "grant two attributes on paper, --json" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" \
	--attribute email --attribute household_size --policy-version "$V1" --purpose-digest d1 \
	--expires-in 30 --json
same "two records" "$(json "len(d['records'])" <<<"$out")" 2
same "the account id" "$(json "d['account_id']" <<<"$out")" "$hanako_id"
email_grant=$(json "[r['id'] for r in d['records'] if r['attribute']=='email'][0]" <<<"$out")
same "record id is a UUID" "${#email_grant}" 36
expect 0 "grant in another service (text)" "$bin" consent grant hanako "${C[@]}" \
	--service library --purpose loans --attribute email --policy-version v-lib --purpose-digest d-lib
has "text output names the record" "$out" "granted email for library / loans"
expect 0 "grant for taro" "$bin" consent grant taro "${C[@]}" "${CC[@]}" --attribute email \
	--policy-version "$V1" --purpose-digest d1

# list
expect 0 "list hanako" "$bin" consent list hanako "${C[@]}"
has "list shows the grant" "$out" "$email_grant"
has "list shows library" "$out" library
expect 0 "list hanako --json" "$bin" consent list hanako "${C[@]}" --json
same "three records of hanako" "$(json "len(d)" <<<"$out")" 3
same "none of taro's" "$(json "len([r for r in d if r['account_id']!='$hanako_id'])" <<<"$out")" 0
expect 0 "list --service childcare" "$bin" consent list hanako "${C[@]}" --service childcare --json
same "two childcare records" "$(json "len(d)" <<<"$out")" 2
same "method cli:paper" "$(json "d[0]['how']['method']" <<<"$out")" "cli:paper"
same "expiry 30 days after the grant" "$(json "d[0]['expires_at']-d[0]['at']" <<<"$out")" $((30 * 86400))

# show
expect 0 "show the email grant" "$bin" consent show "$email_grant" "${C[@]}"
has "show names the citizen" "$out" "hanako ($hanako_id)"
has "show has the policy version" "$out" "$V1"
has "show has the state" "$out" "granted"
expect 0 "show --json" "$bin" consent show "$email_grant" "${C[@]}" --json
same "show --json attribute" "$(json "d['attribute']" <<<"$out")" email
same "show --json purpose digest" "$(json "d['purpose_digest']" <<<"$out")" d1
expect 1 "show an unknown record" "$bin" consent show 00000000-0000-4000-8000-000000000000 "${C[@]}"
has "unknown record says so" "$err" "no consent record"
expect 1 "show a malformed id" "$bin" consent show not-an-id "${C[@]}"

# withdraw
expect 1 "withdraw what was never granted" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}" \
	--attribute email --attribute birthdate
has "names the attribute and why" "$err" "no consent in force for birthdate"
has "says nothing was recorded" "$err" "nothing was recorded"
expect 0 "list after the failed withdrawal" "$bin" consent list hanako "${C[@]}" --json
same "still three records" "$(json "len(d)" <<<"$out")" 3
expect 0 "withdraw email" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}" --attribute email --json
withdrawal=$(json "d['records'][0]['id']" <<<"$out")
same "withdrawn" "$(json "d['records'][0]['state']" <<<"$out")" withdrawn
expect 0 "show the withdrawal" "$bin" consent show "$withdrawal" "${C[@]}" --json
same "method cli:withdraw" "$(json "d['how']['method']" <<<"$out")" "cli:withdraw"
same "under the version it withdraws" "$(json "d['policy_version']" <<<"$out")" "$V1"
same "with the grant's purpose digest" "$(json "d['purpose_digest']" <<<"$out")" d1
same "no expiry on a withdrawal" "$(json "d['expires_at']" <<<"$out")" 0
expect 0 "list after withdrawal" "$bin" consent list hanako "${C[@]}" --service childcare --json
same "grant kept, withdrawal appended" "$(json "[r['state'] for r in d if r['attribute']=='email']" <<<"$out")" \
	"['granted', 'withdrawn']"
expect 1 "withdraw again" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}" --attribute email
has "already withdrawn" "$err" "already withdrawn"
expect 0 "taro's grant untouched" "$bin" consent list taro "${C[@]}" --json
same "taro still granted" "$(json "d[-1]['state']" <<<"$out")" granted
expect 0 "withdraw in the other service" "$bin" consent withdraw hanako "${C[@]}" --service library \
	--purpose loans --attribute email
has "text output" "$out" "withdrawn email for library / loans"
expect 0 "withdrawal under library's version" "$bin" consent list hanako "${C[@]}" --service library --json
same "library version copied" "$(json "d[-1]['policy_version']" <<<"$out")" v-lib

# bad input
expect 1 "list an unknown citizen" "$bin" consent list nobody "${C[@]}"
has "unknown citizen says not found" "$err" "not found"
expect 1 "grant for an unknown citizen" "$bin" consent grant nobody "${C[@]}" "${CC[@]}" --attribute email \
	--policy-version v --purpose-digest d
expect 2 "unknown attribute" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" --attribute favourite_colour \
	--policy-version v --purpose-digest d
has "unknown attribute named" "$err" "unknown attribute 'favourite_colour'"
expect 2 "language-tagged attribute" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}" \
	--attribute 'family_name#ja-Kana-JP'
expect 2 "attribute twice" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" --attribute email \
	--attribute email --policy-version v --purpose-digest d
expect 2 "grant without versions" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" --attribute email
has "grant names what it needs" "$err" "--policy-version and --purpose-digest"
expect 2 "withdraw without --purpose" "$bin" consent withdraw hanako "${C[@]}" --service childcare \
	--attribute email
expect 2 "withdraw without --attribute" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}"
expect 2 "withdraw does not take --policy-version" "$bin" consent withdraw hanako "${C[@]}" "${CC[@]}" \
	--attribute email --policy-version v
expect 2 "--expires-in 0" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" --attribute email \
	--policy-version v --purpose-digest d --expires-in 0
expect 2 "--expires-in not a number" "$bin" consent grant hanako "${C[@]}" "${CC[@]}" --attribute email \
	--policy-version v --purpose-digest d --expires-in 1y
expect 1 "over-long service" "$bin" consent grant hanako "${C[@]}" --service "$(printf 'x%.0s' {1..129})" \
	--purpose p --attribute email --policy-version v --purpose-digest d
has "over-long service explained" "$err" "1-128 bytes"
expect 2 "list takes no --attribute" "$bin" consent list hanako "${C[@]}" --attribute email
expect 2 "show takes no --service" "$bin" consent show "$email_grant" "${C[@]}" --service childcare
expect 2 "list without a username" "$bin" consent list "${C[@]}"
expect 2 "unknown option" "$bin" consent list hanako "${C[@]}" --frob
expect 0 "nothing written by the failures" "$bin" consent list hanako "${C[@]}" --json
same "five records of hanako" "$(json "len(d)" <<<"$out")" 5

echo "1..$n"
[ "$fails" -eq 0 ]
