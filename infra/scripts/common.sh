# Shared settings for the local-stack scripts. Sourced, never run.
# Everything a run leaves behind lives in .local/ (git-ignored) or, for the Postgres data when running as
# root, in a per-checkout folder under /tmp that the `postgres` user can enter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$ROOT/.local"
mkdir -p "$LOCAL_DIR"

# A second checkout (a git worktree) runs beside the first with ORDERLY_PORT_OFFSET=10: every default port
# below moves by it. Ports set one by one win over it.
: "${ORDERLY_PORT_OFFSET:=0}"
[[ "$ORDERLY_PORT_OFFSET" =~ ^[0-9]{1,4}$ ]] || { echo "ORDERLY_PORT_OFFSET must be a number (got $ORDERLY_PORT_OFFSET)" >&2; exit 1; }
: "${ORDERLY_API_PORT:=$((3000 + ORDERLY_PORT_OFFSET))}"
: "${ORDERLY_WS_PORT:=$((3001 + ORDERLY_PORT_OFFSET))}"
: "${ORDERLY_CONTROL_PORT:=$((3002 + ORDERLY_PORT_OFFSET))}"
: "${ORDERLY_PROVIDER_PORT:=$((3003 + ORDERLY_PORT_OFFSET))}"
# Below the kernel's ephemeral port range (32768+), so no outgoing connection can be holding it.
: "${ORDERLY_PG_PORT:=$((15432 + ORDERLY_PORT_OFFSET))}"
: "${ORDERLY_EMULATOR_PORT:=$((4566 + ORDERLY_PORT_OFFSET))}"
: "${AWS_EMULATOR:=moto}"
: "${AWS_REGION:=us-east-1}"
export ORDERLY_PORT_OFFSET ORDERLY_API_PORT ORDERLY_WS_PORT ORDERLY_CONTROL_PORT ORDERLY_PROVIDER_PORT ORDERLY_PG_PORT ORDERLY_EMULATOR_PORT AWS_EMULATOR AWS_REGION

VENV="$ROOT/.venv"
# ORDERLY_STATE_SUFFIX gives a second, separate cluster (the shutdown check uses one).
suffix="${ORDERLY_STATE_SUFFIX:+-$ORDERLY_STATE_SUFFIX}"
checkout_id="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)$suffix"
if [ "$(id -u)" = 0 ]; then
  PG_HOME="/tmp/orderly-$checkout_id"
else
  PG_HOME="$LOCAL_DIR/postgres$suffix"
fi
PG_DATA="$PG_HOME/data"
PG_SOCKET="$PG_HOME/socket"
PG_LOG="$LOCAL_DIR/postgres$suffix.log"

log() { printf '\033[1m[orderly]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[orderly] %s\033[0m\n' "$*" >&2; exit 1; }

# Runs a command as the `postgres` user when we are root (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

