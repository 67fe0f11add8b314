#!/usr/bin/env bash
# End-to-end test of pseudonyms and retention, against the real `civicid
# serve` and the real CLI. A citizen's consent (on paper) and a login
# through the real form lead to a userinfo release; its entry names a
# pseudonym, not the account, and `civicid audit resolve` (logged as
# officer.resolved) says whose it is. The citizen withdraws; the purpose's
# retention (1 day) runs out; the server's own sweep, two days later
# (faketime), purges the mapping and the consent records with a
# retention.purged entry naming the pseudonym; `civicid audit verify`
# still passes, the citizen's entries are no longer found by citizen, and
# the pseudonym can no longer be resolved (that look-up is logged too).
# A citizen the operator deletes: his purpose goes first, then his
# pseudonym of no purpose (the one his deletion names), the policies'
# longest retention after its newest entry; a live citizen's stays.
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/retention.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"
command -v faketime >/dev/null || bail "faketime is required (deploy/install-deps.sh test)"

entries() { cli audit query --store "$store" --json "$@" 2>/dev/null; }
count() { grep -c . <<<"$1"; }

printf '%s\n' 'service rp-keep' 'name.ja 保存テスト' 'name.en Retention e2e' 'purpose fees' \
	'	text.ja 保育料の算定のため' '	text.en To calculate childcare fees' '	basis consent' \
	'	retention 1d' '	consent_valid 1y' '	permit given_name' >"$policies/rp-keep.policy"
"$bin" policy check "$policies" >"$tmp/cli.out" 2>&1 || bail "the policy checks" "$(cat "$tmp/cli.out")"
add_user hanako 'hanako-e2e-Passw0rd!' 'given_name=Hanako'
HANAKO=$(cli user show hanako --store "$store" --json 2>/dev/null | json "d['id']") ||
	bail "user show hanako"
add_client --client-id rp-keep --name 'Retention e2e' --redirect-uri http://127.0.0.1:9/cb \
	--scope "openid profile"
RP_ID=$CLIENT_ID
RP_SECRET=$CLIENT_SECRET
cli consent grant hanako --store "$store" --policies "$policies" --service rp-keep \
	--purpose fees --attribute given_name >"$tmp/cli.out" 2>&1 ||
	bail "consent grant (paper)" "$(cat "$tmp/cli.out")"
civicid_start
ok "civicid serve listens on $ISSUER"

# ---------------------------------------------------------------- a release
code_login_token "$RP_ID" "$RP_SECRET" hanako 'hanako-e2e-Passw0rd!'
eq "userinfo releases the name" \
	"$(curl -sS --max-time 30 -H "Authorization: Bearer $AT" "$ISSUER/userinfo" | json "d.get('given_name')")" Hanako

rel=$(entries --citizen hanako --type release.permit)
eq "the releases (ID token, userinfo) are found by citizen" "$(count "$rel")" 2
P=$(tail -n1 <<<"$rel" | json "d['citizen']")
eq "both name one pseudonym, the purpose's" "$(head -n1 <<<"$rel" | json "d['citizen']")" "$P"
check "its entry names a pseudonym" grep -qE '^ps_[0-9a-f]{32}$' <<<"$P"
hasnt "and not the account id anywhere in the log" "$(entries)" "$HANAKO"
out=$(cli audit resolve "$P" --store "$store" --reason "disclosure request 12" --json 2>&1)
eq "the operator resolves the pseudonym: hanako, rp-keep, fees" \
	"$(json "d['citizen'], d['service'], d['purpose']" <<<"$out")" "$HANAKO rp-keep fees"
resolved=$(entries --type officer.resolved)
eq "the look-up is on the record, with its reason" \
	"$(json "d['actor'], d['citizen'], d['ext']['found'], d['ext']['reason']" <<<"$resolved")" \
	"operator $P true disclosure request 12"

cli consent withdraw hanako --store "$store" --service rp-keep --purpose fees \
	--attribute given_name >"$tmp/cli.out" 2>&1 || bail "consent withdraw" "$(cat "$tmp/cli.out")"
civicid_stop
out=$(cli audit purge --store "$store" --policies "$policies" --json 2>&1)
eq "just withdrawn: the retention runs, nothing purged" "$out" '{"purged":0,"vetoed":0,"left":0}'
eq "no retention.purged entry" "$(entries --type retention.purged)" ""

# ---------------------------------------------------------------- two days later: the server's sweep
civicid_start_later 2
ok "civicid serve runs, two days later"
for ((i = 0; i < 300; i++)); do
	[ -n "$(entries --type retention.purged)" ] && break
	sleep 0.1
