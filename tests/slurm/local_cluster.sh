#!/usr/bin/env bash
# A one-node Slurm cluster with accounting on this machine, for hpc_sweep's real-cluster tests.
#
#   tests/slurm/local_cluster.sh start    install packages when missing, write configs, start the daemons that are
#                                         not running, wait until the node is idle (quick when already up)
#   tests/slurm/local_cluster.sh status   each daemon's state and sinfo; exit 0 when the cluster accepts jobs
#   tests/slurm/local_cluster.sh stop     stop only the daemons this script started (by their recorded pids)
#
# Debian's slurm-wlm, slurmdbd, munge and mariadb-server; daemons started by hand (no systemd). Two count-only GPUs
# (gres.conf points at two empty files), so --gpus-per-node=1 jobs are scheduled two at a time.
set -euo pipefail

STATE=/var/lib/hpc_sweep_slurm
RUN=/run/hpc_sweep_slurm
LOGS=/var/log/hpc_sweep_slurm
CONF=/etc/slurm
CLUSTER=hpcsweep
PARTITION=debug
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=hpc_sweep_slurm_db
HOST=$(hostname -s)
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

say() { printf '[local_cluster] %s\n' "$*"; }
die() {
  printf '[local_cluster] error: %s\n' "$1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then tail -n 20 "$2" >&2; fi
  exit 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

alive() { # alive NAME: the daemon we recorded (or its own pid file) is running
  local pid_file="$RUN/started/$1.pid" pid=""
  [ -f "$pid_file" ] && pid=$(cat "$pid_file")
  if [ -z "$pid" ] && [ -n "${2:-}" ] && [ -f "$2" ]; then pid=$(cat "$2"); fi
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

record() { # record NAME PID: remember that we started this daemon
  mkdir -p "$RUN/started"
  echo "$2" >"$RUN/started/$1.pid"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 "$((seconds * 4))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

install_packages() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No init system here: keep package scripts from trying to start services.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
}

write_configs() {
  local cpus mem
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 2048))
  mkdir -p "$STATE/ctld" "$STATE/d" "$RUN" "$LOGS" "$CONF"
  touch "$STATE/gpu0" "$STATE/gpu1"
  cat >"$CONF/slurm.conf.new" <<EOF
# Written by hpc_sweep tests/slurm/local_cluster.sh: a one-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=300
KillWait=10
OverTimeLimit=0
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_min_interval=100000
SlurmdTimeout=60
InactiveLimit=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  cat >"$CONF/gres.conf.new" <<EOF
NodeName=$HOST Name=gpu File=$STATE/gpu[0-1]
EOF
  cat >"$CONF/slurmdbd.conf.new" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
EOF
  chmod 600 "$CONF/slurmdbd.conf.new"
  for name in slurm.conf gres.conf slurmdbd.conf; do
    if ! cmp -s "$CONF/$name.new" "$CONF/$name" 2>/dev/null; then mv "$CONF/$name.new" "$CONF/$name"; else rm -f "$CONF/$name.new"; fi
  done
}

start_munge() {
  alive munged /run/munge/munged.pid && return 0
  mkdir -p /run/munge && chown munge:munge /run/munge
  [ -f /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 munged test -s /run/munge/munged.pid || die "munged did not start" /var/log/munge/munged.log
  record munged "$(cat /run/munge/munged.pid)"
}

start_mariadb() {
  if alive mariadbd && mysqladmin --protocol=socket ping >/dev/null 2>&1; then return 0; fi
  if mysqladmin --protocol=socket ping >/dev/null 2>&1; then return 0; fi # someone else's server: use it
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  say "starting mariadbd"
  nohup /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid >"$LOGS/mariadb.log" 2>&1 &
  record mariadbd $!
  wait_for 60 mariadb mysqladmin --protocol=socket ping || die "mariadbd did not start" "$LOGS/mariadb.log"
  mysql --protocol=socket -e "CREATE DATABASE IF NOT EXISTS $DB_NAME;
    CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
  alive slurmdbd "$RUN/slurmdbd.pid" && return 0
  say "starting slurmdbd"
  /usr/sbin/slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster || die "slurmdbd does not answer" "$LOGS/slurmdbd.log"
  record slurmdbd "$(cat "$RUN/slurmdbd.pid")"
  if ! sacctmgr -n -P list cluster format=Cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
}

start_slurmctld() {
  alive slurmctld "$RUN/slurmctld.pid" && return 0
  say "starting slurmctld"
  /usr/sbin/slurmctld
  wait_for 30 slurmctld scontrol ping || die "slurmctld does not answer" "$LOGS/slurmctld.log"
  record slurmctld "$(cat "$RUN/slurmctld.pid")"
}

start_slurmd() {
  alive slurmd "$RUN/slurmd.pid" && return 0
  say "starting slurmd"
  /usr/sbin/slurmd
  wait_for 30 slurmd test -s "$RUN/slurmd.pid" || die "slurmd did not start" "$LOGS/slurmd.log"
  record slurmd "$(cat "$RUN/slurmd.pid")"
}

node_ready() {
  local state
  state=$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n 1)
  case "$state" in idle | mixed | allocated | completing) return 0 ;; esac
  return 1
}

cmd_status() {
  local ok=0
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    case $name in
      munged) pid_file=/run/munge/munged.pid ;;
      mariadbd) pid_file=/run/mysqld/mysqld.pid ;;
      *) pid_file="$RUN/$name.pid" ;;
    esac
    if alive "$name" "$pid_file"; then say "$name: running"; else say "$name: not running"; ok=1; fi
  done
  if command -v sinfo >/dev/null && node_ready; then
    sinfo
  else
    say "node $HOST is not ready"
    ok=1
  fi
  return $ok
}

cmd_start() {
  if command -v sinfo >/dev/null && node_ready && cmd_status >/dev/null 2>&1; then
    say "already up: $(sinfo -h -o '%P %T %N' | head -n 1)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts daemons)"
  install_packages
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurmctld
  start_slurmd
  if ! wait_for 60 node node_ready; then
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    wait_for 30 node node_ready || die "node $HOST did not become idle: $(sinfo -h -o '%T %E' 2>&1)" "$LOGS/slurmd.log"
  fi
  say "up: $(sinfo -h -o '%P %T %N %G' | head -n 1) (MaxArraySize $(scontrol show config | awk '/^MaxArraySize/ {print $3}'))"
}

cmd_stop() {
  [ -d "$RUN/started" ] || { say "nothing started by this script"; return 0; }
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    local pid_file="$RUN/started/$name.pid"
    [ -f "$pid_file" ] || continue
    local pid
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping $name ($pid)"
      kill "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pid_file"
  done
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {start|stop|status}" >&2
    exit 2
    ;;
esac
