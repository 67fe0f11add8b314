#!/usr/bin/env bash
# End-to-end test of the civicid CLI on a real LMDB store: every verb of
# user (TOTP enrolment included), client and keys, --json output, secrets
# from stdin and files, help texts, and non-zero exits with a clear message
# on bad input.
# Usage: CIVICID_BIN=path/to/civicid tests/e2e/cli.sh
set -uo pipefail
bin=${CIVICID_BIN:?set CIVICID_BIN}
tmp=$(mktemp -d)
serve_pid=
trap '[ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
store=$tmp/store
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# a damaged record is made with the LMDB tools, as someone with the files would
command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null ||
	{ echo "Bail out! mdb_dump and mdb_load are required (lmdb-utils, deploy/install-deps.sh test)"; exit 2; }
C=(--store "$store")

# help
expect 0 "civicid --help" "$bin" --help
for c in serve user client keys policy consent; do has "--help lists $c" "$out" "  $c "; done
expect 2 "no command is a usage error" "$bin"
expect 2 "unknown command" "$bin" frobnicate
has "unknown command says so" "$err" "unknown command"
for c in user client keys serve; do
	expect 0 "civicid $c --help" "$bin" $c --help
	has "$c --help shows usage" "$out" "usage: civicid $c"
done
expect 0 "serve --help-config" "$bin" serve --help-config
has "config reference documents code_ttl" "$out" "code_ttl = 60"

# users
expect 0 "user add from stdin" bash -c "printf 'hanako-pass-1' | '$bin' user add hanako ${C[*]} --password-stdin \
	--claim 'family_name=山田' --claim 'family_name#ja-Kana-JP=ヤマダ' --claim household_size=3 \
	--claim email_verified=true --claim resident_district=Aoi"
printf 'taro-pass-123\n' >"$tmp/pw"
expect 0 "user add from a file, --json" "$bin" user add taro "${C[@]}" --password-file "$tmp/pw" --json
has "user add --json prints the id" "$out" '"id"'
expect 1 "duplicate username refused" bash -c "printf 'another-pass' | '$bin' user add hanako ${C[*]} --password-stdin"
has "duplicate says exists" "$err" "already exists"
expect 1 "short password refused" bash -c "printf 'short' | '$bin' user add yui ${C[*]} --password-stdin"
expect 2 "add without a password source" "$bin" user add yui "${C[@]}"
expect 2 "unknown claim refused" bash -c "printf 'yui-pass-1234' | '$bin' user add yui ${C[*]} --password-stdin --claim favourite_colour=blue"
expect 2 "household_size out of range" bash -c "printf 'yui-pass-1234' | '$bin' user add yui ${C[*]} --password-stdin --claim household_size=100"
expect 2 "malformed language tag" bash -c "printf 'yui-pass-1234' | '$bin' user add yui ${C[*]} --password-stdin --claim 'family_name#=x'"
expect 1 "bad username" bash -c "printf 'yui-pass-1234' | '$bin' user add 'yui san' ${C[*]} --password-stdin"
expect 0 "user list --json" "$bin" user list "${C[@]}" --json
has "list has hanako" "$out" hanako
hasnt "list never shows password hashes" "$out" argon2
expect 0 "user show" "$bin" user show hanako "${C[@]}" --json
has "show has the Kana name" "$out" 'ヤマダ'
same "household_size is a number" "$(json "repr(d['claims']['household_size'])" <<<"$out")" 3
hasnt "show never shows the password hash" "$out" argon2
expect 0 "user set claim" "$bin" user set hanako "${C[@]}" --claim household_size=4 --unset resident_district
expect 0 "user show after set" "$bin" user show hanako "${C[@]}" --json
same "set changed household_size" "$(json "repr(d['claims']['household_size'])" <<<"$out")" 4
hasnt "unset removed resident_district" "$out" resident_district
expect 1 "show unknown user" "$bin" user show nobody "${C[@]}"
has "unknown user says not found" "$err" "not found"
expect 0 "user disable" "$bin" user disable taro "${C[@]}"
expect 0 "disabled shows in show" "$bin" user show taro "${C[@]}" --json
has "disabled flag set" "$(json "d['disabled']" <<<"$out")" True
expect 0 "disabled shows in show (text)" "$bin" user show taro "${C[@]}"
has "says disabled: yes" "$out" "disabled: yes"
expect 0 "disabled shows in list (text)" "$bin" user list "${C[@]}"
has "marks taro disabled" "$(grep '^taro ' <<<"$out")" "(disabled)"
expect 0 "user enable" "$bin" user enable taro "${C[@]}"
expect 0 "enabled shows in show (text)" "$bin" user show taro "${C[@]}"
has "says disabled: no" "$out" "disabled: no"
# a record whose "disabled" member is gone (written by hand, or by a damaged
# store) is not active for the server, and the CLI says so as well
mdb_dump -p -s citizens "$store" | sed '/"username":"taro"/s/"disabled":false,//' >"$tmp/citizens.dump"
has "the dump holds taro's record" "$(cat "$tmp/citizens.dump")" '"username":"taro"'
mdb_load -s citizens "$store" <"$tmp/citizens.dump" 2>/dev/null
expect 0 "show a record without disabled" "$bin" user show taro "${C[@]}"
has "not active: disabled: yes" "$out" "disabled: yes"
expect 0 "list a record without disabled" "$bin" user list "${C[@]}"
has "marked disabled in the list" "$(grep '^taro ' <<<"$out")" "(disabled)"
expect 0 "enable it again" "$bin" user enable taro "${C[@]}"
expect 0 "user passwd" bash -c "printf 'taro-new-pass-1' | '$bin' user passwd taro ${C[*]} --password-stdin"
expect 2 "unknown verb" "$bin" user frob "${C[@]}"