# Waits until a TCP port on 127.0.0.1 accepts connections, or fails after $2 seconds.
wait_for_port() {
  local port=$1 seconds=${2:-30} i
  for ((i = 0; i < seconds * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# What to tell someone whose port is taken, most often by the stack of another checkout of the project.
port_advice() {
  echo "another checkout's stack? Run this one with ORDERLY_PORT_OFFSET=$((ORDERLY_PORT_OFFSET + 10)) (moves every local port), or set the port's variable"
}

# The processes a stack starts, recorded under .local/procs/ as "pid start-time" (the kernel's start time
# tells a recorded process from a later one that reuses its pid), so that when a stack dies without
# cleaning up (kill -9, a crashed terminal) the next `make dev` or `make stop` reclaims exactly what it had
# started and nothing else. One set per stack, keyed by its REST port.
PROCS_DIR="$LOCAL_DIR/procs"
STACK_KEY="$ORDERLY_API_PORT"
proc_start_time() { # fails for a process that is gone or a zombie (killed, not yet reaped)
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # the fields after the command name, which may hold spaces
  set -- $stat
  [ "$1" != Z ] || return 1
  echo "${20}"
}
record_proc() { # record_proc ROLE PID
  mkdir -p "$PROCS_DIR"
  echo "$2 $(proc_start_time "$2")" >"$PROCS_DIR/$1-$STACK_KEY"
}
recorded_proc() { # prints the pid recorded for ROLE if that very process still runs
  local pid="" start=""
  read -r pid start 2>/dev/null <"$PROCS_DIR/$1-$STACK_KEY" || return 1
  [ -n "$pid" ] && [ -n "$start" ] && [ "$(proc_start_time "$pid")" = "$start" ] && echo "$pid"
}
forget_proc() { rm -f "$PROCS_DIR/$1-$STACK_KEY"; }
wait_gone() { # wait_gone PID SECONDS
  local _
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

# Stops what a dead stack of this checkout had started: its gateway, its emulator (with its process group)
# and the Postgres cluster if that stack had started it. Does nothing while the stack that recorded them
# is alive, and never touches a process that was not recorded.
reclaim_dead_stack() {
  [ -d "$PROCS_DIR" ] || return 0
  recorded_proc stack >/dev/null && return 0
  local pid reclaimed=""
  if pid=$(recorded_proc gateway); then
    # Its process group: the gateway and its execution environments (process mode).
    { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; } && reclaimed="$reclaimed gateway (pid $pid)"
  fi
  if pid=$(recorded_proc emulator); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    wait_gone "$pid" 10 || kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    reclaimed="$reclaimed emulator (pid $pid)"
  fi
  if [ -f "$PROCS_DIR/postgres-$STACK_KEY" ] && "$ROOT/infra/scripts/postgres.sh" status >/dev/null 2>&1; then
    "$ROOT/infra/scripts/postgres.sh" stop
    reclaimed="$reclaimed Postgres ($PG_DATA)"
  fi
  local role
  for role in stack gateway emulator postgres; do forget_proc "$role"; done
  [ -z "$reclaimed" ] || log "reclaimed what a stack that died without cleaning up had left running:$reclaimed"
}

# A secret made once per checkout and kept in .local/ (git-ignored): local_secret FILE BYTES
local_secret() {
  [ -s "$LOCAL_DIR/$1" ] || (umask 077 && head -c "$2" /dev/urandom | base64 | tr -d '\n/+=' >"$LOCAL_DIR/$1")
  cat "$LOCAL_DIR/$1"
}

# The local stack's secrets and first admin, unless the environment sets them.
local_identity() {
  export JWT_SIGNING_KEY="${JWT_SIGNING_KEY:-$(local_secret jwt-signing-key 48)}"
  export ORDERLY_ADMIN_EMAIL="${ORDERLY_ADMIN_EMAIL:-admin@orderly.local}"
  export ORDERLY_ADMIN_PASSWORD="${ORDERLY_ADMIN_PASSWORD:-$(local_secret admin-password 18)}"
}

# A new, empty database on the private cluster; prints its URL: fresh_database NAME
fresh_database() {
  local server="postgres://postgres@127.0.0.1:$ORDERLY_PG_PORT/postgres"
  psql "$server" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "postgres://postgres@127.0.0.1:$ORDERLY_PG_PORT/$1"
}

# Production durability on the private cluster (which runs with fsync, synchronous_commit and
# full_page_writes off for development) for runs whose figures are about speed or durability:
# `production_durability on` turns the three on, `production_durability off` puts the cluster back.
production_durability() {
  local setting statement
  for setting in fsync synchronous_commit full_page_writes; do
    if [ "$1" = on ]; then statement="ALTER SYSTEM SET $setting = on"; else statement="ALTER SYSTEM RESET $setting"; fi
    "$(pg_bindir)/psql" -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U postgres -d postgres -qtAc "$statement" >/dev/null
  done
  "$(pg_bindir)/psql" -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U postgres -d postgres -qtAc "SELECT pg_reload_conf()" >/dev/null
}

# Runs stack.sh in the background, logging to $1, and returns once it is up (STACK_PID is its pid).
start_stack() {
  ORDERLY_SKIP_BUILD=1 "$ROOT/infra/scripts/stack.sh" >"$1" 2>&1 &
  STACK_PID=$!
  local _
  for _ in $(seq 1 "${ORDERLY_STACK_START_SECONDS:-180}"); do
    grep -q "local stack is up" "$1" && return 0
    kill -0 "$STACK_PID" 2>/dev/null || { tail -30 "$1"; die "the local stack exited during start"; }
    sleep 1
  done
  tail -30 "$1"
  die "the local stack did not start"
}

stop_stack() {
  if [ -n "${STACK_PID:-}" ]; then
    # The stack exits 143 on SIGTERM by design; that is not a failure of ours.
    kill -TERM "$STACK_PID" 2>/dev/null && { wait "$STACK_PID" 2>/dev/null || true; }
    STACK_PID=""
  fi
  return 0
}
