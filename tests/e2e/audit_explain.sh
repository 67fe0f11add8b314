#!/usr/bin/env bash
# End-to-end test of `civicid audit explain` and of the officer's acts on the
# record, against the real `civicid serve` and the real CLI. A citizen's
# consent (on paper, through the CLI) and a login through the real form
# lead to userinfo releases under the policy text v1; the policy file is
# then rewritten with text v2 and reloaded (`civicid policy reload`), which
# the server shows by no longer releasing (the consent was given to v1's
# text). `audit explain --seq N` on the old release shows v1's ja and en
# notice, checked against the purpose digest it recorded, the rule's line,
# the consent with its history and how the citizen authenticated; on a new
# entry, v2's. Then the privacy officer logs in to the console (password +
# TOTP), searches the log and opens the old release: each is an audit
# entry naming the officer (officer.searched, officer.viewed), the entry
# page shows v1's notice too, and the log with those entries still
# verifies and proves. An explanation whose look at the citizen cannot be
# put on the log (its commit's sync fails, through fault_sync) prints
# nothing, fails, and leaves the log as it was.
# Usage: CIVICID_BIN=build/asan/server/civicid \
#        CID_FAULT_SYNC=build/asan/tests/e2e/libfault_sync.so tests/e2e/audit_explain.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=${CID_FAULT_SYNC:?set CID_FAULT_SYNC (the fault_sync library: build/asan/tests/e2e/libfault_sync.so)}
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

JA1='保育料の算定のため（第1版）'
EN1='To calculate childcare fees (version 1)'
JA2='保育料と給食費の算定のため（第2版）'
EN2='To calculate childcare and school meal fees (version 2)'
# write_policy JA EN: the service's policy with that notice
write_policy() {
	printf '%s\n' 'service rp-explain' 'name.ja 説明テスト' 'name.en Explain e2e' \
		'purpose fees' "	text.ja $1" "	text.en $2" '	basis consent' '	retention 1y' \
		'	consent_valid 1y' '	permit given_name' '	permit family_name' \
		>"$policies/rp-explain.policy"
	"$bin" policy check "$policies" >"$tmp/cli.out" 2>&1 ||
		bail "the policy checks" "$(cat "$tmp/cli.out")"
}
sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

add_user hanako 'hanako-e2e-Passw0rd!' 'given_name=Hanako' 'family_name=Yamada'
HANAKO=$(cli user show hanako --store "$store" --json 2>/dev/null | json "d['id']") ||
	bail "user show hanako" "$(cli user show hanako --store "$store" --json 2>&1)"
write_policy "$JA1" "$EN1"
V1=$(sha256 "$policies/rp-explain.policy")
add_client --client-id rp-explain --name 'Explain e2e' --redirect-uri http://127.0.0.1:9/cb \
	--scope "openid profile"
RP_ID=$CLIENT_ID
RP_SECRET=$CLIENT_SECRET
cli consent grant hanako --store "$store" --policies "$policies" --service rp-explain \
	--purpose fees --attribute given_name --attribute family_name >"$tmp/cli.out" 2>&1 ||
	bail "consent grant (paper)" "$(cat "$tmp/cli.out")"
printf '%s' 'privacy-explain-pass-1' | "$bin" audit officer add privacy --store "$store" \
	--password-stdin --json >"$tmp/officer.json" 2>"$tmp/cli.err" ||
	bail "civicid audit officer add" "$(cat "$tmp/cli.err")"
OFFICER_SECRET=$(json "d['secret']" <"$tmp/officer.json")
civicid_start
ok "civicid serve listens on $ISSUER, policy text v1 in force"

# ---------------------------------------------------------------- a release under v1
code_login_token "$RP_ID" "$RP_SECRET" hanako 'hanako-e2e-Passw0rd!'
at=$AT
userinfo() { curl -sS --max-time 30 -H "Authorization: Bearer $at" "$ISSUER/userinfo"; }
eq "userinfo releases the name under v1" "$(userinfo | json "d.get('given_name')")" Hanako
# last_entry TYPE ENDPOINT: the newest entry of TYPE (at ENDPOINT, if given), as JSON
last_entry() {
	cli audit query --store "$store" --type "$1" --newest-first --json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if len(sys.argv) < 2 or e.get("endpoint") == sys.argv[1]:
        print(json.dumps(e)); break' "${@:2}"
}
old=$(last_entry release.permit userinfo)
SEQ=$(json "d['seq']" <<<"$old")
eq "the release entry names policy v1" "$(json "d['policy_version']" <<<"$old")" "$V1"
eq "and how the citizen authenticated" "$(json "d['acr'], d['amr']" <<<"$old")" \
	"urn:civicid:acr:password ['pwd']"

