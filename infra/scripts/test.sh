#!/usr/bin/env bash
# `make test`: formatting, lints, unit and integration tests (real Postgres, a database per test), then the
# end-to-end suite against a local stack started for it on its own ports and database, then the outage
# test that stops Postgres, the suites again with every function as the real bootstrap (process mode), a
# small chaos run and the shutdown check. Installs what a fresh machine lacks. Exits non-zero on the first
# failure.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
started_at=$SECONDS

# The test stack runs beside a `make dev` stack without touching it.
o=$ORDERLY_PORT_OFFSET # and beside another checkout's, moved with its other ports
export ORDERLY_API_PORT=${ORDERLY_TEST_API_PORT:-$((3100 + o))} ORDERLY_WS_PORT=${ORDERLY_TEST_WS_PORT:-$((3101 + o))}
export ORDERLY_CONTROL_PORT=${ORDERLY_TEST_CONTROL_PORT:-$((3102 + o))} ORDERLY_EMULATOR_PORT=${ORDERLY_TEST_EMULATOR_PORT:-$((4567 + o))}
export ORDERLY_PROVIDER_PORT=${ORDERLY_TEST_PROVIDER_PORT:-$((3103 + o))}
# Where the stack's output goes: the notification test reads the notifier's log line from it.
export ORDERLY_STACK_LOG="$LOCAL_DIR/test-stack.log"
# Redelivery after a failed batch in seconds, not the template's minutes.
export ORDERLY_QUEUE_VISIBILITY_SECONDS=${ORDERLY_QUEUE_VISIBILITY_SECONDS:-2}
# Settlements in small batches (many batch boundaries to cancel or die at, and a walk that lasts long
# enough to be seen running: two walkers count 20,000 rows in about a second at 10 a batch) and a lease
# that runs out in seconds (a killed run's job is taken over quickly), instead of 10,000 and 120 s.
export SETTLEMENT_BATCH_SIZE=10 SETTLEMENT_LEASE_SECONDS=3
# What the end-to-end tests need to know about the stack they test: the first admin, the signing key (to
# forge tokens that must be refused), a CORS origin, and per-test client addresses for the login limits.
export ORDERLY_ADMIN_EMAIL=admin@orderly.test
export ORDERLY_ADMIN_PASSWORD="test-admin-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
export JWT_SIGNING_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export CORS_ALLOWED_ORIGINS=https://shop.example.test
export ORDERLY_TRUST_FORWARDED_FOR=1

step() { log "── $* ($((SECONDS - started_at)) s)"; }

# `ORDERLY_E2E_ONLY="connections websocket"`: while working on them, only these end-to-end suites, against
# a fresh stack (no lints, unit tests or other suites). CI never sets it.
only="${ORDERLY_E2E_ONLY:-}"

if [ -z "$only" ]; then
step "rustfmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

step "dependencies (cargo deny: licences, duplicates, sources; advisories when the database is reachable)"
command -v cargo-deny >/dev/null || cargo install --quiet --locked cargo-deny@0.20.2
cargo deny --log-level error check licenses bans sources
# The RustSec advisory database lives on GitHub; machines that cannot reach it cannot check advisories.
if cargo deny --log-level error fetch db >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
else
  log "advisories NOT checked: the RustSec database (github.com/rustsec/advisory-db) is unreachable from here"
fi
fi

step "tools"
"$ROOT/infra/scripts/venv.sh"
export CFN_LINT="$VENV/bin/cfn-lint"
started_postgres=""
if [ -z "${DATABASE_URL:-}" ]; then
  "$ROOT/infra/scripts/postgres.sh" status >/dev/null 2>&1 || started_postgres=1
  "$ROOT/infra/scripts/postgres.sh" start
  server_url="postgres://postgres@127.0.0.1:$ORDERLY_PG_PORT/postgres"
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$server_url}"
  # The end-to-end stack gets its own database, fresh each run.
  DATABASE_URL="$(fresh_database orderly_e2e)"
  export DATABASE_URL
  # Leftovers of earlier runs' per-test databases.
  for db in $(psql "$server_url" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'orderly_test_%'"); do
    psql "$server_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  done
else
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$DATABASE_URL}"
fi
# The outage test, the process-mode run's fresh database and the chaos run stop, create or crash the
# cluster: only ours, never a DATABASE_URL the caller gave.
private_cluster=""
[ "$TEST_DATABASE_URL" = "postgres://postgres@127.0.0.1:$ORDERLY_PG_PORT/postgres" ] && private_cluster=1

