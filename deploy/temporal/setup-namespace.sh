#!/bin/sh
# Make carepath's Temporal namespace and register its search attributes; runs (in the
# admin-tools image) on every `docker compose up`, after the temporal service is healthy.
# Idempotent: existing namespace and attributes are kept; an attribute that exists with
# another type is an error (Temporal cannot change a type in place).
#
#   TEMPORAL_ADDRESS     frontend, e.g. temporal:7233 (also read by the temporal CLI)
#   NAMESPACE            the namespace the worker and the API use (CAREPATH_TEMPORAL_NAMESPACE)
#   NAMESPACE_RETENTION  how long closed episodes' histories are kept, e.g. 30d
#   SEARCH_ATTRIBUTES    space-separated Name=Type pairs (workflows/search_attributes.py)
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
retention="${NAMESPACE_RETENTION:-30d}"

retry() { # retry <what> <command...>: up to 30 tries, 2 s apart
    what="$1"
    shift
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 30 ]; then
            echo "setup-namespace: gave up: $what" >&2
            return 1
        fi
        sleep 2
    done
}

retry "cluster health at $TEMPORAL_ADDRESS" \
    temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "setup-namespace: namespace $NAMESPACE exists"
else
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" --retention "$retention"
    echo "setup-namespace: namespace $NAMESPACE created (retention $retention)"
fi
# A new namespace reaches every frontend's cache within seconds; wait until it answers.
retry "namespace $NAMESPACE visible" \
    temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE" >/dev/null

listed_type() { # the registered type of attribute $1, or nothing
    temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" | awk -v name="$1" '$1 == name { print $2 }'
}

for pair in $SEARCH_ATTRIBUTES; do
    name="${pair%%=*}"
    type="${pair#*=}"
    current="$(listed_type "$name")"
    if [ -z "$current" ]; then
        retry "create $name" temporal operator search-attribute create \
            --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --name "$name" --type "$type"
        echo "setup-namespace: search attribute $name ($type) created"
    elif [ "$current" = "$type" ]; then
        echo "setup-namespace: search attribute $name ($type) exists"
    else
        echo "setup-namespace: search attribute $name is $current, carepath needs $type" >&2
        exit 1
    fi
done
