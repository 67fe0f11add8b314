#!/usr/bin/env bash
# End-to-end test of the records Japanese law names, with the real CLI and a
# real `civicid serve`. The personal information file register (個人情報
# ファイル簿) is made from real policies (`civicid policy register`, CSV in
# Japanese and JSON in English); an ill-cited statute basis is refused, with
# its file and line, by `policy check` and by `serve --check` when
# controller_type is local_government; a third party without its legal name
# and corporate number is refused when it is business. Then, with
# controller_type business, a citizen's paper consents and a login through
# the real form lead to userinfo releases to a third party and to an
# entrusted contractor: `civicid audit provisions` lists the third party's
# provision record (legal name, corporate number, citizen, items, consent
# obtained with the record ids, the date), labels the contractor apart, and
# a purge of the record is refused for the 3 years the law keeps it.
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/law_records.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

# policy SERVICE HEAD-LINES...: a consent policy of SERVICE, its head lines
# (the law's keys) given, permitting given_name and family_name (sensitive)
policy() {
	local service=$1 line
	shift
	{
		printf 'service %s\nname.ja %s\nname.en %s\n' "$service" "$service" "$service"
		for line in "$@"; do printf '%s\n' "$line"; done
		printf 'purpose fees\n\ttext.ja 保育料の算定のため\n\ttext.en To calculate childcare fees\n'
		printf '\tbasis consent\n\tretention 1y\n\tconsent_valid 1y\n'
		printf '\tpermit given_name\n\tpermit family_name sensitive\n'
	} >"$policies/$service.policy"
}
REGISTER=('file.ja 保育料算定ファイル' 'file.en Childcare fee file'
	'organ.ja こども家庭課' 'organ.en Children and Families Division'
	'persons.ja 保育所の利用を申請した児童の保護者' 'persons.en Guardians applying for nursery care'
	'collection.ja 本人からの申請及びcivicidによる提供' 'collection.en Applications and civicid releases'
	'recipient_regular.ja 県（児童相談所）' 'recipient_regular.en The prefecture (child guidance centre)')
policy rp-alpha "${REGISTER[@]}" 'recipient.name 株式会社アルファ' 'recipient.number 5010401067252' \
	'relationship third_party'
policy rp-beta "${REGISTER[@]}" 'recipient.name 株式会社ベータ' 'relationship entrusted'
cli policy check "$policies" >"$tmp/cli.out" 2>&1 || bail "the policies check" "$(cat "$tmp/cli.out")"

# ---------------------------------------------------------------- the file register
out=$(cli policy register --dir "$policies" 2>"$tmp/cli.err")
eq "policy register: exit 0" "$?" 0
has "CSV in Japanese, the register's columns" "$out" \
	"ファイル名,保有機関,利用目的,記録項目,記録範囲,収集方法,要配慮個人情報,通常の提供先,サービス,ポリシー版"
has "a row per personal information file, as the policy says" "$out" \
	"保育料算定ファイル,こども家庭課,保育料の算定のため,family_name、given_name,保育所の利用を申請した児童の保護者,本人からの申請及びcivicidによる提供,含む（family_name）,県（児童相談所）,rp-alpha,"
eq "one row per policy, after the header" "$(grep -c ',rp-' <<<"$out")" 2
j=$(cli policy register --dir "$policies" --format json --lang en)
eq "--format json --lang en: the English texts" \
	"$(json "[(r['service'], r['file_name'], r['organ'], r['purpose_of_use'], r['persons'], r['collection'], r['regular_recipients']) for r in d][0]" <<<"$j")" \
	"('rp-alpha', 'Childcare fee file', 'Children and Families Division', 'To calculate childcare fees', 'Guardians applying for nursery care', 'Applications and civicid releases', 'The prefecture (child guidance centre)')"
eq "items and the 要配慮個人情報 flag" "$(json "d[0]['items'], d[0]['sensitive'], d[0]['sensitive_items']" <<<"$j")" \
	"['family_name', 'given_name'] True ['family_name']"
out=$(cli policy register --dir "$policies" --lang fr 2>&1)
eq "--lang fr: bad usage" "$?" 2

# ---------------------------------------------------------------- what each controller type refuses
bad=$tmp/bad
mkdir -p "$bad"
printf '%s\n' 'service rp-gov' 'name.ja 行政' 'name.en Gov' "${REGISTER[@]}" 'purpose residency' \
	'	text.ja 住所の確認のため' '	text.en To confirm the address' \
	'	basis statute Residents Act, art. 12' '	retention 1y' '	permit family_name' \
	>"$bad/rp-gov.policy"
