#!/usr/bin/env bash
# System packages some tests talk to for real: headless Chromium (HTML report), Prometheus
# (the --prometheus-url source). Installed only when missing; tests that need one skip with a
# loud reason only when SERVELAB_ALLOW_MISSING_DEPS=1 (never in CI).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # no service starts during install (no systemd here)
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "ci-deps: missing ${need[*]} and not root; install them with apt-get" >&2
  fi
fi
