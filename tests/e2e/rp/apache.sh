#!/usr/bin/env bash
# Interoperability: Apache httpd with mod_auth_openidc (a relying party nobody
# here wrote) logs a citizen in through civicid with the authorization code
# flow + PKCE, validates the ID token against /jwks, shows the claims to a CGI
# script, and logs out through civicid's end_session_endpoint.
#
# civicid runs from CIVICID_BIN on a fresh store; Apache runs in the foreground
# on another loopback port from a private ServerRoot in a temporary directory
# (as www-data when the test runs as root). The citizen's browser is curl with
# a cookie jar. TAP output; exits non-zero on any failure.
#
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/rp/apache.sh
#   APACHE2=/usr/sbin/apache2          the httpd binary
#   APACHE_MODULES=/usr/lib/apache2/modules
#   CIVICID_E2E_KEEP=1                 keep the temporary directory (logs)
# Needs apache2 and libapache2-mod-auth-openidc (deploy/install-deps.sh test);
# without them the test fails, it does not skip.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

# shellcheck source=apache_rp.sh
. "$here/apache_rp.sh"
apache_require

USER_NAME=hanako
PASSWORD='hanako-rp-Passw0rd!'
APORT=$(free_port)
RESERVED_PORT=$APORT # Apache binds it later: civicid must not take it
AORIGIN="http://127.0.0.1:$APORT"
REDIRECT_URI="$AORIGIN/protected/redirect_uri"
LOGGED_OUT="$AORIGIN/loggedout"

add_user "$USER_NAME" "$PASSWORD" 'name=山田 花子' 'family_name=Yamada' 'given_name=Hanako' \
	'email=hanako@example.jp' 'email_verified=true' 'resident_district=Aoi'
add_client --client-id apache-rp --name 'Apache mod_auth_openidc (e2e)' \
	--redirect-uri "$REDIRECT_URI" --post-logout-redirect-uri "$LOGGED_OUT" \
	--scope "openid profile email city"
[ -n "$CLIENT_SECRET" ] || bail "a confidential client gets a secret"
add_statute_policy apache-rp name family_name given_name email email_verified resident_district
ok "citizen, confidential client and its release policy registered"

civicid_start
ok "civicid serve listens on $ISSUER"

# ---------------------------------------------------------------------------
# Apache: a private ServerRoot in $tmp/apache (apache_rp.sh)
# ---------------------------------------------------------------------------
apache_rp_conf apache "$APORT" "$CLIENT_ID" "$CLIENT_SECRET" "openid profile email"
apache_rp_start apache "$APORT"

# ---------------------------------------------------------------------------
# 1. an unauthenticated visit is sent to civicid's authorization endpoint
# ---------------------------------------------------------------------------
get "$AORIGIN/protected/"
eq "GET /protected/ without a session redirects (302)" "$status" 302
[ "$status" = 302 ] || bail "mod_auth_openidc redirects to civicid" "$(last)
$(apache_log apache)"
auth_url=$location
eq "the redirect goes to civicid's authorization_endpoint" "$(url_base "$auth_url")" "$ISSUER/authorize"
eq "response_type=code" "$(qparam "$auth_url" response_type)" code
eq "client_id is Apache's" "$(qparam "$auth_url" client_id)" "$CLIENT_ID"
eq "redirect_uri is OIDCRedirectURI" "$(qparam "$auth_url" redirect_uri)" "$REDIRECT_URI"
eq "code_challenge_method=S256 (PKCE)" "$(qparam "$auth_url" code_challenge_method)" S256
check "a code_challenge is sent" test -n "$(qparam "$auth_url" code_challenge)"
state=$(qparam "$auth_url" state)
check "a state is sent" test -n "$state"
check "a nonce is sent" test -n "$(qparam "$auth_url" nonce)"
has "scope has openid" "$(qparam "$auth_url" scope)" openid