# ---------------------------------------------------------------- reloaded with v2
write_policy "$JA2" "$EN2"
V2=$(sha256 "$policies/rp-explain.policy")
cli policy reload --store "$store" >"$tmp/cli.out" 2>&1 || bail "policy reload" "$(cat "$tmp/cli.out")"
reloaded() { [ "$(userinfo | json "d.get('given_name')")" = None ]; }
for ((i = 0; i < 300; i++)); do reloaded && break; sleep 0.1; done
check "the server reloaded v2: the consent to v1's text no longer releases" reloaded
new=$(last_entry release.deny userinfo)
eq "a new entry names policy v2" "$(json "d['policy_version']" <<<"$new")" "$V2"

# ---------------------------------------------------------------- explain
out=$(cli audit explain --store "$store" --seq "$SEQ" 2>"$tmp/explain.err")
eq "audit explain --seq $SEQ: every check holds" "$?" 0
has "it is the userinfo release" "$out" "entry $SEQ: release.permit at "
has "the policy version it was decided under" "$out" "policy version $V1"
has "v1's Japanese notice, though the file now says v2's" "$out" "ja: $JA1"
has "v1's English notice" "$out" "en: $EN1"
hasnt "not v2's" "$out" "$JA2"
has "checked against the digest the entry recorded" "$out" "matches the entry's"
# both attributes permitted alike: one entry, naming both lines
has "the rule's lines in v1" "$out" 'rule rp-explain.policy:10,11'
has "the first line's text" "$out" '  "	permit given_name"'
has "the second line's text" "$out" '  "	permit family_name"'
has "how the citizen authenticated" "$out" "authentication: acr urn:civicid:acr:password, amr pwd, at 20"
has "the consent behind it, given under this notice" "$out" "given under this notice"
has "with its history" "$out" "history (oldest first):"
has "recorded on paper" "$out" "cli:paper"
eq "nothing on stderr" "$(cat "$tmp/explain.err")" ""
e=$(last_entry operator.viewed)
eq "the explanation shows hanako's records: a look, on the record before it printed" \
	"$(json "d['actor'], d['endpoint'], d['ext']['command'], d['ext']['rows'], d['citizen'].startswith('ps_')" <<<"$e")" \
	"operator cli audit explain 1 True"
hasnt "naming her by a pseudonym, never by her account id" "$e" "$HANAKO"
j=$(cli audit explain --store "$store" --seq "$SEQ" --json)
eq "--json: the account the entry's pseudonym names" "$(json "d['account']" <<<"$j")" "$HANAKO"
eq "who looked at hanako: both explanations" \
	"$(cli audit query --store "$store" --citizen hanako --type operator.viewed --json |
		grep -c '"audit explain"')" 2
eq "--json: the notice" "$(json "d['notice']['text_ja'], d['notice']['text_en'], d['notice']['matches']" <<<"$j")" \
	"$JA1 $EN1 True"
eq "--json: the archived text is v1's file" "$(json "d['policy']['version'], d['policy']['intact']" <<<"$j")" "$V1 True"
eq "--json: amr" "$(json "d['authentication']['amr']" <<<"$j")" "['pwd']"
eq "--json: the consent's history" "$(json "len(d['consents'][0]['history']), d['problems']" <<<"$j")" "1 []"
NEW=$(json "d['seq']" <<<"$new")
out=$(cli audit explain --store "$store" --seq "$NEW")
has "the new entry is explained with v2's notice" "$out" "ja: $JA2"
out=$(cli audit explain --store "$store" --seq 999999 2>&1)
eq "no such entry: exit 1" "$?" 1
has "says so" "$out" "no entry 999999"
out=$(cli audit explain --store "$store" 2>&1)
eq "no --seq: bad usage" "$?" 2

