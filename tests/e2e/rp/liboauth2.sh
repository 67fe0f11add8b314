#!/usr/bin/env bash
# Interoperability: liboauth2 (a library nobody here wrote; the one behind
# mod_oauth2 and ngx_oauth2_module) verifies civicid's access tokens the way a
# resource server does, against the keys at civicid's jwks_uri. It must accept
# genuine tokens (client_credentials and authorization code + PKCE) and reject
# tampered and forged ones.
#
# Usage: CIVICID_BIN=build/asan/server/civicid \
#        LIBOAUTH2_VERIFY=build/asan/tests/e2e/rp/liboauth2_verify tests/e2e/rp/liboauth2.sh
#   CIVICID_E2E_KEEP=1  keep the temporary directory
# The verifier is built from liboauth2_verify.c by CMake (liboauth2-dev).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

verifier=${LIBOAUTH2_VERIFY:-}
if [ -z "$verifier" ] || [ ! -x "$verifier" ]; then
	bail "the liboauth2 verifier is built (LIBOAUTH2_VERIFY=${verifier:-unset})" \
		"build liboauth2_verify (tests/e2e/rp/CMakeLists.txt; needs liboauth2-dev) and set LIBOAUTH2_VERIFY"
fi
ok "the liboauth2 verifier is built"

USER_NAME=hanako
PASSWORD='hanako-rp-Passw0rd!'
RP_REDIRECT=http://127.0.0.1:9/cb

add_user "$USER_NAME" "$PASSWORD" 'given_name=Hanako' 'family_name=Yamada' 'resident_district=Aoi'
add_client --client-id machine --name 'Bus timetable sync (e2e)' \
	--grant-types client_credentials --scope city
M_ID=$CLIENT_ID
M_SECRET=$CLIENT_SECRET
add_client --client-id rp-code --name 'Childcare support (e2e)' \
	--redirect-uri "$RP_REDIRECT" --scope "openid profile city"
RP_ID=$CLIENT_ID
RP_SECRET=$CLIENT_SECRET
ok "citizen and clients registered"

civicid_start
ok "civicid serve listens on $ISSUER"
JWKS=$(curl -sS --max-time 30 "$ISSUER/.well-known/openid-configuration" | json "d['jwks_uri']")
eq "jwks_uri from discovery" "$JWKS" "$ISSUER/jwks"

# verify TOKEN [ISSUER]: runs the verifier; sets vrc, vout, verr
verify() {
	"$verifier" "$JWKS" "${2:-$ISSUER}" "$1" >"$tmp/v.out" 2>"$tmp/v.err"
	vrc=$?
	vout=$(cat "$tmp/v.out")
	verr=$(cat "$tmp/v.err")
}
accepts() { # accepts DESCRIPTION TOKEN [ISSUER]
	verify "$2" "${3:-}"
	if [ "$vrc" -eq 0 ]; then ok "$1"; else bad "$1 (exit $vrc)" "$verr$vout"; fi
}
rejects() { # rejects DESCRIPTION TOKEN [ISSUER]: exit 1 exactly (not a crash, not usage)
	verify "$2" "${3:-}"
	if [ "$vrc" -eq 1 ]; then
		ok "$1"
	else
		bad "$1 (exit $vrc, wanted 1)" "$verr$vout"
	fi
	if grep -qE "$SANITIZER_RE" <<<"$verr"; then bad "no sanitizer report from the verifier" "$verr"; fi
}
field() { sed -n "s/^$1=//p" <<<"$vout"; }
# tamper TOKEN PART(0 header, 1 payload, 2 signature): one base64url character changed
tamper() {
	python3 - "$1" "$2" <<'EOF'
import sys
parts = sys.argv[1].split(".")
p = parts[int(sys.argv[2])]
i = len(p) // 2
parts[int(sys.argv[2])] = p[:i] + ("A" if p[i] != "A" else "B") + p[i + 1:]
print(".".join(parts))
EOF
}
# alg_none TOKEN: the same payload, "alg":"none" and no signature
alg_none() {
	python3 - "$1" <<'EOF'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
pad = lambda x: x + "=" * (-len(x) % 4)
hdr = json.loads(base64.urlsafe_b64decode(pad(h)))
hdr["alg"] = "none"
enc = base64.urlsafe_b64encode(json.dumps(hdr, separators=(",", ":")).encode()).rstrip(b"=").decode()
print(f"{enc}.{p}.")
EOF
}
jwt_part() { # jwt_part TOKEN INDEX: the decoded JSON of the header (0) or payload (1)
	python3 - "$1" "$2" <<'EOF'
import base64, sys
x = sys.argv[1].split(".")[int(sys.argv[2])]
print(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)).decode())
EOF
}

