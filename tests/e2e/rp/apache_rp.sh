# shellcheck shell=bash
# Apache httpd + mod_auth_openidc as a relying party of civicid, for the tests
# that need one or more (apache.sh, browser.sh). Source it after common.sh;
# do not run it.
#
# Each service is its own Apache process on its own loopback port, from a
# private ServerRoot in $tmp/NAME (as www-data when the test runs as root),
# configured only from civicid's discovery document, with a CGI page at
# /protected/ that prints what mod_auth_openidc tells the application
# (AUTH_TYPE, REMOTE_USER, OIDC_CLAIM_*, OIDC_access_token) and a plain
# /loggedout page. Every Apache started here is stopped by common.sh's cleanup.
#
#   APACHE2=/usr/sbin/apache2          the httpd binary
#   APACHE_MODULES=/usr/lib/apache2/modules

APACHE2=${APACHE2:-$(command -v apache2 || command -v httpd || echo /usr/sbin/apache2)}
MODDIR=${APACHE_MODULES:-/usr/lib/apache2/modules}
APACHE_RP_MODULES=(mpm_event authz_core authn_core authz_user alias cgid auth_openidc)
APACHE_PIDS=()

# apache_require: fails the test (never skips) when apache2 or a module is missing
apache_require() {
	local m
	if [ ! -x "$APACHE2" ]; then
		bail "Apache httpd is installed ($APACHE2)" \
			"install apache2 and libapache2-mod-auth-openidc: deploy/install-deps.sh test"
	fi
	for m in "${APACHE_RP_MODULES[@]}"; do
		[ -f "$MODDIR/mod_$m.so" ] || bail "Apache module mod_$m is installed in $MODDIR" \
			"install apache2 and libapache2-mod-auth-openidc: deploy/install-deps.sh test"
	done
	ok "Apache httpd and mod_auth_openidc are installed"
	diag "$("$APACHE2" -v 2>&1 | head -n 1); mod_auth_openidc $(dpkg-query -W -f='${Version}' \
		libapache2-mod-auth-openidc 2>/dev/null || echo '(version unknown)')"
}

# apache_rp_conf NAME PORT CLIENT_ID CLIENT_SECRET SCOPE [EXTRA]: writes the
# ServerRoot $tmp/NAME of a service at http://127.0.0.1:PORT whose
# OIDCRedirectURI is /protected/redirect_uri; EXTRA is appended to httpd.conf
# (more OIDC* directives). Prints nothing; the config is $tmp/NAME/httpd.conf.
apache_rp_conf() {
	local name=$1 port=$2 client_id=$3 secret=$4 scope=$5 extra=${6:-}
	local adir=$tmp/$name run_as="" u g passphrase
	mkdir -p "$adir/htdocs" "$adir/cgi" "$adir/run" "$adir/logs"
	cat >"$adir/cgi/claims.cgi" <<'EOF'
#!/bin/sh
# what mod_auth_openidc tells the application about the citizen
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'AUTH_TYPE=%s\n' "$AUTH_TYPE"
printf 'REMOTE_USER=%s\n' "$REMOTE_USER"
env | grep -E '^OIDC_(CLAIM_|access_token)' | sort
EOF
	chmod 755 "$adir/cgi/claims.cgi"
	printf 'logged out\n' >"$adir/htdocs/loggedout"
	if [ "$(id -u)" -eq 0 ]; then
		# httpd refuses to serve as root: its children run as an unprivileged user
		u=www-data
		getent passwd "$u" >/dev/null || u=nobody
		g=$(id -gn "$u")
		run_as="User $u
Group $g"
		chmod 755 "$tmp" "$adir" "$adir/htdocs" "$adir/cgi"
		chmod 644 "$adir/htdocs/loggedout"
		chown "$u" "$adir/run"
	fi
	passphrase=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
	cat >"$adir/httpd.conf" <<EOF
ServerRoot "$adir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$adir/run/httpd.pid"
DefaultRuntimeDir "$adir/run"
ErrorLog "$adir/logs/error.log"
LogLevel warn auth_openidc:debug
LogFormat "%h %u %t \"%r\" %>s %b" common
CustomLog "$adir/logs/access.log" common
$run_as

LoadModule mpm_event_module "$MODDIR/mod_mpm_event.so"
LoadModule authn_core_module "$MODDIR/mod_authn_core.so"
LoadModule authz_core_module "$MODDIR/mod_authz_core.so"
LoadModule authz_user_module "$MODDIR/mod_authz_user.so"
LoadModule alias_module "$MODDIR/mod_alias.so"
LoadModule cgid_module "$MODDIR/mod_cgid.so"
LoadModule auth_openidc_module "$MODDIR/mod_auth_openidc.so"

StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
ScriptSock "$adir/run/cgid.sock"

DocumentRoot "$adir/htdocs"
<Directory />
	Require all granted
</Directory>

OIDCProviderMetadataURL $ISSUER/.well-known/openid-configuration
OIDCClientID $client_id
OIDCClientSecret $secret
OIDCRedirectURI http://127.0.0.1:$port/protected/redirect_uri
OIDCCryptoPassphrase $passphrase
OIDCScope "$scope"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRemoteUserClaim sub
OIDCPassClaimsAs environment
$extra

ScriptAliasMatch "^/protected/\$" "$adir/cgi/claims.cgi"
<Location /protected>
	AuthType openid-connect
	Require valid-user
</Location>
EOF
}

# apache_rp_start NAME PORT: checks $tmp/NAME/httpd.conf (apache2 -t), starts
# Apache in the foreground and waits until it serves /loggedout; bails if not.
apache_rp_start() {
	local name=$1 port=$2 adir=$tmp/$1 pid i up=
	if ! "$APACHE2" -f "$adir/httpd.conf" -t >"$adir/logs/configtest" 2>&1; then
		bail "Apache ($name) accepts the configuration" "$(cat "$adir/logs/configtest")"
	fi
	ok "Apache ($name) accepts the configuration (apache2 -t)"
	"$APACHE2" -f "$adir/httpd.conf" -DFOREGROUND >"$adir/logs/stdout" 2>&1 </dev/null &
	pid=$!
	APACHE_PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			"http://127.0.0.1:$port/loggedout")" = 200 ]; then
			up=1
			break
		fi
		sleep 0.1
	done
	[ -n "$up" ] || bail "Apache ($name) serves on http://127.0.0.1:$port" \
		"$(cat "$adir/logs/stdout" "$adir/logs/error.log" 2>/dev/null | tail -n 40)"
	ok "Apache ($name) serves on http://127.0.0.1:$port"
}

# apache_stop: stops every Apache started here (SIGTERM, then SIGKILL after 30 s)
apache_stop() {
	local pid
	for pid in "${APACHE_PIDS[@]}"; do
		if ! term_wait "$pid"; then
			echo "# Apache did not stop within 30 s of SIGTERM: killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	APACHE_PIDS=()
	return 0
}
CLEANUP_HOOKS+=(apache_stop)

# apache_log NAME: the error log's lines about problems, for failure messages
apache_log() {
	grep -E ':(error|warn|crit|alert|emerg)\]' "$tmp/$1/logs/error.log" 2>/dev/null | tail -n 40
}
