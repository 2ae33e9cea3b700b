#!/usr/bin/env bash
# README command 1: install everything, build, start a private Postgres and
# Redis under .run/, and run the engine in the foreground on its dev defaults
# (generated dev secrets kept in .run/, admin key printed, 127.0.0.1:8080).
# Ctrl-C stops the engine, then the private servers.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTALLY_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target tally

export TALLY_RUN_DIR="${TALLY_RUN_DIR:-$repo/.run}"
eval "$(bash scripts/services.sh start "$TALLY_RUN_DIR")"
cleanup() { bash scripts/services.sh stop "$TALLY_RUN_DIR"; }
trap cleanup EXIT

export TALLY_MODE="${TALLY_MODE:-dev}"
export TALLY_LISTEN="${TALLY_LISTEN:-127.0.0.1:8080}"
# The engine is a child (not exec'd) so the trap above stops the servers after it.
build/release/cmd/tally serve &
engine=$!
trap 'kill -TERM $engine 2>/dev/null || true' INT TERM
wait $engine || true
wait $engine 2>/dev/null || true
