#!/usr/bin/env bash
# A smoke run of audit_bench (2 appenders' seconds, a store of a few thousand
# entries): proves that every mode still runs on this build and that what it
# writes is a log that verifies, including a tree deleted and rebuilt by
# catch-up. It says nothing about speed (README, "Benchmarks", for figures).
#   tests/bench/audit_smoke.sh AUDIT_BENCH DIR
set -euo pipefail
bench=${1:?usage: audit_smoke.sh AUDIT_BENCH DIR}
dir=${2:?usage: audit_smoke.sh AUDIT_BENCH DIR}
rm -rf "$dir"
trap 'rm -rf "$dir"' EXIT

fail() { echo "audit_smoke: $*" >&2; exit 1; }
# runs audit_bench with the arguments given, echoing its output; fails on a non-zero status
run() {
	local out
	out=$("$bench" "$@" 2>&1) || fail "audit_bench $* failed: $out"
	printf '%s\n' "$out" >&2
	printf '%s\n' "$out"
}
# the entry count of a verify that says ok, or a failure
verified() {
	local out
	out=$(run verify "$dir")
	[[ $out =~ verify:\ ok,\ ([0-9]+)\ entries ]] || fail "the log does not verify: $out"
	echo "${BASH_REMATCH[1]}"
}
# checks that a group run appended something and failed nothing
grouped() {
	local out
	out=$(run group "$dir" 4 1 "$@")
	[[ $out =~ group:\ 4\ threads,\ ([0-9]+)\ appends ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
		fail "group $* appended nothing: $out"
	[[ $out == *" failed=0 failed_appends=0 "* ]] || fail "group $* failed a commit: $out"
}

run populate "$dir" 50 200 >/dev/null
run fill "$dir" 3000 50 >/dev/null
filled=$(verified)
[ "$filled" -ge 3000 ] || fail "fill wrote $filled entries, not 3000 and more"
grouped
grouped one
before=$(verified)
[ "$before" -gt "$filled" ] || fail "the group runs appended nothing to the log"
out=$(run untree "$dir")
[[ $out == *"the tree of"*"is gone"* ]] || fail "untree: $out"
out=$(run catch-up "$dir")
[[ $out == *"catch-up: $before entries"* ]] || fail "catch-up did not rebuild the tree of $before entries: $out"
after=$(verified)
[ "$after" -eq "$before" ] || fail "$before entries before untree, $after after catch-up"
out=$(run query "$dir" 50)
[[ $out == *"citizen slice (limit 50): median"* ]] || fail "query: $out"
out=$(run retention "$dir" 10)
[[ $out == *"retention: a whole pass read"* ]] || fail "retention: $out"
echo "audit_smoke: ok, $after entries verified after a rebuilt tree"
