#!/usr/bin/env bash
# End-to-end test of login throttling behind the documented reverse proxy
# (issue 9, item 1): a real nginx in front of `civicid serve`, configured
# with the proxy settings of deploy/nginx.conf.example (plain http on a
# loopback port instead of TLS), civicid with trusted_proxies = 127.0.0.1
# as deploy/civicid.conf.example says. An attacker at 127.0.0.2 floods the
# citizen and officer logins with wrong passwords, for a real and made-up
# names, forging X-Forwarded-For and Forwarded to pass for the victims'
# address; it must be slowed (the throttled answer), while a citizen and
# the privacy officer at 127.0.0.3 log in at once, through the same proxy.
# A missing nginx fails the test (deploy/install-deps.sh test installs it).
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/proxy.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
	echo "Bail out! nginx is required (Debian package nginx: deploy/install-deps.sh test)"
	exit 1
fi
ATTACKER=127.0.0.2
VICTIM=127.0.0.3
# the loopback addresses the clients send from (Linux routes all of 127/8 to lo)
for a in $ATTACKER $VICTIM; do
	curl -sS -o /dev/null --max-time 5 --interface "$a" "http://127.0.0.1:$(free_port)/" 2>"$tmp/curl.err"
	if grep -qi "bind\|interface" "$tmp/curl.err"; then
		echo "Bail out! cannot send from $a: $(cat "$tmp/curl.err")"
		exit 1
	fi
done

# ---------------------------------------------------------------------------
# civicid behind nginx
# ---------------------------------------------------------------------------
add_user hanako 'hanako-proxy-pass-1'
add_user taro 'taro-proxy-pass-12'
add_client --client-id web --name 'Web (e2e)' --redirect-uri http://127.0.0.1:9/cb \
	--scope 'openid profile'
printf '%s' 'privacy-proxy-pass-1' | "$bin" audit officer add privacy --store "$store" \
	--password-stdin --json >"$tmp/officer.json" 2>"$tmp/cli.err" ||
	bail "civicid audit officer add" "$(cat "$tmp/cli.err")"
OFFICER_SECRET=$(json "d['secret']" <"$tmp/officer.json")

NPORT=$(free_port)
RESERVED_PORT=$NPORT
NGX="http://127.0.0.1:$NPORT"
CIVICID_CONFIG=$tmp/civicid.conf
printf 'trusted_proxies = 127.0.0.1\n' >"$CIVICID_CONFIG"
CIVICID_PUBLIC_ISSUER=$NGX
civicid_start
ok "civicid serve listens on 127.0.0.1:$CPORT, issuer $ISSUER"

# the location block of the example, pointed at this civicid
ndir=$tmp/nginx
mkdir -p "$ndir"
location=$(sed -n '/^ *location \/ {/,/^ *}/p' "$root/deploy/nginx.conf.example")
has "deploy/nginx.conf.example appends the client to X-Forwarded-For" "$location" \
	'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'
location=${location//proxy_pass http:\/\/127.0.0.1:8080;/proxy_pass http://127.0.0.1:$CPORT;}
has "the test's nginx passes to this civicid" "$location" "proxy_pass http://127.0.0.1:$CPORT;"
cat >"$ndir/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
pid $ndir/nginx.pid;
error_log $ndir/error.log info;
events { worker_connections 64; }
http {
    access_log $ndir/access.log;
    client_body_temp_path $ndir/body;
    proxy_temp_path $ndir/proxy;
    fastcgi_temp_path $ndir/fastcgi;
    uwsgi_temp_path $ndir/uwsgi;
    scgi_temp_path $ndir/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        client_max_body_size 64k;
$location
    }
}
EOF
"$NGINX" -p "$ndir" -c "$ndir/nginx.conf" -e "$ndir/error.log" -g 'daemon off;' \
	>"$ndir/stdout" 2>&1 &
NGINX_PID=$!
nginx_stop() {
	[ -n "${NGINX_PID:-}" ] || return 0
	kill -TERM "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=
}
CLEANUP_HOOKS+=(nginx_stop)
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "$NGX/.well-known/openid-configuration" && break
	kill -0 "$NGINX_PID" 2>/dev/null ||
		bail "nginx exited" "$(cat "$ndir/stdout" "$ndir/error.log" 2>/dev/null)"
	sleep 0.1
