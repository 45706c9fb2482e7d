#!/usr/bin/env bash
# A small Slurm cluster with accounting on this machine, for hpc_sweep's real-cluster tests.
#
#   tests/slurm/local_cluster.sh start    install the packages when missing, write the configs, start the daemons
#                                         that are not running, wait until the nodes are idle (< 2 s when already up)
#   tests/slurm/local_cluster.sh status   each daemon's state and sinfo; exit 0 when the cluster accepts jobs
#   tests/slurm/local_cluster.sh stop     stop only the daemons this script started (by their recorded pids)
#
# Debian's slurm-wlm (slurmctld + slurmd), slurmdbd, munge and mariadb-server, started by hand (no systemd needed).
# Partition "debug", two count-only GPUs (gres.conf points at two /dev/null-like device files), so --gpus-per-node=1
# jobs run two at a time, each with its own CUDA_VISIBLE_DEVICES. Jobs run as the submitting user; root can submit.
# Partition "multi": two more nodes, mn1 and mn2, on this same host (one extra slurmd each, `slurmd -N NODE` on its
# own port, with its own spool, pid and log files through %n), one count-only GPU each, for multi-node jobs.
# Accounting is recorded (sacct) but not enforced.
# See tests/slurm/README.md.
set -euo pipefail

STATE=/var/lib/hpc_sweep_slurm          # controller state, slurmd spool, the two fake GPU files
RUN=/run/hpc_sweep_slurm                # daemon pid files; started/NAME.pid = the daemons this script started
LOGS=/var/log/hpc_sweep_slurm
CONF=/etc/slurm
MARKER="# Written by hpc_sweep tests/slurm/local_cluster.sh"
CLUSTER=hpcsweep
PARTITION=debug
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=hpc_sweep_slurm_db
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
MULTI_PARTITION=multi
MULTI_NODES=(mn1 mn2)   # each one slurmd on this host: daemon slurmd-NODE, started as slurmd -N NODE
MULTI_PORTS=(6831 6832) # their SlurmdPort (the node of this host keeps the default, 6818)
# start order; stop goes the other way. "slurmd" is this host's node; slurmd-mn1, slurmd-mn2 the nodes of multi.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd "${MULTI_NODES[@]/#/slurmd-}")
HOST=$(hostname -s)
NODES=("$HOST" "${MULTI_NODES[@]}")
SLURM_CONF_CHANGED=0
DBD_CONF_CHANGED=0

say() { printf '[local_cluster] %s\n' "$*"; }
die() { # die REASON [LOG...]: one line why, then the tail of each (non-empty) log
  printf '[local_cluster] FAILED: %s\n' "$1" >&2
  shift
  local log
  for log in "$@"; do
    if [ -s "$log" ] && [ -r "$log" ]; then
      printf '[local_cluster] last lines of %s:\n' "$log" >&2
      tail -n 20 "$log" | sed 's/^/    /' >&2
    fi
  done
  exit 1
}

launch() { # launch NAME COMMAND...: start a self-daemonizing daemon; what it prints before detaching goes to a log
  local name=$1
  shift
  rm -f "$(own_pid_file "$name")"
  "$@" </dev/null >"$LOGS/$name.launch.log" 2>&1 9>&- \
    || die "$name did not start ($*)" "$LOGS/$name.launch.log" "$(log_of "$name")"
}

# --- pids: a pid counts only while /proc says it is still that daemon (a reused pid is not ours) -----------------

is_slurmd() { [ "$1" = slurmd ] || [[ $1 == slurmd-* ]]; } # a node daemon (not slurmdbd)

node_of() { # node_of NAME: the node a slurmd daemon acts as (slurmd: this host's; slurmd-NODE: NODE)
  case $1 in
    slurmd) echo "$HOST" ;;
    slurmd-*) echo "${1#slurmd-}" ;;
  esac
}

own_pid_file() { # the pid file the daemon writes itself
  case $1 in
    munged) echo /run/munge/munged.pid ;;
    mariadbd) echo /run/mysqld/mysqld.pid ;;
    slurmd | slurmd-*) echo "$RUN/slurmd-$(node_of "$1").pid" ;; # SlurmdPidFile=$RUN/slurmd-%n.pid
    *) echo "$RUN/$1.pid" ;;
  esac
}