out=$(cli policy check "$bad" 2>&1)
eq "an English-only citation passes when no controller type asks" "$?" 0
out=$(cli policy check --controller-type local_government "$bad" 2>&1)
eq "policy check --controller-type local_government: exit 1" "$?" 1
has "naming the file and the basis line" "$out" \
	"$bad/rp-gov.policy:17: purpose residency: the statute basis is not cited as the law requires"
out=$(cli policy register --dir "$bad" 2>&1)
eq "the register checks the citations too" "$?" 1
has "with the same message" "$out" "rp-gov.policy:17:"
printf 'controller_type = local_government\nstore = %s\npolicies = %s\n' "$tmp/nostore" "$bad" >"$tmp/gov.conf"
out=$(cli serve --config "$tmp/gov.conf" --check 2>&1)
eq "serve --check with controller_type local_government: exit 1" "$?" 1
has "the server refuses the ill-cited basis at its line" "$out" "rp-gov.policy:17: purpose residency"
out=$(timeout 60 "$bin" serve --config "$tmp/gov.conf" --store "$tmp/govstore" --port 0 </dev/null 2>&1)
eq "civicid serve with controller_type local_government does not start" "$?" 1
has "saying why, at the line" "$out" "rp-gov.policy:17: purpose residency: the statute basis is not cited"
sed -i 's|basis statute Residents Act, art. 12|basis statute 住民基本台帳法 第12条 第1項 / Residential Basic Book Act, art. 12(1)|' \
	"$bad/rp-gov.policy"
out=$(cli serve --config "$tmp/gov.conf" --check 2>&1)
eq "cited as LAW 第N条 第M項, it passes" "$?" 0
printf 'controller_type = business\nstore = %s\npolicies = %s\n' "$tmp/nostore" "$bad" >"$tmp/biz.conf"
out=$(cli serve --config "$tmp/biz.conf" --check 2>&1)
eq "controller_type business: a third party without its legal name is refused" "$?" 1
has "at its service line" "$out" "rp-gov.policy:1: service rp-gov is a third party (controller_type business)"
printf 'controller_type = municipal\n' >"$tmp/typo.conf"
out=$(cli serve --config "$tmp/typo.conf" --check 2>&1)
eq "controller_type municipal: refused" "$?" 2
has "saying which values there are" "$out" "controller_type must be local_government or business"

# ---------------------------------------------------------------- releases, controller_type business
printf 'controller_type = business\n' >"$tmp/civicid.conf"
CIVICID_CONFIG=$tmp/civicid.conf
add_user hanako 'hanako-e2e-Passw0rd!' 'given_name=Hanako' 'family_name=Yamada'
HANAKO=$(cli user show hanako --store "$store" --json 2>/dev/null | json "d['id']") ||
	bail "user show hanako" "$(cli user show hanako --store "$store" --json 2>&1)"
for svc in rp-alpha rp-beta; do
	cli consent grant hanako --store "$store" --policies "$policies" --service "$svc" \
		--purpose fees --attribute given_name --attribute family_name >"$tmp/cli.out" 2>&1 ||
		bail "consent grant $svc (paper)" "$(cat "$tmp/cli.out")"
