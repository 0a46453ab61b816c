#!/usr/bin/env bash
# First start of the postgresql service only (the image runs /docker-entrypoint-initdb.d on an
# empty data volume): one role and one database for the care records, another role and two
# databases for Temporal. Neither role can connect to the other's databases.
#
# Changing CARE_RECORDS_DB_PASSWORD or TEMPORAL_DB_PASSWORD later does not re-run this script:
# run `ALTER ROLE carepath PASSWORD '...'` (or `temporal`) as the superuser too.
set -euo pipefail

: "${CARE_RECORDS_DB_PASSWORD:?set CARE_RECORDS_DB_PASSWORD}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"

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
