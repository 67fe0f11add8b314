#!/usr/bin/env bash
# Fails if libauth/ or server/ call a function the house style bans: unbounded
# copies and formatting (strcpy strcat strncpy sprintf vsprintf gets), hidden
# state (strtok), unchecked number parsing (atoi atol sscanf), a weak PRNG
# (rand) or a shell (system). Bytes travel as pointer + length into cid_buf,
# numbers go through cid_parse_u64 and randomness through crypto.c.
# Lines that are only comments are skipped; each hit is printed as file:line.
# Usage: banned-calls.sh [SOURCE_ROOT]   (default: the repository root)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/../.." && pwd)"}
cd "$root"

banned='strcpy|strcat|strncpy|sprintf|vsprintf|gets|strtok|atoi|atol|sscanf|rand|system'
# a call: the name as a whole word followed by '('; snprintf, strncat, srand do not match
pattern="(^|[^[:alnum:]_])($banned)[[:space:]]*\\("

hits=$(find libauth server -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z |
	xargs -0 -r grep -HnE "$pattern" |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)

if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	echo "banned-calls: the calls above are banned (see HOUSE-STYLE rule 17): use" \
		"cid_buf / snprintf, cid_parse_u64, cid_random_bytes" >&2
	exit 1
fi
echo "banned-calls: clean"