# deleting a citizen: refused without --yes; the name is then free for a new citizen
expect 0 "user add yui" bash -c "printf 'yui-pass-1234' | '$bin' user add yui ${C[*]} --password-stdin --json"
yui_id=$(json "d['id']" <<<"$out")
expect 2 "delete without --yes refused" "$bin" user delete yui "${C[@]}"
has "it says to confirm with --yes" "$err" "--yes"
expect 0 "nothing deleted without --yes" "$bin" user show yui "${C[@]}"
expect 2 "--yes goes with delete only" "$bin" user disable yui "${C[@]}" --yes
expect 0 "user delete --yes --json" "$bin" user delete yui "${C[@]}" --yes --json
has "delete names the account id" "$out" "\"id\": \"$yui_id\""
expect 1 "a deleted citizen is not found" "$bin" user show yui "${C[@]}"
expect 1 "deleting again finds nobody" "$bin" user delete yui "${C[@]}" --yes
has "says not found" "$err" "not found"
hasnt "no citizen record holds the id" "$(mdb_dump -p -s citizens "$store")" "$yui_id"
hasnt "no username entry holds it" "$(mdb_dump -p -s usernames "$store")" "$yui_id"
expect 0 "the deletion is on the audit log" "$bin" audit query "${C[@]}" --type account.deleted --json
has "as account.deleted by the operator" "$out" '"actor":"operator"'
hasnt "under a pseudonym, not the id" "$out" "$yui_id"
expect 0 "the name can be registered again" bash -c "printf 'yui-pass-5678' | '$bin' user add yui ${C[*]} --password-stdin --json"
[[ $(json "d['id']" <<<"$out") != "$yui_id" ]] && ok "as a new citizen (a new id)" || bad "as a new citizen (a new id)" "$out"
expect 0 "the new citizen is deleted in turn" "$bin" user delete yui "${C[@]}" --yes
has "the text answer says so" "$out" "citizen yui deleted"

