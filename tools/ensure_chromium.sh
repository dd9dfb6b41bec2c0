#!/usr/bin/env bash
# Install Debian's chromium (used by tests/test_docs.py) when /usr/bin/chromium is missing.
# Quiet on success; runs as root in CI, or through sudo when available.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"
  else echo "ensure_chromium: $CHROMIUM is missing and we are not root (install Debian's chromium)" >&2; exit 1; fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available" >&2; exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "ensure_chromium: installing Debian chromium (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "ensure_chromium: apt-get failed" >&2; exit 1
fi
"$CHROMIUM" --version
