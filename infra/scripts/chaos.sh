#!/usr/bin/env bash
# `make chaos`: orders under faults against a stack of its own (process mode: every function the real
# bootstrap; own ports and a fresh database on the private cluster, with production durability), then the
# invariants (target/debug/orderly-chaos). Bounded: the load is a fixed number of orders, settling has a
# deadline. Exits non-zero when an invariant is violated. chaos.sh [ORDERS] [KILL_WAVES]
source "$(dirname "$0")/common.sh"
cd "$ROOT"
orders="${1:-10000}" kill_waves="${2:-3}"

[ -z "${DATABASE_URL:-}" ] || die "make chaos crashes Postgres, so it runs on the private cluster only: unset DATABASE_URL"
o=${ORDERLY_PORT_OFFSET:-0}
export ORDERLY_API_PORT=$((3500 + o)) ORDERLY_WS_PORT=$((3501 + o)) ORDERLY_CONTROL_PORT=$((3502 + o))
export ORDERLY_PROVIDER_PORT=$((3503 + o)) ORDERLY_EMULATOR_PORT=$((4572 + o))
export ORDERLY_RUNTIME=process ORDERLY_TRUST_FORWARDED_FOR=1 RUST_LOG="${RUST_LOG:-warn}"
# Redelivery in seconds rather than the template's minutes, so retried messages settle within the run.
export ORDERLY_QUEUE_VISIBILITY_SECONDS=2
export ORDERLY_POSTGRES_SCRIPT="$ROOT/infra/scripts/postgres.sh"
unset AWS_ENDPOINT_URL

if [ -z "${ORDERLY_SKIP_BUILD:-}" ]; then
  log "building the gateway, the bootstrap-* artifacts and the chaos driver"
  cargo build --quiet -p orderly-local
  cargo build --quiet -p orderly-functions --bins
fi
started_postgres=""
"$ROOT/infra/scripts/postgres.sh" status >/dev/null 2>&1 || started_postgres=1
"$ROOT/infra/scripts/postgres.sh" start
DATABASE_URL="$(fresh_database orderly_chaos)"
export DATABASE_URL
local_identity
# A crash must not lose an acknowledged order: that holds with production settings only.
production_durability on
trap 'set +e; stop_stack; production_durability off; [ -n "$started_postgres" ] && "$ROOT/infra/scripts/postgres.sh" stop' EXIT
start_stack "$LOCAL_DIR/chaos-stack.log"
export AWS_ENDPOINT_URL="http://127.0.0.1:$ORDERLY_EMULATOR_PORT"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
"$ROOT/target/debug/orderly-chaos" --orders "$orders" --kill-waves "$kill_waves" \
  --settle-seconds "${ORDERLY_CHAOS_SETTLE_SECONDS:-300}" --prove-checks
