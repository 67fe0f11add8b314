#!/usr/bin/env bash
# End-to-end test of `civicid consent` on a real LMDB store: a citizen made
# with the CLI, paper grants checked against the policies in force, list and
# show (text and --json), withdrawals recorded under the version they
# withdraw, history that is never deleted, and non-zero exits with a clear
# message on bad input.
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
# the policies in force: a paper grant takes its version, digest and lifetime from them
mkdir "$tmp/policies"
P=(--policies "$tmp/policies")
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
	permit household_size
	permit birthdate level=2
	deny given_name
purpose eligibility
	text.ja 認定の審査のため
	text.en To certify your eligibility
	basis statute 子ども・子育て支援法 第20条
	retention 5y
	permit resident_district
POLICY
cat >"$tmp/policies/library.policy" <<'POLICY'
service library
name.ja 市立図書館
name.en City library
purpose loans
	text.ja 貸出のため
	text.en For your loans
	basis consent
	retention 1y
	consent_valid 3y
	permit email
POLICY
cat >"$tmp/policies/archive.policy" <<'POLICY'
service archive
name.ja 公文書館
name.en City archive
purpose letters
	text.ja お知らせのため
	text.en To write to you
	basis consent
	retention 30y
	consent_valid 20y
	permit email
POLICY
# what `civicid policy show` prints: the version of a policy, the digest of a purpose
version() { "$bin" policy show "$1" --dir "$tmp/policies" --json | json "d['version']"; }
digest() { "$bin" policy show "$1" --dir "$tmp/policies" --json | json "[p['digest'] for p in d['purposes'] if p['id']=='$2'][0]"; }
V1=$(version childcare)
D1=$(digest childcare fee-calculation)
VLIB=$(version library)
DLIB=$(digest library loans)
same "the policy version is a SHA-256" "${#V1}" 64

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
	--attribute email --attribute household_size --policy-version "$V1" --purpose-digest "$D1" \
	--expires-in 30 --json "${P[@]}"
same "two records" "$(json "len(d['records'])" <<<"$out")" 2
same "the account id" "$(json "d['account_id']" <<<"$out")" "$hanako_id"
email_grant=$(json "[r['id'] for r in d['records'] if r['attribute']=='email'][0]" <<<"$out")
same "record id is a UUID" "${#email_grant}" 36
expect 0 "grant in another service (text)" "$bin" consent grant hanako "${C[@]}" \
	--service library --purpose loans --attribute email --policy-version "$VLIB" \
	--purpose-digest "$DLIB" "${P[@]}"
has "text output names the record" "$out" "granted email for library / loans"
expect 0 "grant for taro" "$bin" consent grant taro "${C[@]}" "${CC[@]}" --attribute email \
	--policy-version "$V1" --purpose-digest "$D1" "${P[@]}"

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
same "show --json purpose digest" "$(json "d['purpose_digest']" <<<"$out")" "$D1"
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
same "with the grant's purpose digest" "$(json "d['purpose_digest']" <<<"$out")" "$D1"
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
same "library version copied" "$(json "d[-1]['policy_version']" <<<"$out")" "$VLIB"

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
	--purpose p --attribute email --policy-version v --purpose-digest d "${P[@]}"
has "over-long service explained" "$err" "1-128 bytes"
expect 2 "list takes no --attribute" "$bin" consent list hanako "${C[@]}" --attribute email
expect 2 "show takes no --service" "$bin" consent show "$email_grant" "${C[@]}" --service childcare
expect 2 "list without a username" "$bin" consent list "${C[@]}"
expect 2 "unknown option" "$bin" consent list hanako "${C[@]}" --frob
expect 0 "nothing written by the failures" "$bin" consent list hanako "${C[@]}" --json
same "five records of hanako" "$(json "len(d)" <<<"$out")" 5

# paper grants follow the policies in force, never the operator's word
expect 0 "user add jiro" bash -c "printf 'jiro-pass-123' | '$bin' user add jiro ${C[*]} --password-stdin"
expect 0 "grant without version or digest" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" \
	--attribute email "${P[@]}" --json
paper=$(json "d['records'][0]['id']" <<<"$out")
same "--json says until when" "$(json "d['expires_at'] > 0" <<<"$out")" True
expect 0 "show that grant" "$bin" consent show "$paper" "${C[@]}" --json
same "filed under the version in force" "$(json "d['policy_version']" <<<"$out")" "$V1"
same "with the purpose's digest in force" "$(json "d['purpose_digest']" <<<"$out")" "$D1"
same "lasting the purpose's consent_valid (1y)" "$(json "d['expires_at']-d['at']" <<<"$out")" $((365 * 86400))
expect 0 "a consent_valid of 20y is cut to ten years" "$bin" consent grant jiro "${C[@]}" --service archive \
	--purpose letters --attribute email "${P[@]}"
