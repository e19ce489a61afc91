#!/usr/bin/env bash
# `make bench`: builds optimised binaries, starts a stack of its own (own ports, fresh database) and runs
# the benchmarks against it. Numbers are printed next to a baseline measured in the same run.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

o=${ORDERLY_PORT_OFFSET:-0} # a second checkout's bench moves with its other ports
export ORDERLY_API_PORT=$((3300 + o)) ORDERLY_WS_PORT=$((3301 + o)) ORDERLY_CONTROL_PORT=$((3302 + o))
export ORDERLY_PROVIDER_PORT=$((3303 + o)) ORDERLY_EMULATOR_PORT=$((4569 + o))
export ORDERLY_TRUST_FORWARDED_FOR=1 RUST_LOG="${RUST_LOG:-warn}"
# Under the benchmarks' load some messages were received and never deleted (not seen in AWS): they came
# back after the queue's visibility timeout, and each drain before a measured side waited that long (up
# to the payments queue's 180 s). One cause was found and fixed: moto's receive, run by several pollers
# at once, could fail after marking messages in flight, so no one held them (moto_server.py,
# `_receive_one_at_a_time`). The shorter timeout stays so that any other such loss costs a drain 30 s, not
# 180; every function here finishes within a second, far inside 30 s.
export ORDERLY_QUEUE_VISIBILITY_SECONDS="${ORDERLY_QUEUE_VISIBILITY_SECONDS:-30}"
log "building optimised binaries (profile bench-local)"
cargo build --quiet --profile bench-local -p orderly-local --bins
if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY:-}" = cold-start ]; then
  # The cold-start row measures what is deployed: the release profile (opt-level s, fat LTO, abort on
  # panic), for our artifact and for its hello-world baseline alike.
  log "building the release artifact and the hello-world baseline for the cold-start row"
  cargo build --quiet --release -p orderly-functions --bin bootstrap-api
  cargo build --quiet --release -p orderly-hello-lambda
  export ORDERLY_COLD_START_DIR="$ROOT/target/release"
fi
export ORDERLY_GATEWAY_BIN="$ROOT/target/bench-local/orderly-local"
# Every row writes its figures to target/bench/<row>.csv; the summary gathers them into one table.
summarise() {
  BENCH_COMMIT="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
    "$ROOT/target/bench-local/orderly-bench" --summary
}

# The metrics aggregation core runs in memory, before anything else starts on the machine.
if [ "${BENCH_ONLY:-}" = metrics ] || [ -z "${BENCH_ONLY:-}" ]; then
  "$ROOT/target/bench-local/orderly-bench" --metrics-only
  if [ "${BENCH_ONLY:-}" = metrics ]; then summarise; exit 0; fi
fi

"$ROOT/infra/scripts/venv.sh"
# The emulator's own cost against queue depth, stock moto next to ours (no stack needed).
emulator_row() {
  "$VENV/bin/python" "$ROOT/infra/emulator/depth_bench.py" --out "$ROOT/target/bench/emulator.md"
}
if [ "${BENCH_ONLY:-}" = emulator ]; then
  emulator_row
  exit 0
fi

started_postgres=""
if [ -z "${DATABASE_URL:-}" ]; then
  "$ROOT/infra/scripts/postgres.sh" status >/dev/null 2>&1 || started_postgres=1
  "$ROOT/infra/scripts/postgres.sh" start
  DATABASE_URL="$(fresh_database orderly_bench)"
fi
export DATABASE_URL
local_identity
# Figures about speed are taken with production durability: the private cluster runs with fsync,
# synchronous_commit and full_page_writes off for development, so turn them on for the run (every
# figure prints the settings it was taken with) and back off at the end.
durable=""
if [[ "$DATABASE_URL" == *"@127.0.0.1:$ORDERLY_PG_PORT/"* ]]; then
  durable=1
  production_durability on
fi
restore_durability() {
  [ -n "$durable" ] || return 0
  production_durability off
}
trap 'set +e; stop_stack; restore_durability; [ -n "$started_postgres" ] && "$ROOT/infra/scripts/postgres.sh" stop' EXIT
start_stack "$LOCAL_DIR/bench-stack.log"

export PGBENCH="$(pg_bindir)/pgbench"
export ORDERLY_BENCH_API="http://127.0.0.1:$ORDERLY_API_PORT"
# BENCH_ONLY=settlement, websocket, pipeline, ingest, analytics, flash-sale, cold-start, metrics or emulator
# runs that row alone.
if [ -n "${BENCH_ONLY:-}" ]; then
  "$ROOT/target/bench-local/orderly-bench" "--$BENCH_ONLY-only"
  summarise
  exit 0
fi
"$ROOT/target/bench-local/orderly-bench"
# Cold start of the real bootstrap next to a hello-world lambda_runtime binary (the stack only lends the
# function's variables, its secret and database).
"$ROOT/target/bench-local/orderly-bench" --cold-start-only
# A fresh stack for the settlement row, so that the gateway's peak memory it prints is the settlement's.
stop_stack
start_stack "$LOCAL_DIR/bench-stack.log"
"$ROOT/target/bench-local/orderly-bench" --settlement-only
# One for event ingest, from an empty events table.
stop_stack
start_stack "$LOCAL_DIR/bench-stack.log"
"$ROOT/target/bench-local/orderly-bench" --ingest-only
# Analytics at 10 M events, on the same stack (the ingest row's events are a rounding error beside them).
"$ROOT/target/bench-local/orderly-bench" --analytics-only
# One for the pipeline's drain, from empty queues.
stop_stack
start_stack "$LOCAL_DIR/bench-stack.log"
"$ROOT/target/bench-local/orderly-bench" --pipeline-only
# One for flash sales: a queued backlog decided by the reservation function, next to the hot-row ceiling.
stop_stack
start_stack "$LOCAL_DIR/bench-stack.log"
"$ROOT/target/bench-local/orderly-bench" --flash-sale-only
# And one for the WebSocket row: 10,000 sockets of its own.
stop_stack
start_stack "$LOCAL_DIR/bench-stack.log"
"$ROOT/target/bench-local/orderly-bench" --websocket-only

# Again with no events published at all (the outbox sweeper mode): placement alone, against which the
# relay's cost on the same two cores shows (docs/adr/0017).
stop_stack
OUTBOX_PUBLISH=sweeper start_stack "$LOCAL_DIR/bench-stack.log"
OUTBOX_PUBLISH=sweeper "$ROOT/target/bench-local/orderly-bench" --orders-only
stop_stack
emulator_row
summarise
