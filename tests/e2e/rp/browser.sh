#!/usr/bin/env bash
# The citizen's browser test (issue 11, "How it is shown"): headless Chromium
# (Debian's, driven by playwright-core) against civicid and two services,
# each Apache + mod_auth_openidc configured only from discovery and
# registered with a back-channel logout URI (mod_auth_openidc's own,
# <redirect_uri>?logout=backchannel). The walk itself, and the axe-core check
# of every civicid page at 1280 and 320 px in ja and en, is browser.test.js;
# this script starts the servers it walks through (with common.sh and
# apache_rp.sh) and runs it with run.sh. TAP output; exits non-zero on any
# failure.
#
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/rp/browser.sh
#   CIVICID_SCREENSHOTS=docs/screenshots   save the ja screenshots there
#   CIVICID_CHROMIUM=/usr/bin/chromium     the browser
#   CIVICID_E2E_KEEP=1                     keep the temporary directory (logs)
# Needs node, npm, chromium, apache2 and libapache2-mod-auth-openidc
# (deploy/install-deps.sh test); without them the test fails, it never skips.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
# shellcheck source=apache_rp.sh
. "$here/apache_rp.sh"

apache_require
CHROMIUM=${CIVICID_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || bail "Chromium is installed ($CHROMIUM)" \
	"install chromium: deploy/install-deps.sh test"
command -v node >/dev/null || bail "node is installed" "install nodejs: deploy/install-deps.sh test"
ok "Chromium and node are installed"
shots=
if [ -n "${CIVICID_SCREENSHOTS:-}" ]; then
	mkdir -p "$CIVICID_SCREENSHOTS" || bail "CIVICID_SCREENSHOTS=$CIVICID_SCREENSHOTS is a directory"
	shots=$(cd "$CIVICID_SCREENSHOTS" && pwd)
	# the screenshots are of Japanese pages: without a Japanese font they show boxes
	[ -n "$(fc-list :lang=ja 2>/dev/null)" ] || bail "a Japanese font is installed (fc-list :lang=ja)" \
		"install fonts-noto-cjk: deploy/install-deps.sh test"
fi

PORT_A=$(free_port)
PORT_B=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
RESERVED_PORT="$PORT_A $PORT_B" # the Apaches bind them later
RP_A=http://127.0.0.1:$PORT_A
RP_B=http://127.0.0.1:$PORT_B

# two citizens: one walks the services in Japanese, the other in English
add_user hanako 'hanako-browser-Passw0rd!' 'name=山田 花子' 'family_name=山田' \
	'given_name=花子' 'email=hanako@example.jp' 'email_verified=true' 'phone_number=+81-3-0000-0001'
add_user john 'john-browser-Passw0rd!' 'name=John Smith' 'family_name=Smith' \
	'given_name=John' 'email=john@example.com' 'email_verified=true' 'phone_number=+81-3-0000-0002'

# A asks consent for email and phone and has the name by law; B asks consent for email
cat >"$policies/svc-a.policy" <<'EOF'
service svc-a
name.ja 図書館（ブラウザ試験）
name.en Library (browser e2e)
purpose notices
	text.ja 貸出の連絡のため
	text.en To tell you about your loans
	basis consent
	retention 1y
	consent_valid 1y
	permit email
	permit phone_number
purpose register
	text.ja 法令に基づく利用者名簿のため
	text.en For the register of users the law requires
	basis statute e2e Library Act, art. 1
	retention 1y
	permit family_name
	permit given_name
EOF
cat >"$policies/svc-b.policy" <<'EOF'
service svc-b
name.ja 子育て支援（ブラウザ試験）
name.en Childcare support (browser e2e)
purpose news
	text.ja お知らせを送るため
	text.en To send you news
	basis consent
	retention 6m
	consent_valid 6m
	permit email
EOF
"$bin" policy check "$policies" >"$tmp/cli.out" 2>&1 ||
	bail "the services' policies check" "$(cat "$tmp/cli.out")"

SCOPE="openid profile email phone offline_access"
declare -A SECRET
for s in a b; do
	origin=$RP_A
	[ "$s" = b ] && origin=$RP_B
	add_client --client-id "svc-$s" --name "Service $s (browser e2e)" \
		--redirect-uri "$origin/protected/redirect_uri" \
		--post-logout-redirect-uri "$origin/loggedout" --scope "$SCOPE" \
		--backchannel-logout-uri "$origin/protected/redirect_uri?logout=backchannel" \
		--backchannel-logout-session-required
	SECRET[$s]=$CLIENT_SECRET
done
ok "two citizens, two services with back-channel logout URIs and their policies"

CIVICID_CONFIG=$tmp/civicid.conf
cat >"$CIVICID_CONFIG" <<'EOF'
city_name_ja = テスト市
city_name_en = Test City
controller_name = Test City Privacy Office
controller_contact = Privacy Office, Test City Hall
controller_address = 1-1 Test-cho, Test City
controller_email = privacy@test-city.example
policy_url = https://test-city.example/privacy
backchannel_logout_attempts = 2
backchannel_logout_backoff = 1
backchannel_logout_timeout = 2
backchannel_logout_connect_timeout = 2
EOF
civicid_start
ok "civicid serve listens on $ISSUER"

# both services live on 127.0.0.1, where cookies ignore the port: each names its own
for s in a b; do
	port=$PORT_A
	[ "$s" = b ] && port=$PORT_B
	apache_rp_conf "rp-$s" "$port" "svc-$s" "${SECRET[$s]}" "$SCOPE" "OIDCCookie svc_${s}_session"
	apache_rp_start "rp-$s" "$port"
done

CIVICID_ISSUER=$ISSUER RP_A=$RP_A RP_B=$RP_B CIVICID_CHROMIUM=$CHROMIUM \
	CIVICID_SCREENSHOTS=$shots bash "$here/../run.sh" rp/browser.test.js
rc=$?
eq "the browser walk passes (browser.test.js)" "$rc" 0
if [ "$rc" -ne 0 ]; then
	diag "Apache A's error log:
$(apache_log rp-a)
Apache B's error log:
$(apache_log rp-b)
civicid's stderr:
$(tail -n 30 "$tmp/civicid.err")"
fi

apache_stop
civicid_stop
finish
