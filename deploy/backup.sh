#!/usr/bin/env bash
# Hot backup of a civicid store while the server runs: mdb_copy takes a
# consistent snapshot (a read transaction), compacted. Usage: deploy/backup.sh STORE DEST_DIR
set -euo pipefail
store=${1:?usage: deploy/backup.sh STORE DEST_DIR}
dest=${2:?usage: deploy/backup.sh STORE DEST_DIR}/civicid-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dest"
chmod 0700 "$dest"
mdb_copy -c "$store" "$dest"
echo "$dest"
