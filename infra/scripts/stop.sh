#!/usr/bin/env bash
# `make stop`: stops a stack started by `make dev` in another terminal (or in the background).
source "$(dirname "$0")/common.sh"
PIDFILE="$LOCAL_DIR/stack-$ORDERLY_API_PORT.pid"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { log "local stack stopped"; exit 0; }; sleep 0.1; done
  die "the stack (pid $pid) did not stop within 10 s"
fi
log "no local stack is running"
