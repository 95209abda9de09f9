#!/usr/bin/env bash
# Starts (or stops) a real S3-compatible HTTP server on loopback for the tests: moto's server,
# from PyPI, installed into ./.venv on first use. Prints the environment to use it.
#
#   scripts/s3-server.sh start   # installs if needed, starts, creates the test bucket
#   scripts/s3-server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.ci-state
PORT=${OCPAGG_TEST_S3_PORT:-9878}
BUCKET=${OCPAGG_TEST_S3_BUCKET:-ocpagg-test}
mkdir -p "$STATE"

case "${1:-start}" in
start)
  # The test tools' venv: moto's server, and prometheus-client (whose parser checks the
  # metrics file in the e2e tests).
  if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/python -c 'import prometheus_client' 2>/dev/null; then
    echo "Installing moto[server] and prometheus-client into .venv ..." >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'prometheus-client>=0.20,<1' >&2
  fi
  if [ -f "$STATE/moto.pid" ] && kill -0 "$(cat "$STATE/moto.pid")" 2>/dev/null; then
    echo "moto already running (pid $(cat "$STATE/moto.pid"))" >&2
  else
    .venv/bin/moto_server -H 127.0.0.1 -p "$PORT" > "$STATE/moto.log" 2>&1 &
    echo $! > "$STATE/moto.pid"
  fi
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$PORT/" >/dev/null || { cat "$STATE/moto.log" >&2; echo "moto did not start" >&2; exit 1; }
  # Create the bucket (S3 CreateBucket is a PUT on the bucket; moto accepts any credentials).
  curl -fsS -X PUT "http://127.0.0.1:$PORT/$BUCKET" >/dev/null
  cat <<ENV
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_ALLOW_HTTP=true
export OCPAGG_TEST_S3_BUCKET=$BUCKET
ENV
  ;;
stop)
  if [ -f "$STATE/moto.pid" ]; then
    kill "$(cat "$STATE/moto.pid")" 2>/dev/null || true
    rm -f "$STATE/moto.pid"
  fi
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
