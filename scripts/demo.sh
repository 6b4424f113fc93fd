#!/usr/bin/env bash
# Set everything up and run gnomon on the embedded SQLite store with the example jobs:
# the API, the web console and the scheduler on http://127.0.0.1:8080 (GNOMON_SERVER_BIND changes it).
# The first start creates the user "admin" and prints its password once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gnomon serve --config examples/gnomon.toml "$@"
