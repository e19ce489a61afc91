#!/usr/bin/env bash
# Proves that the local stack always stops clean, on ports and a Postgres cluster of its own:
#  1. ORDERLY_SHUTDOWN_ROUNDS (default 20) times: start `make dev` in a session of its own, and at a
#     random moment (during start-up as often as after it) send SIGINT or SIGTERM to its whole process group,
#     as a terminal's Ctrl-C, `timeout`, systemd or a CI runner do (`make` forwards it to the script too);
#     in half the rounds a second SIGTERM goes to `make` a moment later; every other round runs functions
#     as bootstrap processes (ORDERLY_RUNTIME=process). Nothing may be left 20 s later: no process in its
#     session, no Postgres on its cluster, no port held, no record of it.
#  2. A hard crash (SIGKILL to the process group) leaves the emulator, Postgres and the gateway with its
#     environments running, since they live outside that group; `make stop` reclaims them, and so does
#     the next start.
#  3. A record whose process has gone and whose pid now belongs to another process is left alone.
# Set before common.sh, which derives the cluster's folder and the records' key from them.
o=${ORDERLY_PORT_OFFSET:-0} # a second checkout's check moves with its other ports
export ORDERLY_API_PORT=$((3200 + o)) ORDERLY_WS_PORT=$((3201 + o)) ORDERLY_CONTROL_PORT=$((3202 + o))
export ORDERLY_PROVIDER_PORT=$((3203 + o)) ORDERLY_EMULATOR_PORT=$((4568 + o))
export ORDERLY_PG_PORT=$((15433 + o)) ORDERLY_STATE_SUFFIX=shutdown-check
# moto whichever emulator the tests use: forty-odd starts need one that starts in a second or two, and
# the stack stops either emulator the same way (its whole process group).
export AWS_EMULATOR=moto
source "$(dirname "$0")/common.sh"
unset DATABASE_URL AWS_ENDPOINT_URL
log_file="$LOCAL_DIR/shutdown-check.log"
rounds="${ORDERLY_SHUTDOWN_ROUNDS:-20}"
ports=("$ORDERLY_API_PORT" "$ORDERLY_WS_PORT" "$ORDERLY_CONTROL_PORT" "$ORDERLY_PROVIDER_PORT" "$ORDERLY_EMULATOR_PORT" "$ORDERLY_PG_PORT")

