# shellcheck shell=bash
# TAP helpers of the CLI end-to-end scripts (cli.sh, consent_cli.sh). Source
# it after setting $tmp (a scratch directory); the sourcing script ends with
#   echo "1..$n"; [ "$fails" -eq 0 ]
# every script sourcing this parses JSON with python3: without it, fail at once
command -v python3 >/dev/null || { echo "Bail out! python3 is required (deploy/install-deps.sh test)"; exit 2; }
fails=0
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $1"
	if [ -n "${2:-}" ]; then sed 's/^/#   /' <<<"$2"; fi
	return 0
}
# expect STATUS DESCRIPTION CMD... : runs CMD, checks its exit status, keeps output in $out/$err
expect() {
	local want=$1 desc=$2
	shift 2
	out=$("$@" 2>"$tmp/err")
	local got=$?
	err=$(cat "$tmp/err")
	if [ "$got" -eq "$want" ]; then ok "$desc"; else bad "$desc (exit $got, wanted $want)" "$out$err"; fi
}
has() { # has DESCRIPTION HAYSTACK NEEDLE (fixed string)
	if grep -qF -- "$3" <<<"$2"; then ok "$1"; else bad "$1" "$2"; fi
}
hasnt() {
	if grep -qF -- "$3" <<<"$2"; then bad "$1" "$2"; else ok "$1"; fi
}
check() { # check DESCRIPTION CMD...: CMD succeeds
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else bad "$desc"; fi
}
same() { # same DESCRIPTION GOT WANTED
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', wanted '$3'"; fi
}
# JSON field of stdin: json EXPR (python, d is the document)
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