# TOTP enrolment: the secret is printed once and never shown again
expect 0 "user --help documents totp" "$bin" user --help
has "help lists the totp verb" "$out" "totp USERNAME --disable"
has "help lists the delete verb" "$out" "delete USERNAME --yes"
expect 0 "user totp enrols, --json" "$bin" user totp hanako "${C[@]}" --json
totp=$(json "d['secret']" <<<"$out")
uri=$(json "d['uri']" <<<"$out")
[[ $totp =~ ^[A-Z2-7]{32}$ ]] && ok "totp secret is 32 base32 characters" || bad "totp secret is 32 base32 characters" "$out"
has "otpauth URI with the secret" "$uri" "otpauth://totp/civicid:hanako?secret=$totp&issuer=civicid&algorithm=SHA1&digits=6&period=30"
expect 1 "second enrolment without --replace refused" "$bin" user totp hanako "${C[@]}"
has "refusal says how to replace" "$err" "--replace"
expect 0 "user show after enrolment" "$bin" user show hanako "${C[@]}" --json
has "show says totp_enrolled" "$(json "d['totp_enrolled']" <<<"$out")" True
hasnt "show never shows the totp secret" "$out" "$totp"
hasnt "show has no totp member" "$out" '"totp"'
expect 0 "user show text" "$bin" user show hanako "${C[@]}"
has "show text says enrolled" "$out" "totp:     enrolled"
expect 0 "user list after enrolment" "$bin" user list "${C[@]}" --json
hasnt "list never shows the totp secret" "$out" "$totp"
expect 0 "user totp --replace" "$bin" user totp hanako "${C[@]}" --replace
has "text enrolment says shown once" "$out" "shown once"
has "text enrolment prints the URI" "$out" "otpauth://totp/civicid:hanako?secret="
hasnt "--replace made a new secret" "$out" "$totp"
expect 2 "--replace belongs to totp" "$bin" user show hanako "${C[@]}" --replace
expect 2 "--replace and --disable together" "$bin" user totp hanako "${C[@]}" --replace --disable
expect 2 "--unlock and --replace together" "$bin" user totp hanako "${C[@]}" --replace --unlock
expect 2 "--unlock belongs to totp" "$bin" user show hanako "${C[@]}" --unlock
expect 0 "user totp --unlock" "$bin" user totp hanako "${C[@]}" --unlock
has "--unlock says codes are accepted" "$out" "TOTP unlocked for hanako"
expect 0 "user show --json counts wrong codes in a row" "$bin" user show hanako "${C[@]}" --json
has "none yet" "$(json "d['totp_failures']" <<<"$out")" 0
expect 0 "user --help documents --unlock" "$bin" user --help
has "help explains the lock" "$out" "wrong codes in a row"
expect 0 "user totp --disable" "$bin" user totp hanako "${C[@]}" --disable
has "--disable says the password alone logs in" "$out" "TOTP removed for hanako: the password alone logs in"
expect 0 "user show after --disable" "$bin" user show hanako "${C[@]}" --json
has "totp_enrolled false after --disable" "$(json "d['totp_enrolled']" <<<"$out")" False
expect 1 "--disable when not enrolled" "$bin" user totp hanako "${C[@]}" --disable
has "says not enrolled" "$err" "not enrolled"
expect 1 "--unlock when not enrolled" "$bin" user totp hanako "${C[@]}" --unlock
has "--unlock says not enrolled" "$err" "not enrolled"
expect 1 "--unlock of an unknown user" "$bin" user totp nobody "${C[@]}" --unlock
expect 1 "totp for an unknown user" "$bin" user totp nobody "${C[@]}"
has "unknown user for totp says not found" "$err" "not found"

# clients
expect 0 "confidential client add --json" "$bin" client add "${C[@]}" --json --client-id childcare \
	--name "子育て支援" --redirect-uri https://childcare.city.example/cb \
	--post-logout-redirect-uri https://childcare.city.example/ --scope "openid profile city"
