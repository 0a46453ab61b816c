#!/bin/sh
# pg-backup.sh: one backup set — a pg_dump (custom format) of each database — under
# BACKUP_DIR/<UTC stamp>/, checked readable with pg_restore --list, with SHA256SUMS; then
# keeps only the BACKUP_KEEP newest sets. A set appears under its final name only when
# every dump in it is complete (written as .partial-*, then renamed).
#
#   BACKUP_DIR        where sets go (a volume that is copied off the host: deploy/README.md)
#   BACKUP_DATABASES  space-separated (default: carepath temporal temporal_visibility)
#   BACKUP_KEEP       sets to keep (default 14)
#   PGHOST, PGPORT, PGUSER, and PGPASSWORD or PGPASSWORD_FILE: libpq's connection settings
set -eu

: "${BACKUP_DIR:?set BACKUP_DIR}"
databases="${BACKUP_DATABASES:-carepath temporal temporal_visibility}"
keep="${BACKUP_KEEP:-14}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)-$$"
partial="$BACKUP_DIR/.partial-$stamp"
mkdir -p "$partial"
trap 'rm -rf "$partial"' EXIT
for db in $databases; do
    pg_dump --format=custom --compress=6 --file="$partial/$db.dump" "$db"
    pg_restore --list "$partial/$db.dump" >/dev/null
done
(cd "$partial" && sha256sum -- *.dump >SHA256SUMS)
mv "$partial" "$BACKUP_DIR/$stamp"
trap - EXIT
echo "pg-backup: $BACKUP_DIR/$stamp ($databases)"

# Retention: sets sort by their UTC stamp; drop all but the newest $keep.
count="$(find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '2*' | wc -l)"
find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '2*' | sort |
    head -n "$((count > keep ? count - keep : 0))" | while read -r old; do
    rm -rf "$old"
    echo "pg-backup: removed $old (keeping $keep)"
done
