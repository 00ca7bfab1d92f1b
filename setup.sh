#!/usr/bin/env bash
# One-command set-up on a fresh machine: a virtualenv in .venv with revenue_assets and its
# development tools, plus Debian's Chromium for the dashboard's browser tests.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not found and apt-get unavailable; browser tests need /usr/bin/chromium" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
echo "ready: source .venv/bin/activate"
