#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, types, then pytest.
# Needs PostgreSQL on 127.0.0.1:5432 (GNOMON_TEST_PG_URL overrides the URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The console's browser tests drive Debian's chromium at /usr/bin/chromium (Playwright cannot
# download browsers here): a chromium elsewhere on PATH is not the one they start.
[ -x /usr/bin/chromium ] || (apt-get update -qq && apt-get install -y -qq chromium)
echo "== ruff"
.venv/bin/ruff check src tests bench examples
.venv/bin/ruff format --check src tests bench examples
echo "== mypy (strict, src/)"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest -n 2 --dist loadgroup "$@"
