#!/usr/bin/env bash
# System packages some tests talk to for real: headless Chromium (HTML report), Prometheus
# (the --prometheus-url source), SLURM and munge (the sbatch / slurm-jobs tests; brought up on
# localhost by scripts/slurm-up.sh). Installed only when missing; tests that need one skip with a
# loud reason only when SERVELAB_ALLOW_MISSING_DEPS=1 (never in CI).
#
# Another apt process (unattended-upgrades, a second checkout's tests) may hold the dpkg or the
# package-lists lock: apt-get waits for it (DPkg::Lock::Timeout), and a lock failure apt-get does
# not wait for (the lists lock of `apt-get update` on older apt) is retried until the same
# deadline. SERVELAB_APT_LOCK_TIMEOUT sets it in seconds (default 600).
# /usr/sbin/policy-rc.d (no service starts during install) is written only when there is none,
# and removed on every exit, failures and Ctrl-C included; one that was there before is kept.
# SERVELAB_POLICY_RC_D overrides its path (the script's own test uses a temporary one).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
[ ${#need[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "ci-deps: missing ${need[*]} and not root; install them with apt-get" >&2
  exit 0
fi

lock_timeout_s=${SERVELAB_APT_LOCK_TIMEOUT:-600}
policy=${SERVELAB_POLICY_RC_D:-/usr/sbin/policy-rc.d}
wrote_policy=0
cleanup() {
  if [ "$wrote_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
# a signal ends the script through exit, so the EXIT trap runs
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# apt-get with the lock wait; retried while it fails on a lock, until the deadline
apt_get() {
  local deadline=$((SECONDS + lock_timeout_s)) out rc noted=0
  while :; do
    rc=0
    out=$(apt-get -o DPkg::Lock::Timeout="$lock_timeout_s" "$@" 2>&1) || rc=$?
    [ "$rc" = 0 ] && return 0
    if grep -qE 'Could not get lock|Unable to (acquire|lock)' <<<"$out" && [ "$SECONDS" -lt "$deadline" ]; then
      if [ "$noted" = 0 ]; then
        echo "ci-deps: another apt process holds a lock (apt-get $1); waiting up to ${lock_timeout_s} s" >&2
        noted=1
      fi
      sleep 1
      continue
    fi
    printf '%s\n' "$out" >&2
    echo "ci-deps: apt-get $1 failed (exit $rc)" >&2
    return "$rc"
  done
}

export DEBIAN_FRONTEND=noninteractive
if [ ! -e "$policy" ]; then
  # no service starts during install (no systemd here)
  wrote_policy=1
  printf '#!/bin/sh\n# written by servelab scripts/ci-deps.sh; removed when it ends\nexit 101\n' >"$policy"
  chmod +x "$policy"
fi
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${need[@]}"
