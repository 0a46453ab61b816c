#!/bin/sh
# Create or upgrade Temporal's schemas in its own databases; runs (in the admin-tools image)
# before every start of the temporal service. Both steps are no-ops when already current.
# The databases themselves are made by deploy/postgres/initdb on the first PostgreSQL start.
set -eu

: "${DBNAME:?}" "${VISIBILITY_DBNAME:?}" "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}"
: "${SQL_PASSWORD:?}" # read by temporal-sql-tool
port="${DB_PORT:-5432}"
schemas=/etc/temporal/schema/postgresql/v12

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"
}

for target in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
    db="${target%%:*}"
    kind="${target#*:}"
    echo "temporal schema: $db ($kind)"
    sql_tool --db "$db" setup-schema -v 0.0
    sql_tool --db "$db" update-schema -d "$schemas/$kind/versioned"
done
echo "temporal schema: up to date"
