#!/usr/bin/env bash
# Fails if a libauth layer includes a header of a layer above it, if a libauth
# source sits outside the layers, or if server/ includes LMDB, OpenSSL or a
# libauth header that is internal to its layer (*_int.h). The build enforces
# the first with per-layer include paths (libauth/CMakeLists.txt); this check
# says which line breaks the rule, and also catches includes by relative path.
# Usage: layers.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/../.." && pwd)"}
cd "$root"

layers=(foundation identity privacy protocol pages)
declare -A rank home
for i in "${!layers[@]}"; do
	rank[${layers[$i]}]=$i
	for h in libauth/"${layers[$i]}"/*.h; do
		home[$(basename "$h")]=${layers[$i]}
	done
done

bad=0
stray=$(find libauth -type f \( -name '*.c' -o -name '*.h' \) | grep -vE "^libauth/($(
	IFS='|'
	echo "${layers[*]}"
))/[^/]+$" || true)
if [ -n "$stray" ]; then
	printf '%s: not in a layer folder\n' $stray
	bad=1
fi
for layer in "${layers[@]}"; do
	for f in libauth/"$layer"/*.[ch]; do
		while IFS=: read -r line inc; do
			name=$(basename "$inc")
			to=${home[$name]:-}
			[ -n "$to" ] || continue # a system or library header
			if [ "${rank[$to]}" -gt "${rank[$layer]}" ]; then
				echo "$f:$line: $layer includes $name of the higher layer $to"
				bad=1
			fi
		done < <(grep -nE '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
	done
done
if hits=$(grep -rnE '^#include [<"](lmdb\.h|openssl/|[a-z_]+_int\.h)' server); then
	printf '%s\n' "$hits"
	echo "layers: server/ reaches below libauth's API (LMDB, OpenSSL or a module's internals)"
	bad=1
fi
if [ "$bad" -ne 0 ]; then
	echo "layers: see libauth/README.md for the layers and the rule" >&2
	exit 1
fi
echo "layers: every include points down or sideways"