done
code=$(curl -s -o "$BODY" -w '%{http_code}' "$NGX/.well-known/openid-configuration")
eq "nginx passes requests to civicid" "$code" 200
has "the issuer is the proxy's URL" "$(body)" "\"issuer\":\"$NGX\""

# ---------------------------------------------------------------------------
# browsers
# ---------------------------------------------------------------------------
AUTHZ="$NGX/authorize?response_type=code&client_id=web&redirect_uri=$(urlencode http://127.0.0.1:9/cb)&scope=openid&state=s1&ui_locales=en"
FAILED="The username or password is not correct."
THROTTLED="Too many failed attempts"

# post_with URL CURL-ARG... -- FIELD=VALUE...: a form POST with extra curl arguments
post_with() {
	local url=$1 kv
	shift
	local args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	for kv in "$@"; do args+=(--data-urlencode "$kv"); done
	browse POST "$url" "${args[@]}"
}

# login FROM USER PASSWORD [curl args...]: one citizen login through nginx
# from address FROM, in a browser of its own; sets status, location, $BODY.
login() {
	local from=$1 user=$2 pw=$3
	shift 3
	JAR=$tmp/jar.$from.$user
	get "$AUTHZ" --interface "$from"
	[ "$status" = 200 ] || bail "the login page through nginx from $from" "$(last)"
	local req csrf
	req=$(form_field "$BODY" '/login$' req)
	csrf=$(form_field "$BODY" '/login$' csrf)
	post_with "$NGX/login" --interface "$from" "$@" -- "req=$req" "csrf=$csrf" \
		"username=$user" "password=$pw"
}
# outcome: ok (a code for the service), failed, throttled, or what else came
outcome() {
	if [ "$status" = 303 ] && [ -n "$(qparam "$location" code)" ]; then
		echo ok
	elif grep -qF "$THROTTLED" "$BODY"; then
		echo throttled
	elif grep -qF "$FAILED" "$BODY"; then
		echo failed
	else
		echo "HTTP $status $location"
	fi
}

totp_now() {
	python3 - "$1" <<'EOF'
import base64, hashlib, hmac, struct, sys, time
key = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000))
EOF
}
# officer_login FROM PASSWORD CODE [curl args...]: the console's login through nginx
officer_login() {
	local from=$1 pw=$2 code=$3
	shift 3
	JAR=$tmp/ojar.$from
	get "$NGX/officer/login" --interface "$from"
	[ "$status" = 200 ] || bail "the officer login page through nginx from $from" "$(last)"
	post_with "$NGX/officer/login" --interface "$from" "$@" -- \
		"csrf=$(form_field "$BODY" '/officer/login$' csrf)" name=privacy "password=$pw" \
		"code=$code"
}

# ---------------------------------------------------------------------------
# the flood
# ---------------------------------------------------------------------------
# forged headers, each naming the victims' address, the proxy, or nonsense
forged=(
	"-HX-Forwarded-For: $VICTIM"
	"-HX-Forwarded-For: 127.0.0.1"
	"-HX-Forwarded-For: $VICTIM, 127.0.0.1"
	"-HForwarded: for=$VICTIM"
	"-HX-Forwarded-For: garbage, $VICTIM"
	"-HX-Real-IP: $VICTIM"
)
# As fast as it is answered, until nine wrong passwords were checked: after
# the five free ones each waits 1, 2, 4, 8 s (from the last failure, counted
# in whole seconds), so that takes at least 15 s less rounding.
failed=0
throttled=0
first_five=
start=$SECONDS
for ((k = 0; failed < 9 && SECONDS - start < 120; k++)); do
	login $ATTACKER hanako "wrong-password-$k" "${forged[k % ${#forged[@]}]}"
	r=$(outcome)
	case $r in
	failed) failed=$((failed + 1)) ;;
	throttled) throttled=$((throttled + 1)) ;;
	*) bail "a flood attempt is answered as failed or throttled" "$r $(last)" ;;
	esac
	[ "$k" -lt 5 ] && first_five+="$r "