done
civicid_stop
purged=$(entries --type retention.purged)
eq "the server's sweep wrote one retention.purged entry" "$(count "$purged")" 1
eq "naming the pseudonym, the service and purpose, by the system" \
	"$(json "d['citizen'], d['service'], d['purpose'], d['actor']" <<<"$purged")" \
	"$P rp-keep fees system"
eq "what was purged, and by which rule" \
	"$(json "d['ext']['purged'], d['ext']['consent_records'], d['ext']['rule']" <<<"$purged")" \
	"pseudonym,consent_records 2 retention 1d after the purpose ended"
hasnt "the purge names no account" "$purged" "$HANAKO"

out=$(cli audit verify --store "$store" 2>&1)
eq "civicid audit verify passes after the purge" "$?" 0
has "and says the log is intact" "$out" "intact"
eq "hanako's releases are no longer found by citizen" "$(entries --citizen hanako --type release.)" ""
eq "nor her consent events" "$(entries --citizen hanako --type consent.)" ""
eq "the release entry itself is still in the log" \
	"$(entries --type release.permit | tail -n1 | json "d['citizen']")" "$P"
out=$(cli audit explain --store "$store" --seq "$(tail -n1 <<<"$rel" | json "d['seq']")" 2>&1)
eq "audit explain of the release still holds (exit 0)" "$?" 0
has "its purged consent record is not checked, not a mismatch" "$out" "not checked: consent record"
out=$(cli consent list hanako --store "$store" --json 2>&1)
hasnt "her consent records of the purpose are gone" "$out" "rp-keep"

out=$(cli audit resolve "$P" --store "$store" 2>&1)
eq "the pseudonym can no longer be resolved (exit 1)" "$?" 1
has "saying it names no one" "$out" "names no one"
eq "that look-up is on the record too" \
	"$(entries --type officer.resolved --newest-first --limit 1 | json "d['ext']['found']")" false
out=$(later 3 "$bin" audit purge --store "$store" --policies "$policies" --json 2>&1)
eq "purging again finds nothing" "$out" '{"purged":0,"vetoed":0,"left":0}'

# ---------------------------------------------------------------- a deleted citizen's own pseudonym
add_user taro 'taro-e2e-Passw0rd!' 'given_name=Taro'
cli consent grant taro --store "$store" --policies "$policies" --service rp-keep \
	--purpose fees --attribute given_name >"$tmp/cli.out" 2>&1 ||
	bail "consent grant taro" "$(cat "$tmp/cli.out")"
cli user delete taro --yes --store "$store" >"$tmp/cli.out" 2>&1 || bail "user delete taro" "$(cat "$tmp/cli.out")"
T=$(entries --type account.deleted | json "d['citizen']")
check "the deletion names taro's pseudonym of no purpose" grep -qE '^ps_[0-9a-f]{32}$' <<<"$T"
out=$(later 3 "$bin" audit purge --store "$store" --policies "$policies" --json 2>&1)
eq "3 days later: taro's purpose goes first (its grant withdrawn by the deletion)" "$out" \
	'{"purged":1,"vetoed":0,"left":0}'
eq "his own pseudonym still resolves" "$(cli audit resolve "$T" --store "$store" --json 2>/dev/null | json "d['purpose']")" ""
# that look-up is its newest entry now: a day of retention from today
out=$(later 3 "$bin" audit purge --store "$store" --policies "$policies" --json 2>&1)
eq "then his own pseudonym, every purpose gone and the longest retention past" "$out" \
	'{"purged":1,"vetoed":0,"left":0}'
own=$(entries --type retention.purged --newest-first --limit 1)
eq "naming his pseudonym, no service, no purpose" \
	"$(json "d['citizen'], 'service' in d, 'purpose' in d" <<<"$own")" "$T False False"
eq "what was purged, and by which rule" \
	"$(json "d['ext']['purged'], d['ext']['rule']" <<<"$own")" \
	"pseudonym retention 1d after the account was deleted"
out=$(cli audit resolve "$T" --store "$store" 2>&1)
eq "his own pseudonym names no one (exit 1)" "$?" 1
out=$(later 30 "$bin" audit purge --store "$store" --policies "$policies" --json 2>&1)
eq "30 days on, nothing more is due: hanako has her account" "$out" '{"purged":0,"vetoed":0,"left":0}'
out=$(cli audit verify --store "$store" 2>&1)
eq "civicid audit verify passes after both purges" "$?" 0

out=$(cli audit resolve hanako --store "$store" 2>&1)
eq "resolve takes only a pseudonym: usage" "$?" 2
out=$(cli audit purge extra --store "$store" 2>&1)
eq "purge takes no argument: usage" "$?" 2
finish