log_of() {
  case $1 in
    munged) echo /var/log/munge/munged.log ;;
    mariadbd) echo "$LOGS/mariadb.log" ;;
    slurmd | slurmd-*) echo "$LOGS/slurmd-$(node_of "$1").log" ;; # SlurmdLogFile=$LOGS/slurmd-%n.log
    *) echo "$LOGS/$1.log" ;;
  esac
}

is_daemon() { # is_daemon NAME PID: the process's command is NAME's (slurmd-NODE is a slurmd)
  [ -n "$2" ] && [ -r "/proc/$2/comm" ] && [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "${1%%-*}" ]
}

read_pid() { if [ -r "$1" ]; then tr -dc '0-9' <"$1"; fi; }

wrote_pid() { is_daemon "$1" "$(read_pid "$(own_pid_file "$1")")"; } # the daemon's own pid file names it

running_pid() { # running_pid NAME: prints the daemon's pid (ours first, else its own pid file); fails if not running
  local pid
  pid=$(read_pid "$RUN/started/$1.pid")
  if is_daemon "$1" "$pid"; then echo "$pid"; return 0; fi
  pid=$(read_pid "$(own_pid_file "$1")")
  if is_daemon "$1" "$pid"; then echo "$pid"; return 0; fi
  return 1
}

ours() { # ours NAME: this script started the running daemon
  local pid
  pid=$(read_pid "$RUN/started/$1.pid")
  is_daemon "$1" "$pid"
}

record() { # record NAME: remember the pid of the daemon we just started
  local pid
  pid=$(read_pid "$(own_pid_file "$1")")
  is_daemon "$1" "$pid" || die "$1 started but its pid file $(own_pid_file "$1") names no $1 process" "$(log_of "$1")"
  mkdir -p "$RUN/started"
  echo "$pid" >"$RUN/started/$1.pid"
}

