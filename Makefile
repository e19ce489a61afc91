# Orderly: the two commands that matter are `make dev` and `make test`.
.PHONY: dev test test-localstack fuzz chaos stop seed seed-transactions seed-events bench lint fmt build release clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

dev: ## run the whole system locally: Postgres, the AWS emulator, the gateway (Ctrl-C stops all)
	@infra/scripts/stack.sh

test: ## every check and test: fmt, clippy, unit, integration (Postgres), end-to-end (local stack)
	@infra/scripts/test.sh

test-localstack: ## `make test` with LocalStack as the AWS emulator instead of moto (installs it once)
	@AWS_EMULATOR=localstack infra/scripts/test.sh

fuzz: ## Schemathesis from /openapi.json against a stack of its own: 200 examples per operation, as admin and customer
	@infra/scripts/fuzz.sh --own-stack 200

chaos: ## 10,000 orders while environments are killed, Postgres crashes, payments fail and messages repeat; then the invariants
	@infra/scripts/chaos.sh $(or $(ORDERS),10000) 3

seed: ## idempotent demo data (admin, customers, merchants, products) in the local database; prints the logins
	@infra/scripts/seed.sh

seed-transactions: ## N ledger transactions (default 1,000,000) over 100 merchants and MONTH (default 2026-01), idempotent
	@infra/scripts/seed.sh transactions $(or $(N),1000000) $(or $(MONTH),2026-01)

seed-events: ## N metric events (default 10,000,000) over 1,000 merchants and 25 months, idempotent, local databases only
	@infra/scripts/seed.sh events $(or $(N),10000000)

bench: ## benchmarks against a local stack of their own, each next to a baseline from the same run
	@infra/scripts/bench.sh

stop: ## stop a `make dev` stack running elsewhere
	@infra/scripts/stop.sh

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	cargo fmt --all

build: ## debug build of everything
	cargo build --workspace

release: ## the four Lambda artifacts for arm64, as `sam build` makes them (needs cargo-lambda and zig)
	cargo lambda build --release --arm64 -p orderly-functions --lambda-dir target/lambda-arm64

clean: ## remove build output and local state (the Postgres cluster too)
	-infra/scripts/postgres.sh stop
	cargo clean
	rm -rf .local .venv /tmp/orderly-$$(printf '%s' "$$(pwd)" | cksum | cut -d' ' -f1)
