#!/usr/bin/env bash
# README command 1: install everything, build, start a private Postgres and
# Redis under .run/, start the sandbox gateway (127.0.0.1:8090, docs/sandbox.md),
# and run the engine in the foreground on its dev defaults, wired to the sandbox
# (generated dev secrets kept in .run/, admin key printed, 127.0.0.1:8080).
# Ctrl-C stops the engine, then the sandbox, then the private servers.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTALLY_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target tally

export TALLY_RUN_DIR="${TALLY_RUN_DIR:-$repo/.run}"
eval "$(bash scripts/services.sh start "$TALLY_RUN_DIR")"
sandbox=""
cleanup() {
  if [ -n "$sandbox" ]; then  # the sandbox gateway, by pid
    kill -TERM "$sandbox" 2>/dev/null || true
    wait "$sandbox" 2>/dev/null || true
  fi
  bash scripts/services.sh stop "$TALLY_RUN_DIR"
}
trap cleanup EXIT

export TALLY_MODE="${TALLY_MODE:-dev}"
export TALLY_LISTEN="${TALLY_LISTEN:-127.0.0.1:8080}"

# The sandbox gateway (an Omise stand-in, docs/sandbox.md) starts before the
# engine. Both read these: the engine calls the sandbox with its URLs and keys,
# the sandbox accepts exactly these keys and signs its webhooks to the engine.
export TALLY_SANDBOX_LISTEN="${TALLY_SANDBOX_LISTEN:-127.0.0.1:8090}"
export TALLY_SANDBOX_API_URL="${TALLY_SANDBOX_API_URL:-http://$TALLY_SANDBOX_LISTEN}"
export TALLY_SANDBOX_VAULT_URL="${TALLY_SANDBOX_VAULT_URL:-http://$TALLY_SANDBOX_LISTEN}"
export TALLY_SANDBOX_SECRET_KEY="${TALLY_SANDBOX_SECRET_KEY:-skey_test_tally_sandbox}"
export TALLY_SANDBOX_PUBLIC_KEY="${TALLY_SANDBOX_PUBLIC_KEY:-pkey_test_tally_sandbox}"
if [ -z "${TALLY_SANDBOX_WEBHOOK_SECRET:-}" ]; then  # generated once, kept in the run folder
  secret_file="$TALLY_RUN_DIR/sandbox_webhook_secret"
  if [ ! -s "$secret_file" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 -w0 > "$secret_file")
  fi
  TALLY_SANDBOX_WEBHOOK_SECRET="$(cat "$secret_file")"
fi
export TALLY_SANDBOX_WEBHOOK_SECRET
export TALLY_SANDBOX_WEBHOOK_URL="${TALLY_SANDBOX_WEBHOOK_URL:-http://$TALLY_LISTEN/v1/webhooks/sandbox}"
build/release/cmd/tally sandbox &
sandbox=$!
# The engine is a child (not exec'd) so the trap above stops the servers after it.
build/release/cmd/tally serve &
engine=$!
trap 'kill -TERM $engine 2>/dev/null || true' INT TERM
wait $engine || true
wait $engine 2>/dev/null || true
