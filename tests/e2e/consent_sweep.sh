#!/usr/bin/env bash
# End-to-end test of the consent sweeper: a grant that expires with no
# release to meet it gets exactly one consent.expired entry, from
# `civicid consent sweep` and from the running server's own sweep. Time is
# moved forward with faketime (the shortest grant lasts a day).
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/consent_sweep.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"
command -v faketime >/dev/null || bail "faketime is required (deploy/install-deps.sh test)"

# expired_count: the consent.expired entries of the log; releases: the release.* ones
expired() { "$bin" audit query --store "$store" --type consent.expired --json; }
count() { grep -c . <<<"$1"; }
releases() { "$bin" audit query --store "$store" --type release. --json | grep -c .; }

cat >"$policies/childcare.policy" <<'POLICY'
service childcare
name.ja 子育て支援
name.en Childcare support
purpose fees
	text.ja 保育料を算定するため
	text.en To calculate your childcare fee
	basis consent
	retention 5y
	consent_valid 1y
	permit email
POLICY
add_user hanako 'hanako-pass-1' 'email=hanako@example.jp'
add_user taro 'taro-pass-123' 'email=taro@example.jp'
grant() { # grant USER DAYS: a paper grant of email lasting DAYS days
	"$bin" consent grant "$1" --store "$store" --service childcare --purpose fees \
		--attribute email --expires-in "$2" --policies "$policies" >"$tmp/cli.out" 2>&1 ||
		bail "consent grant $1" "$(cat "$tmp/cli.out")"
}
grant hanako 1
grant taro 3

# the CLI
out=$("$bin" consent sweep --store "$store" --json 2>&1)
eq "nothing has expired yet: nothing written" "$out" '{"written":0,"left":0,"damaged":0}'
out=$(later 2 "$bin" consent sweep --store "$store" 2>&1)
eq "two days later, hanako's grant has expired: one entry" "$out" "1 consent.expired entries written"
out=$(later 2 "$bin" consent sweep --store "$store" --json 2>&1)
eq "swept again: nothing new" "$out" '{"written":0,"left":0,"damaged":0}'
e=$(expired)
eq "exactly one consent.expired entry" "$(count "$e")" 1
eq "it is the system's" "$(json "d['actor']" <<<"$e")" system
eq "of hanako's email" "$(json "d['attributes']" <<<"$e")" "['email']"
hid=$("$bin" user show hanako --store "$store" --json | json "d['id']")
# whose: the entry names the pseudonym of hanako's purpose (civicid audit resolve)
whose() { "$bin" audit resolve "$1" --store "$store" --json | json "d['citizen']"; }
eq "naming hanako" "$(whose "$(json "d['citizen']" <<<"$e")")" "$hid"
eq "no release met it" "$(releases)" 0
out=$("$bin" consent sweep --store "$store" frob 2>&1)
eq "sweep takes no argument: usage" "$?" 2
out=$("$bin" consent sweep --store "$store" --service childcare 2>&1)
eq "sweep takes no --service: usage" "$?" 2

# the server: its sweep runs at start and every minute
civicid_start_later 4
ok "civicid serve runs, four days later"
for ((i = 0; i < 300; i++)); do
	[ "$(count "$(expired)")" -ge 2 ] && break
	sleep 0.1
done
civicid_stop
e=$(expired)
eq "the server wrote taro's, and no second one of hanako's" "$(count "$e")" 2
tid=$("$bin" user show taro --store "$store" --json | json "d['id']")
eq "the new one names taro" "$(whose "$(tail -n1 <<<"$e" | json "d['citizen']")")" "$tid"
eq "still no release" "$(releases)" 0
out=$(later 5 "$bin" consent sweep --store "$store" --json 2>&1)
eq "after the server, the CLI finds nothing new" "$out" '{"written":0,"left":0,"damaged":0}'
finish
