#!/bin/sh
# with-secret-files.sh COMMAND...: for every `NAME_FILE=/path` in the environment, export
# NAME with the file's contents, then exec COMMAND. For images that read a secret only
# from a variable (Temporal's server reads POSTGRES_PWD, temporal-sql-tool SQL_PASSWORD):
# the value then lives in this process's environment only, never in the container's
# configuration. Mounted secrets are files under /run/secrets (docker-compose.yml).
set -eu

for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1/p'); do
    eval "path=\${${name}_FILE}"
    if [ ! -r "$path" ]; then
        echo "with-secret-files: ${name}_FILE=$path is not readable" >&2
        exit 1
    fi
    # Command substitution drops the trailing newline a hand-written file ends with.
    value="$(cat "$path")"
    export "$name=$value"
    unset "${name}_FILE"
done
exec "$@"
