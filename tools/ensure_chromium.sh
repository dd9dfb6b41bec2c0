#!/usr/bin/env bash
# Install Debian's chromium (used by the browser checks in tests/test_docs.py) when $CHROMIUM (/usr/bin/chromium) is
# missing: as root, or through passwordless sudo. Quiet when chromium is there.
# Without root, sudo or apt-get this is no error: it says loudly that the browser checks will be skipped (pytest says
# it again at the end) and exits 0, so `make test` runs every other test. In CI (CI=true) the browser checks are
# required: any failure to provide chromium stops here with exit 1.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
case "${CI:-}" in ""|0|false|False|FALSE|no) IN_CI="" ;; *) IN_CI=1 ;; esac

give_up() {  # $1: why chromium cannot be installed here
  if [ -n "$IN_CI" ]; then
    echo "ensure_chromium: $1; CI=$CI requires the browser checks (tests/test_docs.py): failing" >&2; exit 1
  fi
  cat >&2 <<EOF

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! ensure_chromium: $1.
!! The docs site's BROWSER CHECKS in tests/test_docs.py WILL BE SKIPPED; every other test runs.
!! To run them: install Debian's chromium as root (apt-get install chromium), then run make test again,
!!              or point CHROMIUM at a chromium binary: CHROMIUM=/path/to/chromium make test
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

EOF
  exit 0
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else give_up "$CHROMIUM is missing and we are neither root nor allowed passwordless sudo"; fi
fi
if ! command -v apt-get >/dev/null 2>&1; then give_up "$CHROMIUM is missing and apt-get is not available"; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "ensure_chromium: installing Debian chromium (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  give_up "apt-get could not install chromium (log above)"
fi
if [ ! -x "$CHROMIUM" ]; then give_up "apt-get installed chromium but $CHROMIUM is still missing"; fi
"$CHROMIUM" --version
