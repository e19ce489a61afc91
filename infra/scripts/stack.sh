#!/usr/bin/env bash
# `make dev`: Postgres (private cluster, or DATABASE_URL), the AWS emulator (moto, LocalStack, or
# AWS_ENDPOINT_URL), migrations, and the local gateway, in the foreground. Ctrl-C or SIGTERM stops
# everything this script started and nothing else.
source "$(dirname "$0")/common.sh"

if pid=$(recorded_proc stack); then
  die "the local stack is already running (pid $pid): REST http://127.0.0.1:$ORDERLY_API_PORT, WebSocket ws://127.0.0.1:$ORDERLY_WS_PORT. Stop it with Ctrl-C in its terminal or 'make stop'."
fi
reclaim_dead_stack
for port in "$ORDERLY_API_PORT" "$ORDERLY_WS_PORT" "$ORDERLY_CONTROL_PORT" "$ORDERLY_PROVIDER_PORT"; do
  port_in_use "$port" && die "port $port is already in use by another program; $(port_advice) (ORDERLY_API_PORT, ORDERLY_WS_PORT, ORDERLY_CONTROL_PORT, ORDERLY_PROVIDER_PORT)"
done
record_proc stack $$

emulator_pid="" gateway_pid="" gateway_group="" started_postgres=""
cleanup() {
  trap '' INT TERM # (again, for an exit that no signal caused)
  trap - EXIT
  set +e # cleanup must run to the end whatever a step returns
  [ -n "$gateway_pid" ] && kill -TERM "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  # What is left of the gateway's process group: execution environments (ORDERLY_RUNTIME=process) of a
  # gateway that died without stopping them (a kill -9), which would otherwise finish their invocations.
  [ -n "$gateway_group" ] && kill -KILL -- "-$gateway_group" 2>/dev/null
  if [ -n "$emulator_pid" ]; then
    # The emulator may have children of its own (LocalStack does): stop its whole process group.
    kill -TERM -- "-$emulator_pid" 2>/dev/null || kill -TERM "$emulator_pid" 2>/dev/null
    wait "$emulator_pid" 2>/dev/null
  fi
  [ -n "$started_postgres" ] && "$ROOT/infra/scripts/postgres.sh" stop
  local role
  for role in gateway emulator postgres stack; do forget_proc "$role"; done
  log "stopped"
}
trap cleanup EXIT
# The first signal starts the cleanup; from then on signals are ignored, before `exit` runs the EXIT trap,
# so that one arriving on its heels (make forwards the SIGTERM its process group also got) cannot land
# inside the cleanup and end it early.
trap 'trap "" INT TERM; exit 130' INT
trap 'trap "" INT TERM; exit 143' TERM

# Build while the services start: the gateway binary is the slow part on a fresh clone.
if [ -z "${ORDERLY_SKIP_BUILD:-}" ]; then
  log "building the local gateway"
  (cd "$ROOT" && cargo build --quiet -p orderly-local)
  if [ "${ORDERLY_RUNTIME:-}" = process ]; then
    log "building the bootstrap-* artifacts (ORDERLY_RUNTIME=process: functions run as the real binaries)"
    (cd "$ROOT" && cargo build --quiet -p orderly-functions --bins)
  fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
  if ! "$ROOT/infra/scripts/postgres.sh" status >/dev/null 2>&1; then
    # Recorded before it starts: a stack killed while Postgres starts still has it reclaimed.
    started_postgres=1
    record_proc postgres $$
  fi
  "$ROOT/infra/scripts/postgres.sh" start
  DATABASE_URL="$("$ROOT/infra/scripts/postgres.sh" url)"
fi
export DATABASE_URL

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  port_in_use "$ORDERLY_EMULATOR_PORT" && die "port $ORDERLY_EMULATOR_PORT (AWS emulator) is in use; $(port_advice) (ORDERLY_EMULATOR_PORT), or set AWS_ENDPOINT_URL to use what holds it"
  [ "$AWS_EMULATOR" = moto ] && "$ROOT/infra/scripts/venv.sh"
  log "starting $AWS_EMULATOR on 127.0.0.1:$ORDERLY_EMULATOR_PORT"
  set -m # its own process group, so cleanup reaches its children
  "$ROOT/infra/scripts/emulator.sh" >"$LOCAL_DIR/emulator.log" 2>&1 &
  emulator_pid=$!
  record_proc emulator "$emulator_pid"
  set +m
  wait_for_port "$ORDERLY_EMULATOR_PORT" "${ORDERLY_EMULATOR_START_SECONDS:-120}" \
    || die "$AWS_EMULATOR did not start; see $LOCAL_DIR/emulator.log"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$ORDERLY_EMULATOR_PORT"
fi
local_identity
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://localhost:5173,http://127.0.0.1:5173}"
log "first admin: $ORDERLY_ADMIN_EMAIL (password in .local/admin-password unless ORDERLY_ADMIN_PASSWORD is set)"

# Emulators accept any credentials; real ones, when set, are left alone.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

set -m # its own process group, which the processes it starts (process mode's environments) share
ORDERLY_TEMPLATE="$ROOT/template.yaml" "${ORDERLY_GATEWAY_BIN:-$ROOT/target/debug/orderly-local}" &
gateway_pid=$!
gateway_group=$gateway_pid
record_proc gateway "$gateway_pid"
set +m
wait "$gateway_pid"
status=$?
gateway_pid=""
exit "$status"
