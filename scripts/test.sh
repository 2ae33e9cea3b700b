#!/usr/bin/env bash
# README command 2: install everything, build (warnings are errors, ASan and
# UBSan on), start a private Postgres and Redis for the tests, run the whole
# suite with ctest, and stop the servers whatever happens.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/install-deps.sh
build_dir="${TALLY_TEST_BUILD_DIR:-build/ci}"
# -O1 -g1: sanitizer builds of CAF/Beast templates compile much faster than at
# -O2 -g, and line tables are all the sanitizers' stack traces need.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALLY_WERROR=ON \
  -DTALLY_SANITIZE=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
start=$(date +%s)
cmake --build "$build_dir"
echo "test: build took $(( $(date +%s) - start ))s"

# Own ports and folder, so the suite can run beside a dev engine.
export TALLY_PG_PORT="${TALLY_TEST_PG_PORT:-55433}"
export TALLY_REDIS_PORT="${TALLY_TEST_REDIS_PORT:-56380}"
run_dir="$repo/.run/test"
eval "$(bash scripts/services.sh start "$run_dir")"
cleanup() { bash scripts/services.sh stop "$run_dir"; }
trap cleanup EXIT

# CAF's detached threads and libpq keep allocations alive until exit; leak
# reports there are noise, while use-after-free and UB stay fatal.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
start=$(date +%s)
ctest --test-dir "$build_dir" --output-on-failure -j "${TALLY_TEST_JOBS:-2}" "$@"
echo "test: ctest took $(( $(date +%s) - start ))s"

# A short smoke run of the ledger benchmark (engine vs pgbench) on the same
# binaries: it must complete without errors; its figures are not judged here.
start=$(date +%s)
bash bench/run_ledger_bench.sh --smoke --build-dir="$build_dir" --no-build
echo "test: bench smoke took $(( $(date +%s) - start ))s"
