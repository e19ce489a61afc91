#!/usr/bin/env bash
# `make seed`: demo data in the local database (the private cluster unless DATABASE_URL is set).
# `make seed-transactions`: `seed.sh transactions N MONTH`, a settlement ledger at scale.
# `make seed-events`: `seed.sh events N`, metric events for analytics at scale.
source "$(dirname "$0")/common.sh"
if [ -z "${DATABASE_URL:-}" ]; then
  "$ROOT/infra/scripts/postgres.sh" start
  DATABASE_URL="$("$ROOT/infra/scripts/postgres.sh" url)"
fi
export DATABASE_URL
local_identity
cd "$ROOT" && cargo run --quiet -p orderly-local --bin orderly-seed -- "$@"
