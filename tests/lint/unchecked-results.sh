#!/usr/bin/env bash
# Fails if libauth/ or server/ drop a result that says whether the work was
# done: a jansson set, append or insert that begins a statement (on an
# allocation failure the member is silently missing: a client registered
# without a grant type), or json_dumps, whose text jansson 2.14 can return
# malformed when memory runs out (akheron/jansson#655; use cid_json_dumps or
# cid_buf_append_json, buf.h, which never hand out a part). Functions that
# return enum cid_err are CID_MUST_CHECK, so the compiler catches those.
# Each hit is printed as file:line.
# Usage: unchecked-results.sh [SOURCE_ROOT]   (default: the repository root)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/../.." && pwd)"}
cd "$root"

files=$(find libauth server -type f -name '*.c' | sort)

# a statement starts where the previous line (trailing comment aside) ends a
# statement or a block, or is a bare if/for/while condition, else or do
# shellcheck disable=SC2086
dropped=$(awk '
FNR == 1 { prev = "" }
/^[ \t]*(\/\*|\*|\/\/)/ { next }
{
	p = prev
	sub(/[ \t]*\/\*.*\*\/[ \t]*$/, "", p)
	if ($0 ~ /^[ \t]*json_(object_set(_new)?(_nocheck)?|array_append(_new)?|array_insert(_new)?|array_extend|object_update[a-z_]*)[ \t]*\(/ &&
	    (p == "" || p ~ /[;{})][ \t]*$/ || p ~ /^[ \t]*(else|do)[ \t]*$/))
		printf "%s:%d: %s\n", FILENAME, FNR, $0
	if ($0 !~ /^[ \t]*$/)
		prev = $0
}' $files)

# shellcheck disable=SC2086
dumps=$(grep -HnE '(^|[^[:alnum:]_])json_dumps[[:space:]]*\(' $files |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)

status=0
if [ -n "$dropped" ]; then
	printf '%s\n' "$dropped"
	echo "unchecked-results: the jansson calls above drop their result: check it" \
		"(== 0), or the record or answer may go out without a member" >&2
	status=1
fi
if [ -n "$dumps" ]; then
	printf '%s\n' "$dumps"
	echo "unchecked-results: json_dumps can return a malformed text: use" \
		"cid_json_dumps (buf.h)" >&2
	status=1
fi
[ "$status" -eq 0 ] && echo "unchecked-results: clean"
exit "$status"