done
ALPHA_RECORDS=$(cli consent list hanako --store "$store" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d if isinstance(d, list) else [r for v in d.values() if isinstance(v, list) for r in v]
print(" ".join(sorted(r["id"] for r in rows if r.get("service") == "rp-alpha")))')
[ -n "$ALPHA_RECORDS" ] || bail "consent list names rp-alpha's records" \
	"$(cli consent list hanako --store "$store" --json 2>&1)"
add_client --client-id rp-alpha --name 'Alpha' --redirect-uri http://127.0.0.1:9/cb --scope "openid profile"
ALPHA_SECRET=$CLIENT_SECRET
add_client --client-id rp-beta --name 'Beta' --redirect-uri http://127.0.0.1:9/cb --scope "openid profile"
BETA_SECRET=$CLIENT_SECRET
civicid_start
ok "civicid serve listens on $ISSUER with controller_type business"

# release_to CLIENT SECRET: a login (consent was given on paper) and the code
# redeemed; userinfo's given_name
release_to() {
	rm -f "$JAR"
	code_login_token "$1" "$2" hanako 'hanako-e2e-Passw0rd!'
	curl -sS --max-time 30 -H "Authorization: Bearer $AT" "$ISSUER/userinfo" | json "d.get('given_name')"
}
eq "userinfo releases to the third party" "$(release_to rp-alpha "$ALPHA_SECRET")" Hanako
eq "and to the entrusted contractor" "$(release_to rp-beta "$BETA_SECRET")" Hanako
TODAY=$(TZ=Asia/Tokyo date +%F)

# ---------------------------------------------------------------- the provision records
j=$(cli audit provisions --store "$store" --json 2>"$tmp/cli.err")
eq "audit provisions --json: exit 0" "$?" 0
row="[r for r in d['provisions'] if r['service'] == 'rp-alpha' and r['citizen'] == '$HANAKO'][0]"
eq "the third party's record: its legal name, corporate number and relationship" \
	"$(json "$row['recipient']" <<<"$j")" \
	"{'corporate_number': '5010401067252', 'name': '株式会社アルファ', 'relationship': 'third_party'}"
eq "the items provided" "$(json "sorted(set(a.split('#')[0] for a in $row['attributes']))" <<<"$j")" \
	"['family_name', 'given_name']"
eq "consent obtained, with the consent record ids" \
	"$(json "$row['consent_obtained'], ' '.join($row['consent_records'])" <<<"$j")" "True $ALPHA_RECORDS"
eq "the date of the provision (in Japan)" "$(json "$row['dates']" <<<"$j")" "['$TODAY']"
eq "the entrusted contractor is no third-party provision" \
	"$(json "[r['service'] for r in d['provisions']]" <<<"$j")" "['rp-alpha']"
eq "it is listed apart, labelled" \
	"$(json "[(r['service'], r['recipient']['relationship'], r['recipient']['name']) for r in d['not_third_party']]" <<<"$j")" \
	"[('rp-beta', 'entrusted', '株式会社ベータ')]"
j=$(cli audit provisions --store "$store" --recipient rp-beta --from "$(date -u +%F)" \
	--to "$(date -u -d tomorrow +%F)" --json)
eq "--recipient rp-beta --from --to: no record, one labelled row" \
	"$(json "len(d['provisions']), len(d['not_third_party']), d['from'][:10]" <<<"$j")" "0 1 $(date -u +%F)"
out=$(cli audit provisions --store "$store")
has "text: the recipient's legal name and number" "$out" \
	"recipient rp-alpha: 株式会社アルファ, corporate number 5010401067252"
has "text: consent obtained and its records" "$out" "consent obtained, records $ALPHA_RECORDS"
has "text: the contractor apart" "$out" "not third-party provisions"
csv=$(cli audit provisions --store "$store" --format csv)
has "CSV: the columns" "$csv" "recipient_service,recipient_name,corporate_number,relationship,citizen,items,consent_obtained,consent_records,bases,dates,first,last,releases"
has "CSV: the record" "$csv" "rp-alpha,株式会社アルファ,5010401067252,third_party,$HANAKO,"
hasnt "CSV: no row for the contractor" "$csv" "rp-beta"

# ---------------------------------------------------------------- retention
KEEP=$(python3 -c 'import datetime, sys; d = datetime.date.fromisoformat(sys.argv[1]); print(d.replace(year=d.year + 3) if (d.month, d.day) != (2, 29) else "")' "$TODAY")
out=$(cli audit provisions --store "$store" --purge-before "$(date -u -d tomorrow +%F)" 2>&1)
eq "--purge-before tomorrow: refused (exit 1)" "$?" 1
has "naming the record and the day it is kept until (3 years)" "$out" \
	"purge refused: the provision record of rp-alpha to citizen $HANAKO"
has "kept until the day 3 years on" "$out" "must be kept until $KEEP"
j=$(cli audit provisions --store "$store" --purge-before "$(date -u -d tomorrow +%F)" --json)
eq "--json: allowed false, keep_until" "$(json "d['allowed'], d['refused']['keep_until']" <<<"$j")" "False $KEEP"
out=$(cli audit provisions --store "$store" --purge-before 2020-01-01)
eq "before any release: nothing is kept, a purge may go" "$?" 0
out=$(cli audit provisions --store "$store" --purge-before 2020-01-01 --from 2019-01-01 2>&1)
eq "--purge-before with --from: bad usage" "$?" 2

civicid_stop
finish
