#!/usr/bin/env bash
# Create .venv and install gnomon (editable, with PostgreSQL and Celery support) and its test and lint tools.
# Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[postgres,celery]' --group test --group lint --group bench
# Bytecode for gnomon's own modules (an editable install: pip compiled none of them), so that
# a process started from here need not compile them first, about 0.4 s of CPU each where
# PYTHONDONTWRITEBYTECODE keeps Python from writing it at the first import.
.venv/bin/python -m compileall -q src tests bench examples >/dev/null
