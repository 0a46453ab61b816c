#!/usr/bin/env bash
# First start of the postgresql service only (the image runs /docker-entrypoint-initdb.d on an
# empty data volume): one role and one database for the care records, another role and two
# databases for Temporal. Neither role can connect to the other's databases.
#
# The passwords come from secret files (CARE_RECORDS_DB_PASSWORD_FILE, TEMPORAL_DB_PASSWORD_FILE
# under /run/secrets), or from the variables themselves.
# Changing a password later does not re-run this script: see deploy/README.md, "Secrets".
set -euo pipefail

for name in CARE_RECORDS_DB_PASSWORD TEMPORAL_DB_PASSWORD; do
    file_var="${name}_FILE"
    if [ -n "${!file_var:-}" ]; then
        printf -v "$name" '%s' "$(cat "${!file_var}")"
    fi
done
: "${CARE_RECORDS_DB_PASSWORD:?set CARE_RECORDS_DB_PASSWORD_FILE}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD_FILE}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v records_password="$CARE_RECORDS_DB_PASSWORD" \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
-- Care records (DATABASE_URL of the worker and the API; they apply store/migrations).
CREATE ROLE carepath LOGIN PASSWORD :'records_password';
CREATE DATABASE carepath OWNER carepath;
REVOKE ALL ON DATABASE carepath FROM PUBLIC;

-- Temporal persistence and visibility (schemas applied by the temporal-schema service).
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
SQL
