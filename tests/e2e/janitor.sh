#!/usr/bin/env bash
# End-to-end test of the janitor: after a real login (a code redeemed for
# tokens, an SSO session), nothing is swept while it is usable; a day later
# the running server's own sweep has deleted the spent code and the ended
# session while the refresh token (offline_access: it outlives the session)
# still works; a month later
# `civicid audit sweep` deletes the expired refresh tokens and their grant,
# and a second run finds nothing. Time is moved forward with faketime.
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/janitor.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"
command -v faketime >/dev/null || bail "faketime is required (deploy/install-deps.sh test)"

# swept [DAYS]: the counts of `civicid audit sweep --json`, DAYS days from now
swept() {
	later "${1:-0}" "$bin" audit sweep --store "$store" --json 2>&1 |
		json "' '.join('%s=%d' % (k, d[k]) for k in ('codes', 'refresh', 'sessions', 'grants'))"
}
refresh() { # refresh TOKEN: the token endpoint's answer to a refresh
	curl -sS --max-time 30 -u "$RP_ID:$RP_SECRET" -d grant_type=refresh_token \
		--data-urlencode "refresh_token=$1" "$ISSUER/token"
}

add_statute_policy rp-sweep given_name
add_user hanako 'hanako-e2e-Passw0rd!' 'given_name=Hanako'
add_client --client-id rp-sweep --name 'Janitor e2e' --redirect-uri http://127.0.0.1:9/cb \
	--scope "openid profile offline_access"
RP_ID=$CLIENT_ID
RP_SECRET=$CLIENT_SECRET
civicid_start
ok "civicid serve listens on $ISSUER"
code_login_token "$RP_ID" "$RP_SECRET" hanako 'hanako-e2e-Passw0rd!' 'openid profile offline_access'
check "the login gave a refresh token" test -n "$RT"
civicid_stop

eq "nothing is swept while it is usable" "$(swept)" "codes=0 refresh=0 sessions=0 grants=0"

# a day later: the server's own sweep runs at start (then every ten minutes)
civicid_start_later 1
sleep 6 # the first tick (5 s) runs the sweep
resp=$(refresh "$RT")
RT2=$(json "d.get('refresh_token', '')" <<<"$resp" 2>/dev/null)
check "after it, the refresh token still works" test -n "$RT2"
civicid_stop
eq "the server has swept the spent code and the ended session" "$(swept 1)" \
	"codes=0 refresh=0 sessions=0 grants=0"
out=$(later 1 "$bin" audit sweep --store "$store" 2>&1)
has "the text form names every database" "$out" "officer_sessions  0 deleted"

eq "a month later: both refresh tokens and the grant go" "$(swept 33)" \
	"codes=0 refresh=2 sessions=0 grants=1"
eq "sweeping again finds nothing" "$(swept 33)" "codes=0 refresh=0 sessions=0 grants=0"
out=$(cli audit sweep extra --store "$store" 2>&1)
eq "sweep takes no argument: usage" "$?" 2
finish