launch() { # starts the stack as the leader of a new session; LEADER is its pid (and its session's id)
  # A background job of a script starts with SIGINT ignored, and bash cannot trap a signal ignored on
  # entry; a terminal's foreground job has it at its default, which `env` restores.
  # RUNTIME=process: functions run as bootstrap processes, which must all go too.
  ORDERLY_RUNTIME="${RUNTIME:-in-process}" ORDERLY_SKIP_BUILD=1 \
    setsid env --default-signal=INT make --no-print-directory -C "$ROOT" dev >"$log_file" 2>&1 &
  LEADER=$!
  # A signal sent before `setsid` made the group and `env` restored SIGINT would find no group or be
  # ignored, and the stack would run on: a round 10 ms after launch did. A terminal's Ctrl-C cannot come
  # before the program runs, so wait until the leader is `make`.
  local _
  for _ in $(seq 1 500); do [ "$(ps -o comm= -p "$LEADER" 2>/dev/null)" = make ] && return 0; sleep 0.01; done
  die "make did not start"
}
wait_up() {
  local _
  for _ in $(seq 1 120); do grep -q "local stack is up" "$log_file" && return 0; sleep 0.5; done
  cat "$log_file"
  die "the stack did not start"
}
postgres_running() { pgrep -f -- "bin/postgres -D $PG_DATA( |\$)"; }
# Everything the stack could have left: processes of its session, its Postgres, its ports, its records.
leftovers() {
  local pid port
  for pid in $(ps -e -o sid=,pid= | awk -v sid="$LEADER" '$1 == sid { print $2 }'); do
    echo "process $(ps -o pid=,args= -p "$pid" 2>/dev/null)"
  done
  for pid in $(postgres_running); do echo "postgres $pid"; done
  for port in "${ports[@]}"; do port_in_use "$port" && echo "port $port"; done
  ls "$PROCS_DIR"/*-"$STACK_KEY" 2>/dev/null | sed 's/^/record /'
  return 0
}
expect_clean() { # expect_clean WHAT
  local _ left=""
  for _ in $(seq 1 200); do
    left="$(leftovers)"
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  tail -20 "$log_file"
  die "$1: left behind after 20 s: $(echo "$left" | tr '\n' ';')"
}

# Whatever happens, leave nothing behind for the next run (a failed round's stack included).
trap '"$ROOT/infra/scripts/stop.sh" >/dev/null 2>&1 || true' EXIT
[ -z "$(LEADER=-1 leftovers)" ] || die "something already runs on the check's ports or cluster: $(LEADER=-1 leftovers | tr '\n' ';')"

log "1. $rounds starts, each stopped by a signal at a random moment"
during_start=0
for round in $(seq 1 "$rounds"); do
  RUNTIME=$([ $((round % 2)) = 0 ] && echo process || echo in-process) launch
  # Start-up takes about 3 s once the cluster exists (the first round also creates it): up to 6 s covers
  # every phase of it and some time after.
  delay_ms=$((RANDOM % 6000))
  sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  signal=$([ $((RANDOM % 2)) = 0 ] && echo INT || echo TERM)
  phase=$(grep -q "local stack is up" "$log_file" && echo "up" || echo "starting")
  [ "$phase" = starting ] && during_start=$((during_start + 1))
  kill -"$signal" -- "-$LEADER" 2>/dev/null || true
  twice=""
  if [ $((RANDOM % 2)) = 0 ]; then
    sleep 0.0$((RANDOM % 10))
    kill -TERM "$LEADER" 2>/dev/null && twice=" + a second SIGTERM"
  fi
  expect_clean "round $round (SIG$signal after ${delay_ms} ms, stack $phase$twice)"
  log "round $round ($([ $((round % 2)) = 0 ] && echo process mode || echo in-process)): SIG$signal after ${delay_ms} ms while $phase$twice: nothing left"
done
[ "$during_start" -gt 0 ] || log "note: no round happened to stop the stack during its start-up"

log "2. a hard crash, then make stop; a hard crash, then a new start (process mode: environments too)"
export RUNTIME=process
launch
wait_up
kill -KILL -- "-$LEADER"
wait_gone "$LEADER" 10 || die "the stack survived SIGKILL"
emulator=$(recorded_proc emulator) || die "no running emulator recorded after the crash"
postgres_running >/dev/null || die "Postgres did not survive the crash (the check expects it to)"
log "after SIGKILL: emulator $emulator and Postgres still run; make stop"
stopped="$("$ROOT/infra/scripts/stop.sh" 2>&1)"
grep -q "reclaimed" <<<"$stopped" || die "make stop did not say what it reclaimed: $stopped"
expect_clean "make stop after a crash"
launch
wait_up
kill -KILL -- "-$LEADER"
wait_gone "$LEADER" 10 || die "the stack survived SIGKILL"
crashed=$LEADER
launch
wait_up
grep -q "reclaimed" "$log_file" || die "the next start did not reclaim what the crashed stack left"
left=$(ps -e -o sid=,pid=,args= | awk -v sid="$crashed" '$1 == sid')
[ -z "$left" ] || die "the crashed stack's processes still run after the next start: $left"
kill -INT -- "-$LEADER"
expect_clean "a start that reclaimed a crashed stack, then Ctrl-C"

unset RUNTIME
log "3. a stale record of a process whose pid is now another program's"
sleep 300 &
bystander=$!
mkdir -p "$PROCS_DIR"
echo "$bystander 1" >"$PROCS_DIR/emulator-$STACK_KEY" # right pid, wrong start time: a reused pid
"$ROOT/infra/scripts/stop.sh" >/dev/null 2>&1
kill -0 "$bystander" 2>/dev/null || die "make stop killed a process it had not started"
kill "$bystander"
[ ! -e "$PROCS_DIR/emulator-$STACK_KEY" ] || die "the stale record was not cleared"

log "4. a second checkout beside this one: a plain error on the same ports, running side by side once moved"
launch
wait_up
# Another checkout has its own cluster folder and records; a state suffix and other REST ports give
# exactly that here, with the Postgres port of the first, which is how two checkouts' `make test` collide.
second() { # second OFFSET: a second checkout's stack, every port moved by OFFSET except Postgres's when 0
  local by=$1
  shift
  ORDERLY_STATE_SUFFIX=shutdown-check-second ORDERLY_SKIP_BUILD=1 ORDERLY_API_PORT=$((3210 + by)) \
    ORDERLY_WS_PORT=$((3211 + by)) ORDERLY_CONTROL_PORT=$((3212 + by)) ORDERLY_PROVIDER_PORT=$((3213 + by)) \
    ORDERLY_EMULATOR_PORT=$((4578 + by)) ORDERLY_PG_PORT=$((ORDERLY_PG_PORT + by)) "$@"
}
refused="$(second 0 "$ROOT/infra/scripts/stack.sh" 2>&1)" && die "a second stack on the first's Postgres port started"
grep -q "port $ORDERLY_PG_PORT (Postgres) is in use.*ORDERLY_PORT_OFFSET=" <<<"$refused" \
  || die "the collision's error does not say what to set: $(tail -3 <<<"$refused")"
log "refused plainly: $(grep -o "port $ORDERLY_PG_PORT (Postgres).*" <<<"$refused" | tail -1)"
second 10 exec setsid "$ROOT/infra/scripts/stack.sh" >"$log_file.second" 2>&1 &
second_leader=$!
for _ in $(seq 1 120); do grep -q "local stack is up" "$log_file.second" && break; sleep 0.5; done
grep -q "local stack is up" "$log_file.second" || { tail -20 "$log_file.second"; die "the moved second stack did not start"; }
log "moved by 10, the second stack runs beside the first"
kill -TERM -- "-$second_leader"
wait_gone "$second_leader" 20 || die "the second stack did not stop"
second 10 bash -c 'source "$0/infra/scripts/common.sh"; rm -rf "$PG_HOME" "$LOCAL_DIR/postgres$suffix"' "$ROOT"
kill -INT -- "-$LEADER"
expect_clean "the first stack, after the second"

log "clean every time: $rounds signalled stops ($during_start during start-up), two crashes reclaimed, a bystander untouched, two checkouts side by side"
