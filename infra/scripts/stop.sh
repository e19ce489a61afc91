#!/usr/bin/env bash
# `make stop`: stops a stack started by `make dev` in another terminal (or in the background), or, when
# that stack died without cleaning up (kill -9), what it had left running.
source "$(dirname "$0")/common.sh"
if pid=$(recorded_proc stack); then
  kill -TERM "$pid"
  wait_gone "$pid" 10 || die "the stack (pid $pid) did not stop within 10 s"
  log "local stack stopped"
  exit 0
fi
reclaim_dead_stack
log "no local stack is running"
