#!/usr/bin/env bash
# Creates the demo city in a store: five citizens (Japanese and English names,
# city attributes; hanako with a TOTP second factor) and the three services
# whose release policies ship in policies/ (serve them with --policies
# policies). Usage: deploy/demo-city.sh CIVICID STORE
# Also a privacy officer, "privacy", for the console at /officer.
# Writes the services' client ids and secrets, hanako's and the officer's TOTP secrets, to
# var/civicid-demo.txt (mode 0600).
set -euo pipefail
bin=$1
store=$2
mkdir -p "$(dirname "$store")"
out=$(dirname "$store")/civicid-demo.txt
umask 077

citizen() { # username password claims...
	local user=$1 pw=$2
	shift 2
	local args=()
	for c in "$@"; do args+=(--claim "$c"); done
	printf '%s' "$pw" | "$bin" user add "$user" --store "$store" --password-stdin "${args[@]}" >/dev/null
}

citizen hanako hanako-demo-2026 'name=山田 花子' 'family_name=山田' 'given_name=花子' \
	'family_name#ja-Kana-JP=ヤマダ' 'given_name#ja-Kana-JP=ハナコ' 'family_name#en=Yamada' \
	'given_name#en=Hanako' email=hanako@example.jp email_verified=true birthdate=1988-04-12 \
	resident_district=Aoi household_size=3 locale=ja-JP
citizen taro taro-demo-2026 'name=鈴木 太郎' 'family_name=鈴木' 'given_name=太郎' \
	'family_name#ja-Kana-JP=スズキ' 'given_name#ja-Kana-JP=タロウ' email=taro@example.jp \
	email_verified=true birthdate=1975-11-03 resident_district=Kita household_size=1 locale=ja-JP
citizen yui yui-demo-2026 'name=佐藤 結衣' 'family_name=佐藤' 'given_name=結衣' \
	'family_name#ja-Kana-JP=サトウ' 'given_name#ja-Kana-JP=ユイ' email=yui@example.jp \
	resident_district=Minami household_size=4 locale=ja-JP
citizen emily emily-demo-2026 'name=Emily Clark' family_name=Clark given_name=Emily \
	email=emily@example.com email_verified=true resident_district=Aoi household_size=2 locale=en-GB
citizen kenji kenji-demo-2026 'name=高橋 健二' 'family_name=高橋' 'given_name=健二' \
	'family_name#ja-Kana-JP=タカハシ' 'given_name#ja-Kana-JP=ケンジ' 'family_name#en=Takahashi' \
	'given_name#en=Kenji' phone_number=+81-242-00-0000 resident_district=Kita household_size=5

# Each service's scopes let it ask for everything its policy (policies/) may
# release; what it actually receives is decided per attribute by the policy and
# the citizen's consent on the consent screen.
{
	echo "# civicid demo city: services (secrets are shown only here, once)"
	"$bin" client add --store "$store" --json --name "子育て支援 / Childcare support" \
		--client-id childcare --redirect-uri http://127.0.0.1:3000/callback \
		--post-logout-redirect-uri http://127.0.0.1:3000/ \
		--scope "openid profile email city offline_access"
	"$bin" client add --store "$store" --json --name "図書館 / City library" \
		--client-id library --public --redirect-uri http://localhost:3001/callback \
		--post-logout-redirect-uri http://localhost:3001/ --scope "openid profile email"
	"$bin" client add --store "$store" --json --name "防災・避難支援 / Disaster alerts" \
		--client-id disaster-alert --redirect-uri http://127.0.0.1:3002/callback \
		--post-logout-redirect-uri http://127.0.0.1:3002/ --scope "openid email phone city"
	echo "# hanako's TOTP second factor (childcare's birthdate needs it: level 2)"
	"$bin" user totp hanako --store "$store" --json
	echo "# the privacy officer of the console (/officer/login): password and TOTP secret"
	echo "officer: privacy / privacy-officer-demo-2026"
	printf '%s' privacy-officer-demo-2026 | "$bin" audit officer add privacy --store "$store" \
		--password-stdin --json
} >"$out"
echo "demo city created in $store; services in $out" >&2
