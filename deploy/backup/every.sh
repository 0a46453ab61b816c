#!/bin/sh
# every.sh SECONDS COMMAND...: run COMMAND now and then every SECONDS, for ever (the backup
# service's schedule; a failed run is reported and the next one still happens).
set -u
interval="${1:?usage: every.sh SECONDS COMMAND...}"
shift
while :; do
    "$@" || echo "every: $* failed with status $?" >&2
    sleep "$interval"
done
