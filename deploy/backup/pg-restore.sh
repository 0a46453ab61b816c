#!/bin/sh
# pg-restore.sh SET_DIR: restore every dump of one backup set (after checking SHA256SUMS),
# each database dropped and re-created from its dump. Stop the writers first (worker, api,
# temporal: deploy/README.md, "Restore"). Connection as for pg-backup.sh, as a superuser.
set -eu

set_dir="${1:?usage: pg-restore.sh SET_DIR}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi
(cd "$set_dir" && sha256sum --check --quiet SHA256SUMS)
for dump in "$set_dir"/*.dump; do
    db="$(basename "$dump" .dump)"
    # --create --clean: drop the database if it exists and re-create it as it was dumped
    # (owner, encoding, privileges); connect to `postgres` to do so.
    pg_restore --create --clean --if-exists --exit-on-error --dbname=postgres "$dump"
    echo "pg-restore: $db restored from $dump"
done