# ---------------------------------------------------------------- a look that cannot be recorded
# fault_sync, preloaded into the one command, fails its first sync (with
# nothing else written by it, the commit of the operator.viewed entry), as a
# failing disk would: the look is not on the record, so hanako's records are
# not shown, in either form, and the log is as it was.
entries_now() { cli audit verify --store "$store" --json | json "d['entries']"; }
# explained: how many looks at hanako by `audit explain` the log holds
explained() {
	cli audit query --store "$store" --citizen hanako --type operator.viewed --json |
		grep -c '"audit explain"'
}
looks_before=$(explained)
head_before=$(entries_now)
arm=$tmp/cut-the-look
for form in text --json; do
	: >"$arm"
	flag=()
	[ "$form" = --json ] && flag=(--json)
	out=$(CID_FAULT_SYNC_ARM=$arm LD_PRELOAD=$shim ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" \
		"$bin" audit explain --store "$store" --seq "$SEQ" "${flag[@]}" 2>"$tmp/explain.err")
	eq "explain ($form) when its look cannot be recorded: exit 1" "$?" 1
	check "the fault was met (the sync of the look's commit failed)" test ! -e "$arm"
	has "($form) it says the read could not be put on the log" "$(cat "$tmp/explain.err")" \
		"could not be put on the audit log"
	eq "($form) and prints nothing of hanako's records" "$out" ""
done
eq "the log is as it was: no entry added" "$(entries_now)" "$head_before"
eq "who looked at hanako: only the explanations that printed" "$(explained)" "$looks_before"

# ---------------------------------------------------------------- the officer's acts
totp_now() {
	python3 - "$1" <<'PY'
import base64, hashlib, hmac, struct, sys, time
key = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}
JAR=$tmp/officer-jar
get "$ISSUER/officer/login"
post "$ISSUER/officer/login" "csrf=$(form_field "$BODY" '/officer/login$' csrf)" name=privacy \
	password=privacy-explain-pass-1 "code=$(totp_now "$OFFICER_SECRET")"
eq "the officer logs in (password + TOTP)" "$status" 303
size_before=$(cli audit verify --store "$store" --json | json "d['entries']")
get "$ISSUER/officer?citizen=hanako&type=release.permit"
eq "the officer searches the log for hanako" "$status" 200
e=$(last_entry officer.searched)
eq "the search is an entry naming the officer and the citizen (by her pseudonym)" \
	"$(json "d['actor'], d['citizen'].startswith('ps_'), d['ext']['type'], d['ext']['citizen'] == d['citizen']" <<<"$e")" \
	"officer:privacy True release.permit True"
hasnt "never by her account id" "$e" "$HANAKO"
get "$ISSUER/officer/entry?seq=$SEQ"
eq "the officer opens the old release" "$status" 200
has "the entry page shows v1's notice" "$(body)" "$JA1"
has "and its English" "$(body)" "$EN1"
has "how the citizen authenticated" "$(body)" "urn:civicid:acr:password"
has "the consent's history" "$(body)" 'class="history"'
e=$(last_entry officer.viewed)
VIEWED=$(json "d['seq']" <<<"$e")
eq "the view is an entry naming the officer, the entry and the citizen" \
	"$(json "d['actor'], d['ext']['seq'], d['citizen'], d['endpoint']" <<<"$e")" \
	"officer:privacy $SEQ $(json "d['citizen']" <<<"$old") officer-console"
eq "two entries more: the search and the view" \
	"$(cli audit verify --store "$store" --json | json "d['entries']")" $((size_before + 2))
eq "who looked at hanako: a query by citizen finds both" \
	"$(cli audit query --store "$store" --citizen hanako --type officer. --json | wc -l)" 2
# they are ordinary entries: the chain verifies, and the view is proved
cli audit checkpoint --store "$store" >/dev/null 2>"$tmp/cli.err" || bail "audit checkpoint" "$(cat "$tmp/cli.err")"
out=$(cli audit verify --store "$store" 2>&1)
eq "the log with the officer's entries verifies" "$?" 0
cli audit prove --store "$store" --seq "$VIEWED" >"$tmp/viewed.proof" 2>"$tmp/cli.err"
eq "the view has an inclusion proof" "$?" 0
cli audit vkeys --store "$store" >"$tmp/vkeys.txt"
out=$(cli audit verify-proof --proof "$tmp/viewed.proof" --vkeys "$tmp/vkeys.txt" 2>&1)
eq "which verifies offline" "$?" 0
civicid_stop
finish