has "text output says until when" "$out" "the grant lasts until"
expect 0 "list archive --json" "$bin" consent list jiro "${C[@]}" --service archive --json
same "3650 days" "$(json "d[0]['expires_at']-d[0]['at']" <<<"$out")" $((3650 * 86400))
expect 1 "longer than consent_valid" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" --attribute household_size \
	--expires-in 366 "${P[@]}"
has "says the longest" "$err" "lasts at most 365 days"
expect 1 "a service without a policy" "$bin" consent grant jiro "${C[@]}" --service pool --purpose swim \
	--attribute email "${P[@]}"
has "no policy named" "$err" "no policy in $tmp/policies governs service pool"
expect 1 "a purpose the policy lacks" "$bin" consent grant jiro "${C[@]}" --service childcare \
	--purpose marketing --attribute email "${P[@]}"
has "no purpose named" "$err" "has no purpose marketing"
expect 1 "a statute purpose asks no consent" "$bin" consent grant jiro "${C[@]}" --service childcare \
	--purpose eligibility --attribute resident_district "${P[@]}"
has "statute named" "$err" "rests on a statute"
expect 1 "an attribute the purpose denies" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" \
	--attribute household_size --attribute given_name "${P[@]}"
has "the attribute named" "$err" "does not permit given_name"
expect 1 "an attribute the purpose does not list" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" \
	--attribute phone_number "${P[@]}"
has "unlisted attribute named" "$err" "does not permit phone_number"
expect 1 "a form signed under another version" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" \
	--attribute household_size --policy-version "$VLIB" "${P[@]}"
has "names the version in force" "$err" "is version $V1, not $VLIB"
expect 1 "a form signed under another text" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" \
	--attribute household_size --purpose-digest "$DLIB" "${P[@]}"
has "names the digest in force" "$err" "has digest $D1, not $DLIB"
mkdir "$tmp/broken"
printf 'service broken\nfrobnicate\n' >"$tmp/broken/broken.policy"
expect 1 "policies that do not load" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" --attribute email \
	--policies "$tmp/broken"
has "says so" "$err" "do not load"
expect 1 "no policies at all" "$bin" consent grant jiro "${C[@]}" "${CC[@]}" --attribute email \
	--policies "$tmp/none"
expect 2 "list takes no --policies" "$bin" consent list jiro "${C[@]}" "${P[@]}"
expect 0 "nothing written by the refusals" "$bin" consent list jiro "${C[@]}" --json
same "two records of jiro" "$(json "len(d)" <<<"$out")" 2

# the operator's reads of a citizen are on the record (operator.viewed), named
# by the citizen's pseudonym, before anything is printed; a failed read is not
# (the query by citizen that reads them is itself a read, recorded: left out here)
reads() {
	"$bin" audit query "${C[@]}" --citizen hanako --type operator.viewed --json 2>/dev/null |
		grep -vF '"command":"audit query"'
}
lines() { grep -c . <<<"$1"; }
before=$(lines "$(reads)")
expect 0 "show a record" "$bin" consent show "$email_grant" "${C[@]}"
newest=$(reads | tail -1)
same "one read more" "$(lines "$(reads)")" $((before + 1))
same "the command is named" "$(json "d['ext']['command']" <<<"$newest")" "consent show"
same "by the operator, at the CLI" "$(json "d['actor'] + ' ' + d['endpoint']" <<<"$newest")" \
	"operator cli"
has "under a pseudonym" "$(json "d['citizen']" <<<"$newest")" "ps_"
expect 0 "list hanako" "$bin" consent list hanako "${C[@]}" --json
rows=$(json "len(d)" <<<"$out")
same "a list is recorded with its rows" "$(reads | tail -1 | json "d['ext']['command'] + ' ' + d['ext']['rows']")" \
	"consent list $rows"
expect 0 "show the citizen" "$bin" user show hanako "${C[@]}"
same "user show recorded" "$(reads | tail -1 | json "d['ext']['command']")" "user show"
before=$(lines "$(reads)")
expect 1 "show an unknown record" "$bin" consent show 00000000-0000-4000-8000-000000000000 "${C[@]}"
expect 1 "list an unknown citizen" "$bin" consent list nobody "${C[@]}"
same "a failed read records nothing" "$(lines "$(reads)")" "$before"
expect 0 "list every citizen" "$bin" user list "${C[@]}"
listing=$("$bin" audit query "${C[@]}" --type operator.viewed --json 2>/dev/null | tail -1)
same "a listing of many names no one" "$(json "d.get('citizen', 'none') + ' ' + d['ext']['command']" <<<"$listing")" \
	"none user list"

echo "1..$n"
[ "$fails" -eq 0 ]
