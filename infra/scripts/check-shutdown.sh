#!/usr/bin/env bash
# Proves that Ctrl-C on `make dev` leaves nothing behind: starts a stack with its own ports and its own
# Postgres cluster in a new session, sends SIGINT to the whole foreground process group (what a terminal's
# Ctrl-C does), and fails if any process the stack started is still alive 15 s later.
# Set before common.sh, which derives the cluster's folder from them.
export ORDERLY_API_PORT=3200 ORDERLY_WS_PORT=3201 ORDERLY_CONTROL_PORT=3202 ORDERLY_PROVIDER_PORT=3203 ORDERLY_EMULATOR_PORT=4568
export ORDERLY_PG_PORT=15433 ORDERLY_STATE_SUFFIX=shutdown-check
source "$(dirname "$0")/common.sh"
unset DATABASE_URL AWS_ENDPOINT_URL
log_file="$LOCAL_DIR/shutdown-check.log"

descendants() { # every process below $1, recursively
  local child
  for child in $(ps -o pid= --ppid "$1"); do echo "$child"; descendants "$child"; done
}

ORDERLY_SKIP_BUILD=1 setsid "$ROOT/infra/scripts/stack.sh" >"$log_file" 2>&1 &
leader=$!
for _ in $(seq 1 120); do grep -q "local stack is up" "$log_file" && break; sleep 1; done
grep -q "local stack is up" "$log_file" || { cat "$log_file"; die "the stack did not start"; }

started=$(descendants "$leader")
postgres_pid=$(head -1 "$PG_DATA/postmaster.pid")
[ -n "$postgres_pid" ] || die "the stack's Postgres is not running"
log "stack up: script $leader, children: $(echo $started | tr '\n' ' '), postgres $postgres_pid; sending SIGINT"
kill -INT -- "-$leader"

for _ in $(seq 1 150); do
  alive=""
  for pid in $leader $started $postgres_pid; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
  [ -z "$alive" ] && { log "clean shutdown: no process left behind"; exit 0; }
  sleep 0.1
done
ps -o pid,cmd -p $(echo $alive | tr ' ' ',') || true
die "processes still alive 15 s after Ctrl-C:$alive"