wait_for() { # wait_for SECONDS COMMAND...: poll every 0.25 s
  local deadline=$(($(date +%s) + $1))
  shift
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

stop_daemon() { # stop_daemon NAME: SIGTERM the recorded pid, SIGKILL after a grace period
  local name=$1 pid
  pid=$(read_pid "$RUN/started/$name.pid")
  if is_daemon "$name" "$pid"; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(($(date +%s) + 30))
    while is_daemon "$name" "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if is_daemon "$name" "$pid"; then
      say "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$RUN/started/$name.pid"
}

# --- packages ---------------------------------------------------------------------------------------------------

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local started=$SECONDS
  say "installing ${missing[*]} (once; takes a minute)"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' maintainer scripts from starting services (no init system here; we start them by hand).
  # An existing policy-rc.d (e.g. a container image's) is left as it is.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from hpc_sweep tests/slurm/local_cluster.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  mkdir -p "$LOGS"
  local apt_log="$LOGS/apt.log" updated=0
  : >"$apt_log"
  local policy
  for pkg in "${missing[@]}"; do # refresh the package lists only when they do not know a package
    policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
    if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
      say "apt-get update"
      apt-get update -q >>"$apt_log" 2>&1 || die "apt-get update failed" "$apt_log"
      updated=1
      break
    fi
  done
  local install=(apt-get install -y -q --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}")
  if ! "${install[@]}" >>"$apt_log" 2>&1; then
    [ "$updated" -eq 0 ] || die "apt-get install ${missing[*]} failed" "$apt_log"
    say "install failed with the current package lists: apt-get update and retry"
    apt-get update -q >>"$apt_log" 2>&1 || die "apt-get update failed" "$apt_log"
    "${install[@]}" >>"$apt_log" 2>&1 || die "apt-get install ${missing[*]} failed" "$apt_log"
  fi
  if [ "$made_policy" -eq 1 ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  say "installed in $((SECONDS - started)) s"
}

# --- configs ----------------------------------------------------------------------------------------------------

put_config() { # put_config NAME MODE < text: replace $CONF/NAME only when its text changed; 0 = changed
  local target="$CONF/$1" tmp
  tmp=$(mktemp "$CONF/.$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$target"
  return 0
}

make_fake_gpus() { # the count-only GPUs: character devices like /dev/null (slurmd wants devices), else files
  local gpu # gpu0, gpu1: node $HOST's two; gpu2: mn1's, gpu3: mn2's
  for gpu in "$STATE/gpu0" "$STATE/gpu1" "$STATE/gpu2" "$STATE/gpu3"; do
    [ -c "$gpu" ] && continue
    rm -f "$gpu"
    mknod -m 666 "$gpu" c 1 3 2>/dev/null || touch "$gpu"
  done
}

write_configs() {
  local cpus mem_total mem
  cpus=$(nproc)
  mem_total=$(free -m | awk '/^Mem:/ {print $2}')
  mem=$((mem_total - 2048)) # headroom for the OS and the daemons
  [ "$mem" -ge 256 ] || mem=$((mem_total / 2))
  if [ -e "$CONF/slurm.conf" ] && ! grep -qF "$MARKER" "$CONF/slurm.conf"; then
    die "$CONF/slurm.conf exists and was not written by this script: refusing to replace a real Slurm config"
  fi
  local node i multi_nodes="" multi_gres="" multi_list
  multi_list=$(IFS=,; echo "${MULTI_NODES[*]}")
  for node in "${NODES[@]}"; do mkdir -p "$STATE/d/$node"; done # SlurmdSpoolDir=$STATE/d/%n: one per slurmd
  for i in "${!MULTI_NODES[@]}"; do # gpu2 is mn1's GPU, gpu3 mn2's
    multi_nodes+="NodeName=${MULTI_NODES[$i]} NodeHostname=$HOST NodeAddr=127.0.0.1 Port=${MULTI_PORTS[$i]}"
    multi_nodes+=" CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN"$'\n'
    multi_gres+=$'\n'"NodeName=${MULTI_NODES[$i]} Name=gpu File=$STATE/gpu$((i + 2))"
  done
  mkdir -p "$STATE/ctld" "$RUN/started" "$LOGS" "$CONF"
  make_fake_gpus

  # Settings the tests rely on: two count-only GPUs; thousand-task arrays; finished jobs stay visible to squeue /
  # scontrol for 5 minutes and forever to sacct; no grace after a --time limit (OverTimeLimit=0; slurmctld checks
  # limits every 30 s), SIGTERM then SIGKILL KillWait=10 s later; requeue allowed, and a requeued job may start
  # again after cred_expire (30 s; Slurm's default 120 s); the scheduler runs every second. CR_CPU: memory is not a
  # consumed resource, so jobs without --mem do not each claim the whole node.
  # Partition multi: nodes mn1 and mn2 are two more slurmd's on this host, told apart by their Port (slurmd -N NODE
  # picks its NodeName line); the paths with %n (the node name) keep their spool, pid and log files apart, this
  # host's node included. Each declares this host's CPUs and memory (no more than the hardware, so no
  # SlurmdParameters=config_overrides is needed) and one count-only GPU.
  if put_config slurm.conf 644 <<EOF; then SLURM_CONF_CHANGED=1; fi
$MARKER: a small test cluster on one host.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=30
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd-%n.log
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
MailProg=/bin/true
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=300
KillWait=10
OverTimeLimit=0
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,sched_min_interval=100000,bf_interval=1
SlurmdTimeout=60
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
${multi_nodes}PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=$MULTI_PARTITION Nodes=$multi_list MaxNodes=2 MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

  if put_config gres.conf 644 <<EOF; then SLURM_CONF_CHANGED=1; fi
$MARKER: count-only GPUs (device files like /dev/null).
NodeName=$HOST Name=gpu File=$STATE/gpu[0-1]${multi_gres}
EOF

  # Read by slurmdbd only; holds the database password: mode 600, owned by the SlurmUser (root).
  if put_config slurmdbd.conf 600 <<EOF; then DBD_CONF_CHANGED=1; fi
$MARKER: accounting into the local MariaDB.
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
  chown root:root "$CONF/slurmdbd.conf"
}

# --- daemons ----------------------------------------------------------------------------------------------------

start_munged() {
  running_pid munged >/dev/null && return 0
  say "starting munged"
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 \
      || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  launch munged runuser -u munge -- /usr/sbin/munged
  wait_for 10 wrote_pid munged || die "munged did not write its pid file" "$LOGS/munged.launch.log" "$(log_of munged)"
  wait_for 10 munge -n || die "munged does not answer (munge -n)" "$LOGS/munged.launch.log" "$(log_of munged)"
  record munged
}

mariadb_up() { mysqladmin --protocol=socket --socket=/run/mysqld/mysqld.sock ping; }

start_mariadbd() {
  if ! running_pid mariadbd >/dev/null && ! mariadb_up >/dev/null 2>&1; then
    say "starting mariadbd"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGS/mariadb-install.log" 2>&1 \
        || die "mariadb-install-db failed" "$LOGS/mariadb-install.log"
    fi
    rm -f /run/mysqld/mysqld.pid
    # Its own session, so that a signal to the caller's process group does not take the database down with it.
    # Unix socket only (no TCP port); buffer pool and lock wait as slurmdbd recommends.
    setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
      --pid-file=/run/mysqld/mysqld.pid --skip-networking --innodb-buffer-pool-size=512M \
      --innodb-lock-wait-timeout=900 </dev/null >>"$LOGS/mariadb.log" 2>&1 9>&- &
    wait_for 60 mariadb_up || die "mariadbd does not answer" "$LOGS/mariadb.log"
    wait_for 10 wrote_pid mariadbd || die "mariadbd did not write its pid file" "$LOGS/mariadb.log"
    record mariadbd
  fi
  # The accounting database and its user (idempotent; also when the server is someone else's).
  mysql --protocol=socket --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS $DB_NAME;
    CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';" 2>"$LOGS/mariadb-setup.log" \
    || die "creating database $DB_NAME and user $DB_USER failed" "$LOGS/mariadb-setup.log"
}

dbd_up() { sacctmgr -n -P list cluster format=Cluster; }

start_slurmdbd() {
  if ! running_pid slurmdbd >/dev/null; then
    say "starting slurmdbd"
    launch slurmdbd /usr/sbin/slurmdbd
    wait_for 30 dbd_up \
      || die "slurmdbd does not answer (sacctmgr list cluster)" "$LOGS/slurmdbd.launch.log" "$LOGS/slurmdbd.log"
    wait_for 10 wrote_pid slurmdbd \
      || die "slurmdbd did not write its pid file" "$LOGS/slurmdbd.launch.log" "$LOGS/slurmdbd.log"
    record slurmdbd
  fi
  local clusters
  clusters=$(dbd_up 2>/dev/null || true)
  if ! grep -qx "$CLUSTER" <<<"$clusters"; then
    say "registering cluster $CLUSTER in the accounting database"
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed" "$LOGS/slurmdbd.log"
  fi
}

start_slurmctld() {
  running_pid slurmctld >/dev/null && return 0
  say "starting slurmctld"
  launch slurmctld /usr/sbin/slurmctld
  wait_for 30 scontrol ping \
    || die "slurmctld does not answer (scontrol ping)" "$LOGS/slurmctld.launch.log" "$LOGS/slurmctld.log"
  wait_for 10 wrote_pid slurmctld \
    || die "slurmctld did not write its pid file" "$LOGS/slurmctld.launch.log" "$LOGS/slurmctld.log"
  record slurmctld
}

start_slurmd() { # start_slurmd NAME: slurmd (this host's node) or slurmd-NODE, started as the node it names
  local name=$1 node
  node=$(node_of "$name")
  running_pid "$name" >/dev/null && return 0
  say "starting $name (node $node)"
  launch "$name" /usr/sbin/slurmd -N "$node"
  wait_for 15 wrote_pid "$name" \
    || die "$name did not write its pid file $(own_pid_file "$name")" "$LOGS/$name.launch.log" "$(log_of "$name")"
  record "$name"
}

names_resolve() { # the multi nodes' names resolve (a job's torch.distributed master address is the first node's)
  local node
  for node in "${MULTI_NODES[@]}"; do getent hosts "$node" >/dev/null 2>&1 || return 1; done
}

add_host_names() { # add_host_names: map the multi nodes' names to 127.0.0.1 in /etc/hosts, once
  local node missing=()
  for node in "${MULTI_NODES[@]}"; do getent hosts "$node" >/dev/null 2>&1 || missing+=("$node"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  # This script runs as root on a throwaway test / CI machine (it already installs packages and writes /etc/slurm),
  # so it edits /etc/hosts in place (appends; a bind-mounted /etc/hosts stays the same file). Not for a shared host.
  say "adding '127.0.0.1 ${missing[*]}' to /etc/hosts"
  printf '127.0.0.1 %s  # added by hpc_sweep tests/slurm/local_cluster.sh\n' "${missing[*]}" >>/etc/hosts \
    || die "could not append to /etc/hosts"
  names_resolve || die "${MULTI_NODES[*]} still do not resolve after adding them to /etc/hosts (getent hosts)"
}

restart_if_ours() { # restart_if_ours NAME: after a config change
  if running_pid "$1" >/dev/null; then
    if ours "$1"; then
      say "config changed: restarting $1 (running jobs keep running)"
      stop_daemon "$1"
    else
      say "config changed but $1 was not started by this script: running scontrol reconfigure instead"
      scontrol reconfigure >/dev/null 2>&1 || true
    fi
  fi
}

node_state() { # node_state NODE: its state, empty while it does not respond
  local states
  states=$(sinfo -h -r -n "$1" -o '%T' 2>/dev/null || true)
  echo "${states%%$'\n'*}"
}

node_reason() { # node_reason NODE: state and reason, for messages
  local out
  out=$(sinfo -h -n "$1" -o '%T %E' 2>&1 || true)
  out=${out%%$'\n'*}
  echo "${out:-unknown to the running slurmctld: run start}"
}

node_ready() { # node_ready NODE
  case "$(node_state "$1")" in idle* | mixed* | allocated* | completing*) return 0 ;; esac
  return 1
}

nodes_ready() { # all nodes, this host's and partition multi's
  local node
  for node in "${NODES[@]}"; do node_ready "$node" || return 1; done
}

partition_of() { if [ "$1" = "$HOST" ]; then echo "$PARTITION"; else echo "$MULTI_PARTITION"; fi; }

nodes_not_ready() { # the nodes that do not accept jobs, each with its partition, state and reason, for messages
  local node out=""
  for node in "${NODES[@]}"; do
    node_ready "$node" && continue
    out+="${out:+, }$node (partition $(partition_of "$node"): $(node_reason "$node"))"
  done
  echo "$out"
}

nodes_summary() { # "vm idle, mn1 idle, mn2 idle"
  local node out=""
  for node in "${NODES[@]}"; do out+="${out:+, }$node $(node_state "$node")"; done
  echo "$out"
}

daemon_up() { # daemon_up NAME: running (a database server answering on the socket counts, whoever started it)
  running_pid "$1" >/dev/null && return 0
  [ "$1" = mariadbd ] && mariadb_up >/dev/null 2>&1
}

all_running() {
  local name
  for name in "${DAEMONS[@]}"; do daemon_up "$name" || return 1; done
}

# --- commands ---------------------------------------------------------------------------------------------------

cmd_status() {
  local ok=0 name pid
  for name in "${DAEMONS[@]}"; do
    if pid=$(running_pid "$name"); then
      if ours "$name"; then say "$name: running (pid $pid)"; else say "$name: running (pid $pid, not ours)"; fi
    elif daemon_up "$name"; then
      say "$name: a server answers on /run/mysqld/mysqld.sock (not ours)"
    else
      say "$name: NOT running"
      ok=1
    fi
  done
  if ! command -v sinfo >/dev/null; then
    say "sinfo: not installed (run: sudo $0 start)"
    return 1
  fi
  if ! running_pid slurmctld >/dev/null; then # sinfo would retry for 9 s
    say "nodes ${NODES[*]} do not accept jobs: no slurmctld"
    ok=1
  elif nodes_ready; then
    sinfo -o '%10P %6a %10l %6D %10T %12N %G' 2>&1 | sed 's/^/    /'
  else
    say "nodes not accepting jobs: $(nodes_not_ready)"
    ok=1
  fi
  if ! names_resolve; then
    say "node names ${MULTI_NODES[*]} do not resolve (getent hosts; start adds them to /etc/hosts)"
    ok=1
  fi
  if [ "$ok" -eq 0 ]; then
    say "cluster $CLUSTER is up: partition $PARTITION (default, node $HOST)," \
      "partition $MULTI_PARTITION (nodes ${MULTI_NODES[*]})"
  fi
  return "$ok"
}

cmd_start() {
  if [ "$(id -u)" -ne 0 ] && command -v sinfo >/dev/null && all_running && nodes_ready && names_resolve; then
    say "already up: partitions $PARTITION, $MULTI_PARTITION; nodes $(nodes_summary) (not root: configs not checked)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 start): it installs packages, writes /etc/slurm and starts daemons"
  mkdir -p "$RUN"
  exec 9>"$RUN/lock"
  flock -w 600 9 || die "another local_cluster.sh is still running (lock $RUN/lock)"
  install_packages
  add_host_names
  write_configs
  if [ "$SLURM_CONF_CHANGED" -eq 0 ] && [ "$DBD_CONF_CHANGED" -eq 0 ] && all_running && nodes_ready; then
    say "already up: partitions $PARTITION, $MULTI_PARTITION; nodes $(nodes_summary) ($((SECONDS)) s)"
    return 0
  fi
  local name node
  if [ "$DBD_CONF_CHANGED" -eq 1 ]; then restart_if_ours slurmdbd; fi
  if [ "$SLURM_CONF_CHANGED" -eq 1 ]; then
    for name in "${DAEMONS[@]}"; do if is_slurmd "$name"; then restart_if_ours "$name"; fi; done
    restart_if_ours slurmctld
  fi
  start_munged
  start_mariadbd
  start_slurmdbd
  start_slurmctld
  for name in "${DAEMONS[@]}"; do if is_slurmd "$name"; then start_slurmd "$name"; fi; done
  say "waiting for nodes ${NODES[*]} to become idle"
  if ! wait_for 60 nodes_ready; then
    for node in "${NODES[@]}"; do
      node_ready "$node" && continue
      say "node $node is $(node_state "$node"): resuming it"
      scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
    done
    if ! wait_for 30 nodes_ready; then
      local logs=()
      for name in "${DAEMONS[@]}"; do
        if is_slurmd "$name" && ! node_ready "$(node_of "$name")"; then logs+=("$(log_of "$name")"); fi
      done
      die "nodes did not become idle: $(nodes_not_ready)" "${logs[@]}" "$LOGS/slurmctld.log"
    fi
  fi
  say "up in $SECONDS s: Slurm $(sinfo -V | awk '{print $2}'), cluster $CLUSTER," \
    "partition $PARTITION: node $HOST $(sinfo -h -n "$HOST" -o '%c CPUs, %m MB, %G')," \
    "partition $MULTI_PARTITION: nodes ${MULTI_NODES[*]}," \
    "each $(sinfo -h -n "${MULTI_NODES[0]}" -o '%c CPUs, %m MB, %G')," \
    "MaxArraySize $(scontrol show config | awk '$1 == "MaxArraySize" {print $3}')"
}

cmd_stop() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 stop)"
  mkdir -p "$RUN"
  exec 9>"$RUN/lock"
  flock -w 600 9 || die "another local_cluster.sh is still running (lock $RUN/lock)"
  local name any=0 i
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name=${DAEMONS[$i]}
    if [ -f "$RUN/started/$name.pid" ]; then
      any=1
      stop_daemon "$name"
    elif running_pid "$name" >/dev/null; then
      say "$name: not started by this script, left running"
    fi
  done
  [ "$any" -eq 1 ] || say "nothing to stop: no daemon was started by this script"
  say "stopped (jobs still running keep running; their slurmstepd reattach when slurmd starts again)"
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
