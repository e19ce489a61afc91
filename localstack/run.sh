#!/usr/bin/env bash
# LocalStack community core in host mode (no Docker), in the foreground, on 127.0.0.1:$ORDERLY_EMULATOR_PORT.
# Installs it into .venv-localstack from the pins beside this script on first use.
source "$(dirname "$0")/../infra/scripts/common.sh"

LS_VENV="$ROOT/.venv-localstack"
requirements="$ROOT/localstack/requirements.txt"
stamp="$LS_VENV/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$LS_VENV/bin/localstack" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "LocalStack 4.13 in host mode needs Python 3.11 (found $(python3 --version))"
  log "installing LocalStack into .venv-localstack (a few minutes, once)"
  [ -x "$LS_VENV/bin/python" ] || python3 -m venv "$LS_VENV"
  "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi

mkdir -p "$LOCAL_DIR/localstack"
export GATEWAY_LISTEN="127.0.0.1:$ORDERLY_EMULATOR_PORT"
export SERVICES="sqs,sns,s3,secretsmanager"
export SQS_ENDPOINT_STRATEGY=path # queue URLs on the gateway host itself, no *.localhost DNS
export DNS_ADDRESS=0              # no DNS server of its own (needs port 53 and root)
export LOCALSTACK_VOLUME_DIR="$LOCAL_DIR/localstack"
export FILESYSTEM_ROOT="$LOCAL_DIR/localstack/fs"
export SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY_DISABLED=1
exec "$LS_VENV/bin/localstack" start --host --no-banner