# ---------------------------------------------------------------------------
# 2. the login form: a wrong password stays on the form, the right one returns
#    to Apache's redirect_uri with code, state and iss
# ---------------------------------------------------------------------------
login_page() { # GET the authorization URL; sets req and csrf
	get "$auth_url"
	req=$(form_field "$BODY" '/login$' req)
	csrf=$(form_field "$BODY" '/login$' csrf)
}
login_page
eq "civicid shows its login page" "$status" 200
if [ -z "$req" ] || [ -z "$csrf" ]; then
	bail "the login page has the form (hidden req and csrf)" "$(last)"
fi
ok "the login page has the form (hidden req and csrf)"

post "$ISSUER/login" "req=$req" "csrf=$csrf" "username=$USER_NAME" "password=wrong-${PASSWORD}"
case "$status" in
3??) bad "a wrong password does not redirect" "$(last)" ;;
*) ok "a wrong password does not redirect (HTTP $status)" ;;
esac
check "a wrong password shows the login form again" test -n "$(form_field "$BODY" '/login$' req)"
hasnt "a wrong password does not reach Apache" "$location" "$AORIGIN"

login_page
post "$ISSUER/login" "req=$req" "csrf=$csrf" "username=$USER_NAME" "password=$PASSWORD"
case "$status" in
302 | 303) ok "the right password redirects ($status)" ;;
*) bad "the right password redirects (302 or 303)" "$(last)" ;;
esac
callback=$location
[ "$(url_base "$callback")" = "$REDIRECT_URI" ] || bail "the login returns to Apache's redirect_uri" "$(last)"
ok "the login returns to Apache's redirect_uri"
check "the callback carries a code" test -n "$(qparam "$callback" code)"
eq "the callback carries Apache's state" "$(qparam "$callback" state)" "$state"
eq "the callback carries iss (RFC 9207)" "$(qparam "$callback" iss)" "$ISSUER"

# ---------------------------------------------------------------------------
# 3. Apache redeems the code at /token, validates the ID token with /jwks,
#    calls /userinfo, and sends the browser back to /protected/
# ---------------------------------------------------------------------------
get "$callback"
if [ "$status" = 302 ] && [ "$location" = "$AORIGIN/protected/" ]; then
	ok "mod_auth_openidc accepts the code, the tokens and the ID token, back to /protected/"
else
	bail "mod_auth_openidc accepts the code, the tokens and the ID token, back to /protected/" \
		"$(last)
--- Apache error log:
$(apache_log apache)"
fi
if grep -q 'mod_auth_openidc_session' "$JAR"; then
	ok "Apache set its session cookie"
else
	bad "Apache set its session cookie" "$(cat "$JAR")"
fi

get "$AORIGIN/protected/"
eq "the protected page is served (200)" "$status" 200
page=$(body)
diag "$(grep -v access_token <<<"$page")"
remote_user=$(sed -n 's/^REMOTE_USER=//p' <<<"$page")
claim() { sed -n "s/^OIDC_CLAIM_$1=//p" <<<"$page"; }
eq "AUTH_TYPE is openid-connect" "$(sed -n 's/^AUTH_TYPE=//p' <<<"$page")" openid-connect
check "REMOTE_USER is set" test -n "$remote_user"
eq "REMOTE_USER is the ID token's sub" "$remote_user" "$(claim sub)"
check "the sub is pairwise, not the username" test "$remote_user" != "$USER_NAME"
eq "iss claim" "$(claim iss)" "$ISSUER"
eq "aud claim" "$(claim aud)" "$CLIENT_ID"
eq "given_name claim" "$(claim given_name)" Hanako
eq "family_name claim" "$(claim family_name)" Yamada
eq "name claim (UTF-8)" "$(claim name)" '山田 花子'
eq "email claim" "$(claim email)" hanako@example.jp
check "a nonce claim" test -n "$(claim nonce)"
hasnt "no city claim without the city scope" "$page" resident_district
access_token=$(sed -n 's/^OIDC_access_token=//p' <<<"$page")
check "Apache holds an access token" test -n "$access_token"
if [ -n "$access_token" ]; then
	ui=$(curl -sS --max-time 30 -H "Authorization: Bearer $access_token" "$ISSUER/userinfo")
	eq "Apache's access token works at /userinfo" "$(json "d.get('sub')" <<<"$ui" 2>/dev/null)" "$remote_user"
