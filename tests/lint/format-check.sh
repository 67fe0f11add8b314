#!/usr/bin/env bash
# Fails if a C file is not formatted by the root .clang-format: libauth/*.[ch],
# server/**/*.[ch] and tests/**/*.c. Reformat with `clang-format -i FILE`.
# Fails when clang-format is not installed: a check that cannot run fails.
# Usage: format-check.sh [SOURCE_ROOT]   (default: the repository root)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/../.." && pwd)"}
cd "$root"

cf=
for c in clang-format clang-format-14; do
	if command -v "$c" >/dev/null 2>&1; then
		cf=$c
		break
	fi
done
if [ -z "$cf" ]; then
	echo "format-check: clang-format is not installed (deploy/install-deps.sh test)" >&2
	exit 1
fi

mapfile -d '' files < <(
	{
		find libauth -type f \( -name '*.c' -o -name '*.h' \) -print0
		find server -type f \( -name '*.c' -o -name '*.h' \) -print0
		find tests -type f -name '*.c' -not -path '*/node_modules/*' -print0
	} | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
	echo "format-check: no files found under $root" >&2
	exit 1
fi

# --style=file: the root .clang-format, found by walking up from each file.
# One run over all files; its diagnostics name file:line:col of each violation.
if out=$("$cf" --style=file --dry-run --Werror "${files[@]}" 2>&1); then
	echo "format-check: ${#files[@]} files clean"
	exit 0
fi
mapfile -t bad < <(printf '%s\n' "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ "${#bad[@]}" -eq 0 ]; then
	printf '%s\n' "$out" >&2 # clang-format failed for another reason
	exit 1
fi
printf 'not formatted: %s\n' "${bad[@]}"
echo "format-check: ${#bad[@]} of ${#files[@]} files differ;" \
	"see the diff with: $cf FILE | diff FILE -" >&2
exit 1
