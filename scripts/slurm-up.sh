#!/usr/bin/env bash
# A real SLURM on localhost for the sbatch / slurm-jobs tests (../shared/reference/platform.md):
# munged, slurmctld and three slurmd daemons (nodes sl1..sl3, all at 127.0.0.1 on their own
# ports, so multi-node jobs and `srun -w NODE` steps run for real on one machine). Idempotent:
# a cluster that already answers `sinfo` with its nodes idle is left as it is; a second run
# takes ~0.1 s. Needs root and the packages of scripts/ci-deps.sh (slurmctld slurmd
# slurm-client munge). Prints one line: "slurm-up: ready (N nodes)" or the reason it is not.
#
# SERVELAB_SLURM_DIR (default /var/lib/servelab-slurm) holds the state, logs and spool;
# SERVELAB_SLURM_CPUS the CPUs each node claims (default 8: several 1-CPU jobs at once),
# SERVELAB_SLURM_GPUS the GPUs (GRES without devices, default 4).
set -euo pipefail
nodes=(sl1 sl2 sl3)
first_port=17101
cpus=${SERVELAB_SLURM_CPUS:-8}
# GPUs each node claims as GRES without device files (no GPU here: --gpus-per-node jobs are
# scheduled for real, and the jobs' nvidia-smi is a stand-in when a test wants one)
gpus=${SERVELAB_SLURM_GPUS:-4}
gres=/etc/slurm/gres.conf
dir=${SERVELAB_SLURM_DIR:-/var/lib/servelab-slurm}
conf=/etc/slurm/slurm.conf

die() {
  echo "slurm-up: $*" >&2
  exit 1
}
for c in munged slurmctld slurmd sinfo scontrol; do
  command -v "$c" >/dev/null 2>&1 || die "$c is not installed (run scripts/ci-deps.sh as root)"
done
[ "$(id -u)" = 0 ] || die "needs root (it writes $conf and starts the daemons)"

# a zombie (the sandbox's PID 1 does not reap) is not a running daemon: read /proc/PID/stat
alive() {
  local pid=$1 state
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}
pid_alive() {
  local f=$1
  [ -s "$f" ] && alive "$(cat "$f")"
}

ready() {
  local out
  out=$(sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
  for n in "${nodes[@]}"; do
    grep -qE "^$n (idle|mix|alloc)" <<<"$out" || return 1
  done
}

want_conf() {
  cat <<EOF
# written by servelab scripts/slurm-up.sh
ClusterName=servelab
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=$first_port
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MailProg=/bin/true
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
GresTypes=gpu
EOF
  local i=0
  for n in "${nodes[@]}"; do
    echo "NodeName=$n NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((first_port + i)) CPUs=$cpus Gres=gpu:$gpus State=UNKNOWN"
    i=$((i + 1))
  done
  echo "PartitionName=debug Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP"
}

want_gres() {
  echo "# written by servelab scripts/slurm-up.sh"
  echo "AutoDetect=off"
  echo "NodeName=$(IFS=,; echo "${nodes[*]}") Name=gpu File=$dir/gpu/gpu[0-$((gpus - 1))]"
}

if [ -f "$conf" ] && [ "$(cat "$conf")" = "$(want_conf)" ] && [ -f "$gres" ] && [ "$(cat "$gres")" = "$(want_gres)" ] && ready; then
  echo "slurm-up: ready (${#nodes[@]} nodes, already up)"
  exit 0
fi

mkdir -p "$dir/state" "$dir/log" "$(dirname "$conf")"
for n in "${nodes[@]}"; do mkdir -p "$dir/spool/$n"; done
# stand-ins for GPU device files: slurmd counts GRES by file (nothing opens them)
mkdir -p "$dir/gpu"
for i in $(seq 0 $((gpus - 1))); do : >"$dir/gpu/gpu$i"; done
# every file slurmctld writes must be the slurm user's (else: Permission denied, and it dies)
chown -R slurm:slurm "$dir"
new_conf=0
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$(want_conf)" ]; then
  want_conf >"$conf"
  new_conf=1
fi
if [ ! -f "$gres" ] || [ "$(cat "$gres")" != "$(want_gres)" ]; then
  want_gres >"$gres"
  new_conf=1
fi

# munge: its socket directory, then the daemon as the munge user
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  rm -f /run/munge/munge.socket.2 /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || die "munged did not start"
fi

stop_pidfile() {
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$f"
}

if [ "$new_conf" = 1 ]; then
  # a changed configuration: restart what runs on the old one
  stop_pidfile "$dir/slurmctld.pid"
  for n in "${nodes[@]}"; do stop_pidfile "$dir/slurmd-$n.pid"; done
fi
if ! pid_alive "$dir/slurmctld.pid"; then
  # -i: ignore state files of an earlier configuration
  slurmctld -i
fi
for n in "${nodes[@]}"; do
  pid_alive "$dir/slurmd-$n.pid" || slurmd -N "$n"
done

for _ in $(seq 100); do
  if ready; then
    echo "slurm-up: ready (${#nodes[@]} nodes)"
    exit 0
  fi
  # a node that registered DOWN from an earlier run is returned to service
  scontrol update nodename="$(IFS=,; echo "${nodes[*]}")" state=resume >/dev/null 2>&1 || true
  sleep 0.1
done
sinfo -N >&2 || true
tail -n 20 "$dir/log/slurmctld.log" >&2 || true
die "nodes not idle after 10 s (logs in $dir/log)"