done
eq "the first five wrong passwords are merely wrong" "$first_five" \
	"failed failed failed failed failed "
eq "nine wrong passwords were checked in the end" "$failed" 9
check "the attacker got the throttled answer in between ($throttled times)" \
	test "$throttled" -gt 0
check "nine checks took the attacker at least 10 s ($((SECONDS - start)) s)" \
	test $((SECONDS - start)) -ge 10
# the wait is now 16 s: even the right password waits there, nothing is verified
login $ATTACKER hanako 'hanako-proxy-pass-1' "-HX-Forwarded-For: $VICTIM"
eq "the attacker is slowed even with the right password" "$(outcome)" throttled
# civicid itself, reached without the proxy, believes no forwarding header
JAR=$tmp/jar.direct
get "http://127.0.0.1:$CPORT/authorize?response_type=code&client_id=web&redirect_uri=$(urlencode http://127.0.0.1:9/cb)&scope=openid&ui_locales=en" \
	--interface $ATTACKER
post_with "http://127.0.0.1:$CPORT/login" --interface $ATTACKER "-HX-Forwarded-For: $VICTIM" -- \
	"req=$(form_field "$BODY" '/login$' req)" "csrf=$(form_field "$BODY" '/login$' csrf)" \
	username=hanako password=wrong-again
eq "an X-Forwarded-For from an untrusted peer is not believed" "$(outcome)" throttled

# the citizens the flood named log in at once from their own address, while
# the attacker's 16 s wait still runs (checked before the officer's flood, so
# that a slow machine cannot outlast it)
login $VICTIM hanako 'hanako-proxy-pass-1'
eq "the attacked citizen logs in at once from her own address" "$(outcome)" ok
login $VICTIM taro 'taro-proxy-pass-12'
eq "another citizen logs in from there" "$(outcome)" ok
# the forged headers were taken apart by the rule, not by luck: through the
# proxy, the attacker's own address is still throttled
login $ATTACKER hanako 'hanako-proxy-pass-1'
eq "the attacker's address is still slowed" "$(outcome)" throttled

# and the console login of the officer, until eight wrong passwords were
# checked: the next waits 8 s, longer than the logins below take
results=
start=$SECONDS
for ((k = 0; SECONDS - start < 120; k++)); do
	officer_login $ATTACKER "wrong-password-$k" 000000 "${forged[k % ${#forged[@]}]}"
	results+="$status "
	[ "$(grep -o 401 <<<"$results" | wc -l)" -ge 8 ] && break
done
has "wrong officer passwords are refused five times" "$results" "401 401 401 401 401 "
has "then the attacker is throttled (429)" "$results" 429
eq "eight wrong officer passwords were checked in the end" \
	"$(grep -o 401 <<<"$results" | wc -l)" 8

# ---------------------------------------------------------------------------
# everyone else
# ---------------------------------------------------------------------------
officer_login $VICTIM 'privacy-proxy-pass-1' "$(totp_now "$OFFICER_SECRET")"
eq "the privacy officer logs in to the console" "$status $location" "303 $NGX/officer"
get "$NGX/officer" --interface $VICTIM
eq "and sees the log" "$status" 200

# a name that does not exist is slowed alike (no enumeration through the lockout)
results=
for ((k = 0; k < 10; k++)); do
	login $ATTACKER nobody "wrong-password-$k" "${forged[0]}"
	results+="$(outcome) "
	[ "$k" -ge 5 ] && [[ $results == *throttled* ]] && break
done
has "an unknown name fails five times like a known one" "$results" \
	"failed failed failed failed failed "
has "then it is throttled like a known one" "$results" throttled

expect_cli() { "$bin" "$@" >"$tmp/cli.out" 2>"$tmp/cli.err"; }
expect_cli audit officer unlock privacy --store "$store"
eq "audit officer unlock of an officer" "$?" 0
expect_cli audit officer unlock nobody --store "$store"
eq "audit officer unlock of nobody" "$?" 1
has "says no such officer" "$(cat "$tmp/cli.err")" "no such officer"

nginx_stop
civicid_stop
finish