# ---------------------------------------------------------------------------
# client_credentials
# ---------------------------------------------------------------------------
resp=$(curl -sS --max-time 30 -u "$M_ID:$M_SECRET" -d grant_type=client_credentials -d scope=city \
	"$ISSUER/token")
at=$(json "d.get('access_token', '')" <<<"$resp" 2>/dev/null)
[ -n "$at" ] || bail "client_credentials gives an access token" "$resp"
ok "client_credentials gives an access token"
diag "access token header: $(jwt_part "$at" 0)"

accepts "liboauth2 accepts the genuine client_credentials token" "$at"
eq "verified sub is the client" "$(field sub)" "$M_ID"
eq "verified client_id" "$(field client_id)" "$M_ID"
has "verified payload has the scope" "$(field payload)" '"scope":"city"'
rejects "liboauth2 rejects the token with its payload tampered" "$(tamper "$at" 1)"
rejects "liboauth2 rejects the token with its signature tampered" "$(tamper "$at" 2)"
rejects "liboauth2 rejects the token with its header tampered" "$(tamper "$at" 0)"
rejects "liboauth2 rejects an alg=none forgery of the token" "$(alg_none "$at")"
rejects "the verifier rejects the token for another issuer" "$at" "http://127.0.0.1:9"
rejects "liboauth2 rejects garbage" "not.a.jwt"

# ---------------------------------------------------------------------------
# authorization code + PKCE, through the real login form
# ---------------------------------------------------------------------------
read -r code_verifier code_challenge < <(python3 - <<'EOF'
import base64, hashlib, secrets
v = secrets.token_urlsafe(48)
c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
print(v, c)
EOF
)
state=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
nonce=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
auth_url="$ISSUER/authorize?response_type=code&client_id=$RP_ID&redirect_uri=$(urlencode "$RP_REDIRECT")"
auth_url+="&scope=openid%20profile%20city&state=$state&nonce=$nonce"
auth_url+="&code_challenge=$code_challenge&code_challenge_method=S256"
get "$auth_url"
req=$(form_field "$BODY" '/login$' req)
csrf=$(form_field "$BODY" '/login$' csrf)
if [ "$status" != 200 ] || [ -z "$req" ] || [ -z "$csrf" ]; then
	bail "the login form" "$(last)"
fi
post "$ISSUER/login" "req=$req" "csrf=$csrf" "username=$USER_NAME" "password=$PASSWORD"
code=$(qparam "$location" code)
if [ "$(url_base "$location")" != "$RP_REDIRECT" ] || [ -z "$code" ]; then
	bail "the login returns a code to the redirect_uri" "$(last)"
fi
eq "the state comes back" "$(qparam "$location" state)" "$state"
resp=$(curl -sS --max-time 30 -u "$RP_ID:$RP_SECRET" -d grant_type=authorization_code \
	--data-urlencode "code=$code" --data-urlencode "redirect_uri=$RP_REDIRECT" \
	--data-urlencode "code_verifier=$code_verifier" "$ISSUER/token")
at2=$(json "d.get('access_token', '')" <<<"$resp" 2>/dev/null)
[ -n "$at2" ] || bail "the code is redeemed for an access token" "$resp"
ok "the code is redeemed for an access token"
id_sub=$(jwt_part "$(json "d['id_token']" <<<"$resp")" 1 | json "d['sub']")

accepts "liboauth2 accepts the genuine code-flow access token" "$at2"
eq "verified sub is the citizen's (pairwise) sub, as in the ID token" "$(field sub)" "$id_sub"
eq "verified client_id is the relying party" "$(field client_id)" "$RP_ID"
rejects "liboauth2 rejects the code-flow token with its payload tampered" "$(tamper "$at2" 1)"
# the payload of one token under the signature of another
splice=$(python3 - "$at" "$at2" <<'EOF'
import sys
a, b = sys.argv[1].split("."), sys.argv[2].split(".")
print(f"{a[0]}.{b[1]}.{a[2]}")
EOF
)
rejects "liboauth2 rejects one token's payload under another's signature" "$splice"
# the genuine token still verifies after all this (no poisoned cache)
accepts "liboauth2 still accepts the genuine token" "$at"

civicid_stop
finish