fi

# a second visit rides on Apache's session: no trip to civicid
get "$AORIGIN/protected/"
eq "the Apache session is kept (200 again)" "$status" 200

# replaying the callback (same code; a fresh browser without the state cookie)
# must not log anybody in
replay=$(curl -sS -o /dev/null -c "$tmp/replay.jar" -w '%{http_code} %{redirect_url}' --max-time 30 "$callback")
if [ "$replay" = "302 $AORIGIN/protected/" ] || grep -q mod_auth_openidc_session "$tmp/replay.jar"; then
	bad "a replayed callback opens no session" "$replay"
else
	ok "a replayed callback opens no session (HTTP ${replay%% *})"
fi

# ---------------------------------------------------------------------------
# 4. logout: mod_auth_openidc -> civicid end_session_endpoint -> back
# ---------------------------------------------------------------------------
get "$REDIRECT_URI?logout=$(urlencode "$LOGGED_OUT")"
eq "mod_auth_openidc's logout redirects (302)" "$status" 302
end_session=$location
eq "to civicid's end_session_endpoint" "$(url_base "$end_session")" "$ISSUER/logout"
check "with an id_token_hint" test -n "$(qparam "$end_session" id_token_hint)"
eq "with the post_logout_redirect_uri" "$(qparam "$end_session" post_logout_redirect_uri)" "$LOGGED_OUT"

get "$end_session"
if [ "$status" = 200 ]; then
	# civicid may ask the citizen to confirm: submit its form
	lcsrf=$(form_field "$BODY" '/logout$' csrf)
	if [ -n "$lcsrf" ]; then
		diag "civicid asked to confirm the logout"
		fields=$(python3 - "$BODY" <<'EOF'
import html, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<form\b[^>]*action="[^"]*/logout"[^>]*>(.*?)</form>', page, re.S)
for tag in re.findall(r"<input\b[^>]*>", m.group(1) if m else ""):
    n = re.search(r'name="([^"]*)"', tag)
    v = re.search(r'value="([^"]*)"', tag)
    if n:
        print(f"{n.group(1)}={html.unescape(v.group(1)) if v else ''}")
for tag in re.findall(r"<button\b[^>]*>", m.group(1) if m else ""):
    n = re.search(r'name="([^"]*)"', tag)
    v = re.search(r'value="([^"]*)"', tag)
    if n:
        print(f"{n.group(1)}={html.unescape(v.group(1)) if v else ''}")
        break
EOF
)
		mapfile -t fa <<<"$fields"
		post "$ISSUER/logout" "${fa[@]}"
	fi
fi
case "$status" in
302 | 303) ok "civicid ends the session and redirects ($status)" ;;
*) bad "civicid ends the session and redirects" "$(last)" ;;
esac
eq "back to the post_logout_redirect_uri" "$(url_base "$location")" "$LOGGED_OUT"
back=$location
get "$back"
eq "Apache's logged-out page" "$status" 200
has "it says so" "$(body)" "logged out"
if grep -q 'civicid_session' "$JAR"; then
	bad "civicid's session cookie is cleared" "$(cat "$JAR")"
else
	ok "civicid's session cookie is cleared"
fi

get "$AORIGIN/protected/"
eq "after logout /protected/ needs a login again (302)" "$status" 302
eq "to civicid" "$(url_base "$location")" "$ISSUER/authorize"
auth_url=$location
login_page
eq "civicid asks for the password again (SSO session over)" "$status" 200
check "the login form again" test -n "$req"

apache_stop
if [ "$fails" -gt 0 ]; then
	diag "Apache's error log (the replayed callback's errors are expected):
$(apache_log apache)"
fi
civicid_stop
finish
