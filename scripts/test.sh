#!/usr/bin/env bash
# The test command (README "Run the tests", and CI). Installs and starts what the tests need
# (an S3-compatible server and a PostgreSQL server, both on loopback), then checks formatting,
# lints and docs, and runs every test. The S3 fault tests (pipeline-cli/tests/e2e/s3_faults.rs) also need
# python3 (scripts/s3-fault-proxy.py, standard library only) and openssl (a test CA).
set -euo pipefail
cd "$(dirname "$0")/.."

# The clean build of every test, the docs, the wheel and three venvs takes about 2.6 GB (2.3 GB
# of it the target directory, measured 2026-12-07): say so up front rather than fail at a
# linker's "No space left on device" half an hour in. Only a warning, which never stops the run.
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
free_kb=$(df -Pk "$target" 2>/dev/null | awk 'NR == 2 { print $4 }') || free_kb=
if [ -n "$free_kb" ] && [ "$free_kb" -lt $((4 * 1024 * 1024)) ]; then
  echo "warning: $((free_kb / 1024)) MiB free under $target; a clean test build needs about 3 GB" >&2
fi

eval "$(scripts/s3-server.sh start)"
eval "$(scripts/pg-server.sh start)"
trap 'scripts/s3-server.sh stop; scripts/pg-server.sh stop' EXIT

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Each crate is a library with a documented API: its docs must build and every link resolve,
# in the public docs (no link to a private item) and in the internal ones.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet --document-private-items
cargo test --workspace --no-fail-fast
# The stages composed as libraries (examples/): each asserts the numbers it prints.
cargo run --quiet -p ocpagg-examples --example summarise
cargo run --quiet -p ocpagg-examples --example custom_sink

# The DuckDB oracle (bench/README.md): ocpagg and bench/duckdb/summary.sql must produce the same
# rows on a generated month of 20,000 pod rows (creates bench/duckdb/.venv with duckdb from PyPI
# on first use). Then the self-tests of its row-by-row comparison.
bench/duckdb/race.py --check --pod-rows 20000 --ocpagg "${CARGO_TARGET_DIR:-target}/debug/ocpagg"
bench/duckdb/.venv/bin/python -m unittest discover -s bench/duckdb -p 'test_*.py'

# The Python package (python/, integrations/koku): builds the wheel, installs it into a fresh
# venv and runs its pytest suite against the same servers (scripts/python-test.sh).
scripts/python-test.sh