secret=$(json "d['client_secret']" <<<"$out")
[ ${#secret} -eq 43 ] && ok "secret printed once, 43 chars" || bad "secret printed" "$out"
expect 0 "public client add" "$bin" client add "${C[@]}" --client-id library --public \
	--redirect-uri http://127.0.0.1:3001/cb
has "public client told about PKCE" "$out" PKCE
expect 1 "plain http redirect refused" "$bin" client add "${C[@]}" --client-id bad1 --redirect-uri http://evil.example/cb
has "invalid registration explained" "$err" "redirect URIs"
# a secret shown once that cannot be written is a failure, said on stderr
expect 1 "client add with its output lost fails" bash -c "'$bin' client add ${C[*]} --client-id lost \
	--redirect-uri https://lost.city.example/cb > /dev/full"
has "the lost output is said" "$err" "could not be written"
expect 1 "public client_credentials refused" "$bin" client add "${C[@]}" --client-id bad2 --public --grant-types client_credentials
# the sector of pairwise subjects (OIDC Core 8.1): host:port, or a sector identifier URI
expect 0 "client show library" "$bin" client show library "${C[@]}" --json
same "the sector is the redirect URI's host:port" "$(json "d['sector_identifier']" <<<"$out")" 127.0.0.1:3001
expect 1 "two ports of one host without a sector identifier URI refused" "$bin" client add "${C[@]}" \
	--client-id bad3 --redirect-uri http://127.0.0.1:3001/cb --redirect-uri http://127.0.0.1:3002/cb
has "refusal names both sectors" "$err" "127.0.0.1:3001, 127.0.0.1:3002"
has "refusal asks for a sector identifier URI" "$err" "sector identifier URI"
expect 1 "a plain-http sector identifier URI off loopback refused" "$bin" client add "${C[@]}" \
	--client-id bad4 --redirect-uri https://a.city.example/cb --sector-identifier-uri http://sector.city.example/s.json
has "refusal says https" "$err" "must be https"
expect 1 "an unreachable sector identifier document refused" "$bin" client add "${C[@]}" \
	--client-id bad5 --redirect-uri http://127.0.0.1:3001/cb --sector-identifier-uri http://127.0.0.1:9/s.json
has "refusal says the fetch failed" "$err" "fetching the sector identifier document http://127.0.0.1:9/s.json failed"
expect 1 "no client stored after a refused sector" "$bin" client show bad5 "${C[@]}"
expect 0 "client --help documents --sector-identifier-uri" "$bin" client --help
has "help names the option" "$out" "--sector-identifier-uri URL"
expect 0 "machine client" "$bin" client add "${C[@]}" --client-id batch --grant-types client_credentials --scope city
expect 0 "client list" "$bin" client list "${C[@]}" --json
has "list shows childcare" "$out" childcare
hasnt "list never shows secret hashes" "$out" secret_hash
hasnt "list never shows the secret" "$out" "$secret"
expect 0 "client show" "$bin" client show childcare "${C[@]}" --json
has "show has redirect" "$out" "https://childcare.city.example/cb"
has "pairwise by default" "$out" pairwise
grep -rqF -- "$secret" "$store" && bad "secret not stored in clear" || ok "secret not stored in clear"
expect 0 "client remove" "$bin" client remove batch "${C[@]}"
expect 1 "client remove again" "$bin" client remove batch "${C[@]}"

# keys
expect 0 "keys list creates and lists keys" "$bin" keys list "${C[@]}" --json
has "an ES256 key" "$out" ES256
has "an RS256 key" "$out" RS256
hasnt "no private key printed" "$out" PRIVATE
old=$(json "[k['kid'] for k in d if k['alg']=='ES256'][0]" <<<"$out")
expect 0 "keys rotate ES256" "$bin" keys rotate --alg ES256 "${C[@]}" --json
new=$(json "d[0]['kid']" <<<"$out")
[ "$old" != "$new" ] && ok "rotation made a new kid" || bad "rotation made a new kid"
expect 0 "keys list after rotate" "$bin" keys list "${C[@]}" --json
has "old key kept, retired" "$(json "[k['state'] for k in d if k['kid']=='$old'][0]" <<<"$out")" retired
expect 2 "rotate unknown alg" "$bin" keys rotate --alg HS256 "${C[@]}"
# staged rotation: publish a next key, activate it after key_publish_delay
printf 'store = %s\nkey_publish_delay = 3600\n' "$store" >"$tmp/keys.conf"
K=(--config "$tmp/keys.conf")
expect 0 "keys rotate --publish-only" "$bin" keys rotate --publish-only --alg ES256 "${K[@]}" --json
next=$(json "d[0]['kid']" <<<"$out")
at=$(json "d[0]['activate_at']" <<<"$out")
[ $((at - $(date +%s))) -gt 3500 ] && ok "the next key signs only after key_publish_delay" || bad "activate_at is now + key_publish_delay" "$out"
expect 0 "keys list after --publish-only" "$bin" keys list "${C[@]}" --json
same "the published key is next" "$(json "[k['state'] for k in d if k['kid']=='$next'][0]" <<<"$out")" next
same "the active key still signs" "$(json "[k['state'] for k in d if k['kid']=='$new'][0]" <<<"$out")" active
expect 0 "keys list text" "$bin" keys list "${C[@]}"
has "list says when the next key signs" "$out" "next     "
has "list says from when" "$out" "signs from "
has "the time reads as the audit log writes it" "$out" "signs from $(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)"
has "list says until when a retired key stays" "$out" "in the JWKS until "
expect 0 "keys jwks publishes the next key" "$bin" keys jwks "${C[@]}"
has "jwks has the next kid" "$out" "$next"
expect 1 "a second --publish-only is refused" "$bin" keys rotate --publish-only --alg ES256 "${K[@]}"
has "refusal says activate first" "$err" "activate it first"
expect 1 "--activate before the delay is refused" "$bin" keys rotate --activate --alg ES256 "${K[@]}"
has "refusal says when and how" "$err" "--force"
expect 0 "keys list after the refusal" "$bin" keys list "${C[@]}" --json
same "still next after a refused activation" "$(json "[k['state'] for k in d if k['kid']=='$next'][0]" <<<"$out")" next
expect 0 "--activate --force" "$bin" keys rotate --activate --force "${K[@]}" --json
same "--activate activates the published key" "$(json "d[0]['kid']" <<<"$out")" "$next"
expect 0 "keys list after --activate" "$bin" keys list "${C[@]}" --json
same "the published key is active" "$(json "[k['state'] for k in d if k['kid']=='$next'][0]" <<<"$out")" active
same "the old key is retired" "$(json "[k['state'] for k in d if k['kid']=='$new'][0]" <<<"$out")" retired
expect 1 "--activate with nothing published" "$bin" keys rotate --activate "${K[@]}"
has "says to publish first" "$err" "--publish-only"
printf 'store = %s\nkey_publish_delay = 0\n' "$store" >"$tmp/now.conf"
expect 0 "--publish-only with no delay" "$bin" keys rotate --publish-only --alg RS256 --config "$tmp/now.conf" --json
rsnext=$(json "d[0]['kid']" <<<"$out")
expect 0 "--activate once the delay has passed needs no --force" "$bin" keys rotate --activate --alg RS256 --config "$tmp/now.conf"
has "activate says which key signs" "$out" "RS256: new active key $rsnext"
expect 0 "a next key before an immediate rotation" "$bin" keys rotate --publish-only --alg ES256 "${K[@]}" --json
pending=$(json "d[0]['kid']" <<<"$out")
expect 0 "plain keys rotate still switches at once" "$bin" keys rotate --alg ES256 "${K[@]}" --json
now_active=$(json "d[0]['kid']" <<<"$out")
expect 0 "keys list after the immediate rotation" "$bin" keys list "${C[@]}" --json
same "the immediate rotation's key is active" "$(json "[k['state'] for k in d if k['kid']=='$now_active'][0]" <<<"$out")" active
same "and the pending next key is retired" "$(json "[k['state'] for k in d if k['kid']=='$pending'][0]" <<<"$out")" retired
# a key that may be compromised: withdrawn at once, not kept for key_keep
expect 0 "keys rotate --revoke" "$bin" keys rotate --revoke --alg ES256 "${K[@]}"
has "--revoke says the old key is withdrawn" "$out" "the old key is withdrawn"
expect 0 "keys list after --revoke" "$bin" keys list "${C[@]}" --json
drop_at=$(json "[k['drop_after'] for k in d if k['kid']=='$now_active'][0]" <<<"$out")
[ "$drop_at" -le "$(date +%s)" ] && ok "--revoke drops the old key now, not after key_keep" ||
	bad "--revoke drops the old key now" "drop_after $drop_at"
expect 0 "keys list text after --revoke" "$bin" keys list "${C[@]}"
has "list says the withdrawn key is out of the JWKS" "$(grep -F "$now_active" <<<"$out")" "out of the JWKS since "
# a key retired with the overlap, found compromised later
kept=$(json "[k['drop_after'] for k in d if k['kid']=='$new'][0]" <<<"$("$bin" keys list "${C[@]}" --json)")
[ "$kept" -gt "$(date +%s)" ] && ok "a key retired by --activate is kept for key_keep" || bad "kept for key_keep" "$kept"
expect 0 "keys drop KID" "$bin" keys drop "$new" "${C[@]}"
has "drop says withdrawn" "$out" "$new withdrawn"
expect 0 "keys list after drop" "$bin" keys list "${C[@]}" --json
[ "$(json "[k['drop_after'] for k in d if k['kid']=='$new'][0]" <<<"$out")" -le "$(date +%s)" ] &&
	ok "drop takes the key out now" || bad "drop takes the key out now" "$out"
expect 0 "keys drop again changes nothing" "$bin" keys drop "$new" "${C[@]}" --json
same "a second drop says so" "$(json "d['dropped']" <<<"$out")" False
active_es=$(json "[k['kid'] for k in d if k['alg']=='ES256' and k['state']=='active'][0]" <<<"$("$bin" keys list "${C[@]}" --json)")
expect 1 "the active key is not dropped" "$bin" keys drop "$active_es" "${C[@]}"
has "refusal says to rotate --revoke" "$err" "rotate --revoke"
expect 1 "drop an unknown kid" "$bin" keys drop no-such-kid "${C[@]}"
has "unknown kid says so" "$err" "no key no-such-kid"
# a kid is base64url: one in 32 begins with '-', which is a KID, not options
expect 1 "drop a kid that begins with '-'" "$bin" keys drop -e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6h "${C[@]}"
has "it is looked up as a kid" "$err" "no key -e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6h"
expect 1 "and after the options" "$bin" keys drop "${C[@]}" -- -e5oQ9xXkz6Tt1WfQmL0bqM2rS4vY7uJ8nB3cD5fG6h
expect 1 "an option written -sDIR before the KID is an option" "$bin" keys drop -s"$store" no-such-kid
has "the KID after it is the one looked up" "$err" "no key no-such-kid"
expect 2 "drop without a kid" "$bin" keys drop "${C[@]}"
expect 2 "--revoke with --publish-only" "$bin" keys rotate --revoke --publish-only "${C[@]}"
expect 2 "--revoke is for rotate" "$bin" keys list --revoke "${C[@]}"
# --publish-only without --alg when one algorithm already has a next key:
# that one is left as it is (and said so), the other published, exit 0
expect 0 "a next RS256 key" "$bin" keys rotate --publish-only --alg RS256 "${K[@]}" --json
rs_pending=$(json "d[0]['kid']" <<<"$out")
expect 0 "--publish-only without --alg skips what is already published" "$bin" keys rotate --publish-only "${K[@]}" --json
same "it publishes the ES256 key" "$(json "[e['alg'] for e in d if not e.get('already_published')]" <<<"$out")" "['ES256']"
same "it names the RS256 key it left" "$(json "[e['kid'] for e in d if e.get('already_published')]" <<<"$out")" "['$rs_pending']"
expect 0 "keys list after the skip" "$bin" keys list "${C[@]}" --json
same "one next key per algorithm" "$(json "sorted(k['alg'] for k in d if k['state']=='next')" <<<"$out")" "['ES256', 'RS256']"
expect 1 "--publish-only with every algorithm published" "$bin" keys rotate --publish-only "${K[@]}"
has "it says what it left" "$out" "RS256: a next key $rs_pending is already published"
has "and what to do" "$err" "activate them first"
expect 1 "--publish-only --json with every algorithm published" "$bin" keys rotate --publish-only "${K[@]}" --json
same "--json still says what it left" "$(json "len(d)" <<<"$out")" 2
expect 2 "--force without --activate" "$bin" keys rotate --force "${C[@]}"
expect 2 "--publish-only and --activate together" "$bin" keys rotate --publish-only --activate "${C[@]}"
expect 2 "--publish-only is for rotate" "$bin" keys list --publish-only "${C[@]}"

# serve configuration errors
printf 'port = 99999\n' >"$tmp/bad.conf"
expect 2 "serve refuses a bad config" "$bin" serve --config "$tmp/bad.conf" --store "$store" --check
has "bad config names file and line" "$err" "bad.conf:1:"
expect 2 "serve reads --config=FILE too" "$bin" serve --config="$tmp/bad.conf" --store "$store" --check
has "--config=FILE names file and line" "$err" "bad.conf:1:"
printf 'code_ttl = 30\n' >"$tmp/good.conf"
here=$(cd "$(dirname "$0")/../.." && pwd)
expect 0 "serve --check accepts a good config" "$bin" serve --config "$tmp/good.conf" --store "$store" --policies "$here/policies" --check
has "serve --check loads the policies" "$out" "policies OK: 3"
expect 0 "the shipped example config is valid" "$bin" serve --config "$here/deploy/civicid.conf.example" --store "$store" --policies "$here/policies" --check
expect 1 "serve --check refuses a missing policy directory" "$bin" serve --store "$store" --policies "$tmp/no-such-dir" --check
has "the missing directory is named" "$err" "no-such-dir"
mkdir -p "$tmp/badpol"
printf 'service x\nname.ja x\nname.en x\npurpose p\n  text.ja t\n  text.en t\n  basis consent\n  retention 1y\n  permit shoe_size\n' >"$tmp/badpol/x.policy"
expect 1 "serve --check refuses a bad policy" "$bin" serve --store "$store" --policies "$tmp/badpol" --check
has "the bad policy is reported with file and line" "$err" "x.policy:9:"
has "every error of the file is reported" "$err" "x.policy:4:"

# policy reload: a counter that running servers poll
expect 0 "policy reload" "$bin" policy reload --store "$store" --json
same "policy reload counts" "$(json "d['counter']" <<<"$out")" 1
expect 0 "policy reload again" "$bin" policy reload --store "$store"
has "policy reload says when" "$out" "within 5 s"
expect 2 "policy reload takes no --dir" "$bin" policy reload --store "$store" --dir policies
expect 2 "serve refuses a bad issuer" "$bin" serve --issuer "ftp://x" --store "$store" --check

# several municipalities: a tenant beside a single city would strand it (a copy of it)
cp -r "$store" "$tmp/single"
expect 1 "tenant add beside a single city is refused" "$bin" tenant add aizu --store "$tmp/single"
has "the refusal points to adopt" "$err" "civicid tenant adopt"
check "and nothing was added" test ! -e "$tmp/single/tenants/aizu"
expect 0 "the single city is still reached without --tenant" "$bin" user list --store "$tmp/single"
has "its citizens are still there" "$out" "hanako"

# several municipalities: this single city becomes the first tenant (a copy of it)
cp -r "$store" "$tmp/adopt"
A=(--store "$tmp/adopt")
expect 0 "tenant adopt" "$bin" tenant adopt kita "${A[@]}" --name-en Kita
has "adopt names the new issuer" "$out" "/t/kita"
# no server has started on this store: adopt (the CLI's default issuer
# here) records none as its log's, so the first server to serve it does
expect 0 "keys jwks of the adopted tenant" "$bin" keys jwks "${A[@]}" --tenant kita
has "adopt recorded no issuer" "$err" "the store records no issuer yet"
expect 2 "a command without --tenant is refused once there are tenants" "$bin" user list "${A[@]}"
has "the refusal says what to give" "$err" "--tenant NAME"
expect 2 "an unknown tenant is refused" "$bin" user list "${A[@]}" --tenant nara
has "the unknown tenant is named" "$err" 'no tenant named "nara"'
expect 0 "the adopted tenant keeps its citizens" "$bin" user list "${A[@]}" --tenant kita
has "hanako is still there" "$out" "hanako"
expect 0 "its audit log still verifies" "$bin" audit verify "${A[@]}" --tenant kita
mkdir -p "$tmp/tpol/kita"
printf 'policies = %s\n' "$tmp/tpol" >"$tmp/tenant.conf"
expect 0 "tenant show opens it (as the server would)" "$bin" tenant show kita "${A[@]}" --config "$tmp/tenant.conf"
has "tenant show gives its issuer" "$out" "issuer:   http://127.0.0.1:8080/t/kita"
has "tenant show counts its citizens" "$out" "2 citizens"
# a server serves it once (its first request opens it): its issuer is the log's
"$bin" serve "${A[@]}" --port 0 --issuer https://id.city.example --policies "$tmp/tpol" \
	>"$tmp/serve.out" 2>"$tmp/serve.err" </dev/null &
serve_pid=$!
port=
for ((i = 0; i < 600; i++)); do
	port=$(sed -n 's/^civicid: listening on .* port \([0-9]*\)$/\1/p' "$tmp/serve.out")
	[ -n "$port" ] && grep -q '^civicid: tenants below' "$tmp/serve.out" && break
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.1
done
check "the server serves the tenant" curl -sf -o /dev/null "http://127.0.0.1:$port/t/kita/.well-known/openid-configuration"
kill -TERM "$serve_pid" 2>/dev/null
wait "$serve_pid"
same "the server started and stopped" "$?" 0
serve_pid=
expect 0 "keys jwks of the served tenant" "$bin" keys jwks "${A[@]}" --tenant kita
same "its log's issuer is the server's for it, not adopt's" "$(json "d.get('issuer')" <<<"$out")" \
	"https://id.city.example/t/kita"
: >"$tmp/adopt.jsonl" # there before, readable by all: the export narrows it
chmod 644 "$tmp/adopt.jsonl"
expect 0 "its export" bash -c "umask 022; '$bin' audit export ${A[*]} --tenant kita --output '$tmp/adopt.jsonl'"
same "the export is the city's alone (0600)" "$(stat -c %a "$tmp/adopt.jsonl")" 600
has "the log records the adoption" "$(cat "$tmp/adopt.jsonl")" '"tenant.adopted"'
expect 1 "adopt twice is refused" "$bin" tenant adopt nara "${A[@]}"
has "the second adopt says why" "$err" "already has tenants"
expect 0 "tenant list" "$bin" tenant list "${A[@]}"
has "tenant list shows it" "$out" "kita"
# what a verb does not take is a usage error, not dropped
expect 2 "tenant list with a NAME" "$bin" tenant list kita "${A[@]}"
expect 2 "--move-policies is for adopt only" "$bin" tenant add nishi "${A[@]}" --move-policies
check "and nothing was added" test ! -e "$tmp/adopt/tenants/nishi"
expect 2 "--set is for add and adopt only" "$bin" tenant show kita "${A[@]}" --set city_name_en=X
# one tenant's broken host file: the list is still whole, the broken one marked and named
expect 0 "tenant add at a host of its own" "$bin" tenant add higashi "${A[@]}" --set host=higashi.example
printf 'Not A Host!\n' >"$tmp/adopt/tenants/higashi/host"
expect 1 "tenant list with a broken host file fails" "$bin" tenant list "${A[@]}"
has "the broken tenant is listed, its issuer unknown" "$out" "higashi                  ?  (broken"
has "the tenants after it are listed too" "$out" "kita                     http://127.0.0.1:8080/t/kita"
has "stderr names the tenant and the problem" "$err" "tenant higashi: $tmp/adopt/tenants/higashi/host: not a host"
expect 1 "tenant list --json with a broken host file fails" "$bin" tenant list "${A[@]}" --json
same "--json lists both" "$(json "[t['name'] for t in d]" <<<"$out")" "['higashi', 'kita']"
same "--json: the broken one has no issuer and an error" \
	"$(json "[d[0]['issuer'], 'host' in d[0]['error'], d[1].get('error')]" <<<"$out")" "[None, True, None]"
rm "$tmp/adopt/tenants/higashi/host" "$tmp/adopt/tenants/_hosts/higashi.example"

# adopt --move-policies: the single city's policy files go with it, others' stay
cp -r "$store" "$tmp/adopt2"
mkdir -p "$tmp/pol2/other"
printf 'x\n' >"$tmp/pol2/a.policy"
printf 'x\n' >"$tmp/pol2/b.policy"
printf 'x\n' >"$tmp/pol2/notes.txt"
printf 'x\n' >"$tmp/pol2/other/c.policy"
printf 'policies = %s\nstore = %s\n' "$tmp/pol2" "$tmp/adopt2" >"$tmp/adopt2.conf"
expect 0 "tenant adopt --move-policies" "$bin" tenant adopt minami --config "$tmp/adopt2.conf" --move-policies
check "its policy files moved to POLICIES/minami/" test -f "$tmp/pol2/minami/a.policy" -a -f "$tmp/pol2/minami/b.policy"
check "none left at the top" test ! -e "$tmp/pol2/a.policy" -a ! -e "$tmp/pol2/b.policy"
check "other files and directories stay" test -f "$tmp/pol2/notes.txt" -a -f "$tmp/pol2/other/c.policy"
expect 0 "the adopted store still verifies" "$bin" audit verify --config "$tmp/adopt2.conf" --tenant minami

# a store no server has started on: the log's issuer is the first server's to
# record, so commands that sign with the audit key refuse, and record none
F=(--config "$tmp/fresh.conf")
printf '%s\n' "store = $tmp/fresh" "policies = $here/policies" 'controller_name = City' \
	'controller_contact = Office' 'controller_address = 1 Street' \
	'controller_email = privacy@city.example' 'policy_url = https://city.example/privacy' \
	>"$tmp/fresh.conf"
printf 'fresh-Passw0rd-12345' | "$bin" user add fresh "${F[@]}" --password-stdin \
	--claim email=fresh@city.example >/dev/null 2>&1 || bad "user add on a fresh store" ""
"$bin" client add "${F[@]}" --client-id library --name Library --redirect-uri https://lib.example/cb \
	--scope "openid email" >/dev/null 2>&1 || bad "client add on a fresh store" ""
expect 0 "a paper consent on a fresh store" "$bin" consent grant fresh "${F[@]}" --service library \
	--purpose library-card --attribute email --json
fresh_id=$(json "d['records'][0]['id']" <<<"$out")
expect 1 "its receipt before any server" "$bin" consent receipt "$fresh_id" "${F[@]}"
has "says why" "$err" "nothing can be signed before a server has started on the store"
expect 1 "the citizen's trail before any server" "$bin" audit trail --citizen fresh "${F[@]}"
has "says why too" "$err" "nothing can be signed before a server has started"
expect 0 "keys jwks" "$bin" keys jwks "${F[@]}"
has "and no issuer was recorded by them" "$err" "the store records no issuer yet"

echo "1..$n"
[ "$fails" -eq 0 ]
