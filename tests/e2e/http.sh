#!/usr/bin/env bash
# End-to-end test of the HTTP skin's own answers (server/http), the ones no
# libauth endpoint gives: unknown paths (404) and methods (405), a body over
# CID_MAX_BODY (413), a header over CID_MAX_HEADER (431), an undecodable form
# (400), as JSON on API endpoints and as an error page on page endpoints; the
# stylesheet (GET and HEAD) with the headers every answer carries; and a login
# POST, which runs on a login worker while its connection is suspended.
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/http.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

# req METHOD PATH [curl args...]: sets code, ctype and the body in $BODY, headers in $HEADERS
req() {
	local method=$1 path=$2
	shift 2
	code=$(curl -sS -X "$method" -o "$BODY" -D "$HEADERS" --max-time 30 -w '%{http_code}' \
		"$@" "$ISSUER$path" 2>"$tmp/curl.err") || code="000 $(cat "$tmp/curl.err")"
	ctype=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^;\r]*\).*/\1/p' "$HEADERS" | tail -n 1)
}
header() { sed -n "s/^$1: *\\([^\\r]*\\).*/\\1/Ip" "$HEADERS" | tail -n 1; }

add_user hanako 'hanako-http-pass-1'
add_client --client-id web --name 'Web (e2e)' --redirect-uri http://127.0.0.1:9/cb \
	--scope 'openid profile'
civicid_start
ok "civicid serve listens on $ISSUER"

req GET /no-such-endpoint
eq "an unknown path is 404" "$code" 404
eq "as JSON" "$ctype" application/json
eq "error not_found" "$(json "d['error']" <"$BODY")" not_found

req DELETE /token
eq "a method a path does not take is 405" "$code" 405
eq "error invalid_request" "$(json "d['error']" <"$BODY")" invalid_request
has "says the method is not allowed" "$(body)" "method not allowed"

big=$(head -c $((64 * 1024 + 1)) /dev/zero | tr '\0' a)
req POST /token -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "grant_type=$big"
eq "a body over 64 KiB is 413" "$code" 413
has "413 says the request is too large" "$(body)" "too large"
eq "413 on an API endpoint is JSON" "$ctype" application/json

req POST /login -H 'Content-Type: application/x-www-form-urlencoded' -H 'Accept-Language: en' \
	--data-binary "req=$big"
eq "a body over 64 KiB on a page endpoint is 413" "$code" 413
eq "413 on a page endpoint is an HTML page" "$ctype" text/html
has "the page says the request is too large" "$(body)" "The request is too large."
# the error page is wholly in the page's language (here the default, ja)
req POST /login -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "req=$big"
has "the ja page says the request is too large in Japanese" "$(body)" "リクエストが大きすぎます。"
hasnt "the ja page carries no English sentence" "$(body)" "too large"
has "the page has a way back" "$(body)" '<a href="/account">'
has "the page has the header's language switch" "$(body)" 'hreflang="en"'

long=$(head -c $((8 * 1024 + 1)) /dev/zero | tr '\0' b)
req GET /userinfo -H "Authorization: Bearer $long"
eq "a header over 8 KiB is 431" "$code" 431
has "431 says a header is too large" "$(body)" "header is too large"

req POST /token -H 'Content-Type: application/x-www-form-urlencoded' --data-binary 'grant_type=%zz'
eq "an undecodable form is 400" "$code" 400
eq "400 error invalid_request" "$(json "d['error']" <"$BODY")" invalid_request

req POST /token -H 'Content-Type: application/x-www-form-urlencodedX' --data-binary 'grant_type=client_credentials'
eq "a media type that only starts like a form is not a form" "$code" 400
has "it is told to send a form" "$(body)" "application/x-www-form-urlencoded"
req POST /token -H 'Content-Type: Application/X-WWW-Form-Urlencoded ; charset=UTF-8' --data-binary 'grant_type=client_credentials'
eq "a form with parameters, any case, is a form (client authentication comes next)" "$code" 401

req GET /static/civicid.css
eq "the stylesheet is served" "$code" 200
eq "as text/css" "$ctype" text/css
check "with a body" test -s "$BODY"
eq "nosniff on the stylesheet" "$(header X-Content-Type-Options)" nosniff
eq "no framing" "$(header X-Frame-Options)" DENY
eq "no referrer" "$(header Referrer-Policy)" no-referrer
req HEAD /static/civicid.css -I
eq "HEAD of the stylesheet" "$code" 200
req POST /static/civicid.css -d x=1
eq "POST to the stylesheet is 405" "$code" 405

# a login POST goes to a login worker; a wrong password shows the form again
get "$ISSUER/authorize?response_type=code&client_id=web&redirect_uri=$(urlencode http://127.0.0.1:9/cb)&scope=openid"
eq "the login page" "$status" 200
req_field=$(form_field "$BODY" '/login$' req)
csrf=$(form_field "$BODY" '/login$' csrf)
check "the login form has req and csrf" test -n "$req_field" -a -n "$csrf"
post "$ISSUER/login" "req=$req_field" "csrf=$csrf" username=hanako password=wrong-password-1
eq "a wrong password answers 200 (from the login worker)" "$status" 200
check "with the login form again" test -n "$(form_field "$BODY" '/login$' req)"
req_field=$(form_field "$BODY" '/login$' req)
csrf=$(form_field "$BODY" '/login$' csrf)
post "$ISSUER/login" "req=$req_field" "csrf=$csrf" username=hanako password=hanako-http-pass-1
eq "the right password redirects to the client" "$(url_base "$location")" http://127.0.0.1:9/cb
check "with a code" test -n "$(qparam "$location" code)"

civicid_stop
finish
