#!/usr/bin/env bash
# The test command (README "Run the tests", and CI). Installs and starts what the tests need
# (an S3-compatible server and a PostgreSQL server, both on loopback), then checks formatting,
# lints, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/s3-server.sh start)"
eval "$(scripts/pg-server.sh start)"
trap 'scripts/s3-server.sh stop; scripts/pg-server.sh stop' EXIT

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
