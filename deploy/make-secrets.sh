#!/bin/sh
# make-secrets.sh [DIR]: create every secret file docker-compose.yml mounts (default
# ./secrets, ignored by git and by the image build). Existing files are kept, so it is safe
# to re-run; delete a file and re-run to replace that one secret (see deploy/README.md for
# what else a rotation needs). Integration secrets (payer API key, webhook secret) come
# from the clearinghouse and the clinic: this writes placeholders that the worker refuses.
set -eu

dir="${1:-./secrets}"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random() { # 32 random bytes, hex (URL-safe, no quoting needed anywhere)
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}

put() { # put NAME VALUE: write once, readable by the containers' users (0444 in a 0700 dir)
    if [ ! -e "$dir/$1" ]; then
        printf '%s\n' "$2" >"$dir/$1"
        chmod 444 "$dir/$1"
        echo "make-secrets: wrote $dir/$1"
    fi
}

put postgres_password "$(random)"
put records_db_password "$(random)"
put temporal_db_password "$(random)"
# The payload key ring: `kid:base64(32 bytes)`, newest first, one per line (codec/keys.py).
put codec_keys "$(date -u +%Y-%m):$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
put operator_tokens "$(random)"
put codec_session_secret "$(random)"
# Bearer token -> grant (api/settings.py); edit to give each clinic system its own key.
put api_keys.json "{\"$(random)\": {\"role\": \"operator\", \"programs\": [\"*\"], \"actor\": \"ops-1\"}}"
put grafana_admin_password "$(random)"
put payer_api_key ""
put webhook_secret ""
# Optional patient channels: smtp://user:password@host:587 (or smtps://...:465), the SMS
# gateway's auth token. Left empty: not configured.
put smtp_url ""
put sms_token ""
echo "make-secrets: fill in $dir/payer_api_key and $dir/webhook_secret before starting"