finish() {
  local status=$?
  set +e # cleanup must run to the end whatever a step returns
  stop_stack
  [ -n "$started_postgres" ] && "$ROOT/infra/scripts/postgres.sh" stop
  if [ "$status" = 0 ]; then log "all tests passed in $((SECONDS - started_at)) s"; else
    log "tests FAILED (exit $status) after $((SECONDS - started_at)) s; stack log: $LOCAL_DIR/test-stack.log"
  fi
}
trap finish EXIT

# The end-to-end suites, in the order they run: together first, then the outage test (which stops
# Postgres), then the order load tests. A suite in tests/tests that is in none of these would never run.
together=(api websocket connections concurrency events identity security catalogue pipeline settlement notifications metrics flash_sale)
for suite in "$ROOT"/tests/tests/*.rs; do
  suite="$(basename "$suite" .rs)"
  [[ " ${together[*]} orders outage " == *" $suite "* ]] \
    || die "tests/tests/$suite.rs is not run by make test: add it to infra/scripts/test.sh"
done

# The real Lambda artifacts: process mode runs them, and unit tests of the gateway start them.
cargo build --quiet -p orderly-functions --bins
if [ -z "$only" ]; then
  step "unit and integration tests"
  cargo test --workspace --exclude orderly-e2e
fi

step "starting the local stack for end-to-end tests ($AWS_EMULATOR)"
cargo build --quiet -p orderly-local
given_endpoint="${AWS_ENDPOINT_URL:-}" # an emulator of the caller's, else the stack starts its own
start_stack "$ORDERLY_STACK_LOG"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:$ORDERLY_EMULATOR_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

if [ -n "$only" ]; then
  step "end-to-end tests: $only only (ORDERLY_E2E_ONLY)"
  read -ra suites <<<"$only"
  cargo test -p orderly-e2e "${suites[@]/#/--test=}"
  exit 0
fi

step "end-to-end tests"
cargo test -p orderly-e2e "${together[@]/#/--test=}"

step "WebSocket management API through a second SDK (boto3)"
"$VENV/bin/python" "$ROOT/tests/parity/ws_management.py"
step "SQS through boto3: the emulator's speed fixes keep SQS's behaviour"
"$VENV/bin/python" "$ROOT/tests/parity/sqs_semantics.py"
step "API fuzzing: Schemathesis from /openapi.json as an admin and a customer (bounded; make fuzz runs long)"
ORDERLY_FUZZ_SEED=20261203 "$ROOT/infra/scripts/fuzz.sh" 8
# The outage test stops Postgres and waits for the stack to heal; it starts from drained queues, which after
# the suites above takes seconds.
if [ -n "$private_cluster" ]; then
  step "outage test (stops and restarts Postgres)"
  cargo test -p orderly-e2e --test outage
else
  log "the outage test stops the private cluster; with an external DATABASE_URL it cannot run, and did not"
fi

# The order load tests go last: they leave over a thousand orders' events queued (minutes of work for the
# emulator's SNS fan-out, docs/adr/0012), and tests that wait for the pipeline would wait behind them.
step "order load tests"
cargo test -p orderly-e2e --test orders

# Parity: the same suites with every function as the real bootstrap, in execution environments over the
# Lambda Runtime API, with exactly its template variables (docs/adr/0020-process-mode.md).
step "end-to-end tests again with ORDERLY_RUNTIME=process (a fresh stack and database)"
stop_stack
[ -z "$given_endpoint" ] && unset AWS_ENDPOINT_URL
if [ -n "$private_cluster" ]; then
  DATABASE_URL="$(fresh_database orderly_e2e_process)"
fi
ORDERLY_RUNTIME=process start_stack "$ORDERLY_STACK_LOG"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:$ORDERLY_EMULATOR_PORT}"
cargo test -p orderly-e2e "${together[@]/#/--test=}"
stop_stack

if [ -n "$private_cluster" ]; then
  step "chaos, small: 1,000 orders under kills, a Postgres crash, payment faults, redeliveries (make chaos: 10,000)"
  env -u DATABASE_URL ORDERLY_SKIP_BUILD=1 ORDERLY_CHAOS_SETTLE_SECONDS=180 "$ROOT/infra/scripts/chaos.sh" 1000 1
else
  log "the chaos run crashes the private cluster; with an external DATABASE_URL it cannot run, and did not"
fi

step "the stack stops clean: signals at random moments, crashes reclaimed"
"$ROOT/infra/scripts/check-shutdown.sh"
