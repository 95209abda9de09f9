#!/usr/bin/env bash
# The Python package's tests (scripts/test.sh runs this; the S3 and PostgreSQL test servers
# must be up: scripts/test.sh starts them). Builds the `ocpagg` wheel with maturin (profile
# dev, incremental in the shared target directory), installs it into a fresh venv, and runs
# pytest over python/tests and integrations/koku. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/python-env.sh)
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET

started=$(date +%s)
# The CLI the tests compare with, and the wheel, from one build profile.
cargo build --quiet -p ocpagg-cli
rm -rf python/dist
(cd python && "../$VENV/bin/maturin" build --quiet --profile dev --strip --out dist)
echo "built the CLI and the wheel in $(( $(date +%s) - started )) s" >&2

TEST_VENV=python/.venv-test
rm -rf "$TEST_VENV"
python3 -m venv "$TEST_VENV"
"$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check python/dist/ocpagg-*.whl 'pytest>=8'

export OCPAGG_BIN=$TARGET/debug/ocpagg
# Run from outside the source tree, so `import ocpagg` is the installed wheel, not python/ocpagg.
cd python/tests
exec "../../$TEST_VENV/bin/python" -m pytest -p no:cacheprovider -q . ../../integrations/koku \
  --rootdir=. "$@"
