#!/usr/bin/env bash
# Installs redis-server (Debian package) when it is missing and this machine allows it. Used by eng/test.sh and .ci/run:
# the distributed-store tests and the Redis soak start their own throw-away redis-server on a free loopback port.
set -uo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing redis-server (Debian package) for the distributed-store tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) && exit 0
  echo "warning: could not install redis-server; Redis tests will report as skipped (and fail when CI=true)."
else
  echo "warning: redis-server not found and cannot be installed here; Redis tests will report as skipped (and fail when CI=true)."
fi
exit 0
