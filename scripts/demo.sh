#!/usr/bin/env bash
# Set everything up and run gnomon on the embedded SQLite store with the example jobs.
# The first start creates the user "admin" and prints its password once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gnomon scheduler --config examples/gnomon.toml "$@"
