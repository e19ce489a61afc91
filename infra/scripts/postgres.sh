#!/usr/bin/env bash
# The private Postgres cluster of this checkout: install (Debian's package when absent), init, start, stop.
#   postgres.sh start | stop | status | url
source "$(dirname "$0")/common.sh"

ensure_installed() {
  pg_bindir >/dev/null && return
  log "PostgreSQL server binaries not found; installing Debian's postgresql package"
  [ "$(id -u)" = 0 ] || die "run as root or install PostgreSQL (initdb, pg_ctl) yourself"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bindir >/dev/null || die "PostgreSQL installed but initdb not found"
}

url() { echo "postgres://postgres@127.0.0.1:$ORDERLY_PG_PORT/orderly"; }

start() {
  ensure_installed
  local bin; bin="$(pg_bindir)"
  mkdir -p "$PG_HOME" "$PG_SOCKET"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_HOME"
  [ "$(id -u)" = 0 ] && [ ! -e "$LOCAL_DIR/postgres$suffix" ] && ln -s "$PG_HOME" "$LOCAL_DIR/postgres$suffix"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising a private cluster in $PG_DATA"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # A throwaway development cluster: durability traded for speed (never do this with real data).
    # After a crash, Postgres syncs every file of the cluster before recovery, one at a time: with the
    # test suite's databases (80, 1.4 GB) that took 8 s of a 10.8 s restart in the chaos run, longer
    # than a message's redeliveries there last. syncfs syncs the file system once (Linux): as durable,
    # and not proportional to the files.
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCKET'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
recovery_init_sync_method = syncfs
CONF
  fi
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "Postgres already running on 127.0.0.1:$ORDERLY_PG_PORT"
  else
    port_in_use "$ORDERLY_PG_PORT" \
      && die "port $ORDERLY_PG_PORT (Postgres) is in use by another server; $(port_advice) (ORDERLY_PG_PORT)"
    touch "$PG_LOG" && { [ "$(id -u)" = 0 ] && chown postgres "$PG_LOG" || true; }
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $ORDERLY_PG_PORT" -w -t 60 start >/dev/null \
      || die "Postgres did not start; see $PG_LOG"
  fi
  "$bin/psql" -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'orderly'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U postgres orderly
}

stop() {
  local bin; bin="$(pg_bindir)" || return 0
  [ -f "$PG_DATA/PG_VERSION" ] || return 0
  # A postmaster forked a moment ago (a stack stopped while Postgres starts) has not written its pid file
  # yet, and pg_ctl would call it stopped: wait for the file while such a process exists.
  local _
  for _ in $(seq 1 50); do
    [ -f "$PG_DATA/postmaster.pid" ] && break
    pgrep -f -- "bin/postgres -D $PG_DATA( |\$)" >/dev/null || break
    sleep 0.1
  done
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  fi
}

# An immediate shutdown (no checkpoint: what a crash leaves, the next start replays the WAL), then a start.
# `make chaos` restarts Postgres this way under load.
crash() {
  local bin; bin="$(pg_bindir)" || die "PostgreSQL is not installed"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null
  start
}

status() {
  local bin; bin="$(pg_bindir)" || { echo "not installed"; return 1; }
  as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 && echo "running on 127.0.0.1:$ORDERLY_PG_PORT" \
    || { echo "stopped"; return 1; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  crash) crash ;;
  *) die "usage: $0 start|stop|crash|status|url" ;;
esac
