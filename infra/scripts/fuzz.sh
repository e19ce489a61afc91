#!/usr/bin/env bash
# API fuzzing with Schemathesis, from the running stack's own /openapi.json, as an admin and as a
# customer: any 5xx, any status the document does not list for the operation, any body or content type
# that breaks the document is a failure, and the script exits non-zero.
#   fuzz.sh [EXAMPLES]   against the stack at ORDERLY_API_PORT; `make test` runs 8 examples per operation
#                        and identity, with a fixed seed so that a run is repeatable
#   make fuzz            a stack of its own, 200 examples per operation and identity at 15 requests a
#                        second (about 19,000 requests, 22 minutes), a new seed each run, printed to
#                        replay a failure
source "$(dirname "$0")/common.sh"
"$ROOT/infra/scripts/venv.sh"
if [ "${1:-}" = --own-stack ]; then
  shift
  # `make fuzz`: a stack of its own on its own ports and database, stopped at the end.
  o=$ORDERLY_PORT_OFFSET
  export ORDERLY_API_PORT=$((3400 + o)) ORDERLY_WS_PORT=$((3401 + o)) ORDERLY_CONTROL_PORT=$((3402 + o))
  export ORDERLY_PROVIDER_PORT=$((3403 + o)) ORDERLY_EMULATOR_PORT=$((4570 + o))
  export ORDERLY_TRUST_FORWARDED_FOR=1 RUST_LOG="${RUST_LOG:-warn}"
  export ORDERLY_ADMIN_EMAIL=admin@orderly.fuzz
  export ORDERLY_ADMIN_PASSWORD="fuzz-admin-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
  export JWT_SIGNING_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
  (cd "$ROOT" && cargo build --quiet -p orderly-local)
  "$ROOT/infra/scripts/postgres.sh" start
  export DATABASE_URL="$(fresh_database orderly_fuzz)"
  trap 'stop_stack' EXIT
  start_stack "$LOCAL_DIR/fuzz-stack.log"
  export ORDERLY_FUZZ_SEED="${ORDERLY_FUZZ_SEED:-$RANDOM$RANDOM}"
  # Under a user's 1,000 requests a minute, so that the long run reaches the handlers rather than the
  # rate limit (whose 429 is documented and checked all the same).
  export ORDERLY_FUZZ_RATE="${ORDERLY_FUZZ_RATE:-15/s}"
fi
examples="${1:-8}"
seed="${ORDERLY_FUZZ_SEED:-}"
api="http://127.0.0.1:$ORDERLY_API_PORT"
st="$VENV/bin/schemathesis"
# A client address of its own (the stack trusts X-Forwarded-For in tests): the fuzzer's many login
# attempts must not use up the per-address login limits of other clients.
address="198.51.100.$((RANDOM % 250 + 1))"
reports="$ROOT/target/fuzz"
mkdir -p "$reports"

login() { # login EMAIL PASSWORD: prints an access token
  curl -sf "$api/api/v1/auth/login" -H 'content-type: application/json' -H "X-Forwarded-For: $address" \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
customer_email="fuzz-$(date +%s%N)@example.test"
customer_password="a long enough password"
curl -sf "$api/api/v1/users" -H 'content-type: application/json' -H "X-Forwarded-For: $address" \
  -d "{\"email\":\"$customer_email\",\"password\":\"$customer_password\",\"name\":\"Fuzz Customer\"}" >/dev/null \
  || die "could not register the fuzzing customer at $api"

total=0 failed=""
for identity in admin customer; do
  if [ "$identity" = admin ]; then
    token="$(login "$ORDERLY_ADMIN_EMAIL" "$ORDERLY_ADMIN_PASSWORD")" || die "the admin could not sign in"
  else
    token="$(login "$customer_email" "$customer_password")" || die "the customer could not sign in"
  fi
  log "Schemathesis as $identity: $examples examples per operation${seed:+, seed $seed}"
  out="$reports/$identity.log"
  set +e
  "$st" run "$api/openapi.json" --no-color --workers 2 --max-examples "$examples" ${seed:+--seed "$seed"} \
    --phases examples,fuzzing \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    ${ORDERLY_FUZZ_RATE:+--rate-limit "$ORDERLY_FUZZ_RATE"} \
    -H "Authorization: Bearer $token" -H "X-Forwarded-For: $address" --request-timeout 30 \
    --report junit --report-junit-path "$reports/$identity.xml" >"$out" 2>&1
  status=$?
  set -e
  sed -n '/= SUMMARY =/,$p' "$out"
  generated=$(grep -Eo '[0-9]+ generated' "$out" | tail -1 | cut -d' ' -f1)
  total=$((total + ${generated:-0}))
  [ "$status" = 0 ] || failed="$failed $identity"
done
log "$total requests generated in all; the full output is in $reports/"
[ -z "$failed" ] || die "Schemathesis found failures as:$failed (see $reports/*.log; replay with the seed it printed)"
