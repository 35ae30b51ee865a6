#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser
# tests (cmd/rapport console_browser_test.go), with fonts that show Chinese
# text and emoji in their screenshots. Installs them from Debian's packages
# when absent. Fails loudly; the tests never skip for want of a browser.
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fonts=$(fc-list 2>/dev/null || true)
grep -qi "wenquanyi\|noto sans cjk" <<<"$fonts" || need+=(fonts-wqy-microhei)
grep -qi "noto color emoji" <<<"$fonts" || need+=(fonts-noto-color-emoji)

if [ ${#need[@]} -gt 0 ]; then
  echo "chromium: installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

if /usr/bin/chromium --version >/dev/null 2>&1; then
  echo "chromium: $(/usr/bin/chromium --version)"
  exit 0
fi
echo "chromium: FAILED to install or run /usr/bin/chromium; the browser tests need it (apt-get install chromium)" >&2
exit 1
