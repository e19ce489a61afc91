#!/usr/bin/env bash
# Starts the AWS emulator in the foreground: moto (default) or LocalStack in host mode.
#   AWS_EMULATOR=moto|localstack emulator.sh
source "$(dirname "$0")/common.sh"

case "$AWS_EMULATOR" in
  moto)
    "$ROOT/infra/scripts/venv.sh"
    # moto with one local speed fix (infra/emulator/moto_server.py says which and why).
    exec "$VENV/bin/python" "$ROOT/infra/emulator/moto_server.py" -H 127.0.0.1 -p "$ORDERLY_EMULATOR_PORT"
    ;;
  localstack)
    exec "$ROOT/localstack/run.sh"
    ;;
  *) die "AWS_EMULATOR must be moto or localstack (got $AWS_EMULATOR)" ;;
esac
