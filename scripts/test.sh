#!/usr/bin/env bash
# Test job: create .venv, install lockgate with the dev extras (PostgreSQL driver, Ray,
# pytest, Playwright), make sure headless Chromium is present, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
    >/dev/null) || echo "warning: could not install chromium; browser tests will be skipped"
fi
.venv/bin/ruff check src tests bench
.venv/bin/mypy src/lockgate
# The documentation site from docs/ (offline, every warning an error).
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet
exec .venv/bin/python -m pytest "$@"
