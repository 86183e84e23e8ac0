#!/usr/bin/env bash
# A real single-node SLURM cluster with accounting (slurmdbd + MariaDB) on this machine, for CI and for
# trying bench's SLURM launchers (conf/hydra/launcher/slurm_*.yaml). Works without systemd: every daemon
# is started here and stopped by the pid in its pid file.
#
#   .ci/slurm/cluster.sh start    install the Debian packages if missing, write the configs, start MariaDB,
#                                 munged, slurmdbd, slurmctld, slurmd; wait until the node is idle and sacct
#                                 answers (idempotent: what is already running is left alone)
#   .ci/slurm/cluster.sh stop     cancel every job, stop every daemon started here, check none is left
#   .ci/slurm/cluster.sh status   daemons, sinfo, sacct; exit 0 only when the cluster answers
#
# Environment:
#   BENCH_SLURM_STATE   state folder: configs, logs, pid files, spool, database (default /tmp/bench-slurm)
#   BENCH_SLURM_DB_PORT TCP port of the accounting MariaDB on 127.0.0.1 (default 3307)
#   BENCH_SLURM_CLUSTER cluster name in slurm.conf and accounting (default bench)
#   BENCH_SLURM_PARTITION  the single partition (default debug, the default partition)
# Needs root (apt-get, daemons running as the slurm, munge and mysql users). SLURM reads its configs from
# /etc/slurm (the clients sbatch, sacct, ... have no other way to find them), so the files written into the
# state folder are copied there.
set -euo pipefail

STATE="${BENCH_SLURM_STATE:-/tmp/bench-slurm}"
DB_PORT="${BENCH_SLURM_DB_PORT:-3307}"
CLUSTER="${BENCH_SLURM_CLUSTER:-bench}"
PARTITION="${BENCH_SLURM_PARTITION:-debug}"
ETC=/etc/slurm
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

# pid files
PID_DB="$STATE/run/mysql/mariadb.pid"  # run/mysql is owned by mysql, run/ by slurm
PID_MUNGE="$STATE/run/munged.pid"      # a copy of /run/munge/munged.pid (munged wants a folder it trusts)
DB_SOCK="$STATE/run/mysql/mysqld.sock"
PID_DBD="$STATE/run/slurmdbd.pid"
PID_CTLD="$STATE/run/slurmctld.pid"
PID_SLURMD="$STATE/run/slurmd.pid"

T0=$(date +%s%N)
# seconds since START_NS (default: since this script started), with one decimal
since() { local ms=$(( ($(date +%s%N) - ${1:-$T0}) / 1000000 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
say() { printf '[slurm %6ss] %s\n' "$(since)" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

# --- pid helpers ---------------------------------------------------------------------------------------
# pid_alive FILE EXE: the pid in FILE is a live process whose executable is EXE (guards against a stale
# pid file whose number was reused by some other process).
pid_alive() {
  local file=$1 exe=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
    *"/$exe" | *"/$exe-wlm") return 0 ;;  # Debian installs slurmctld and slurmd as *-wlm
    *) return 1 ;;
  esac
}

# stop_pid NAME FILE EXE: SIGTERM, wait up to 30 s, then SIGKILL; remove the pid file.
stop_pid() {
  local name=$1 file=$2 exe=$3 pid i
  if ! pid_alive "$file" "$exe"; then
    rm -f "$file"
    return 0
  fi
  pid=$(tr -dc '0-9' <"$file")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    say "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$file"
  say "stopped $name (pid $pid)"
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND every 0.2 s
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# --- install -------------------------------------------------------------------------------------------
install_packages() {
  local missing=() p t
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "packages present: $(dpkg-query -W -f='${Version}' slurmctld) slurm, $(dpkg-query -W -f='${Version}' mariadb-server) mariadb"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root"
  t=$(date +%s%N)
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # an install is tried first with the lists there are; 'apt-get update' only when that fails
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"/tmp/bench-slurm-apt.log" 2>&1; then
    apt-get update -qq >>"/tmp/bench-slurm-apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"/tmp/bench-slurm-apt.log" 2>&1 \
      || { tail -20 /tmp/bench-slurm-apt.log >&2; die "apt-get install failed (log: /tmp/bench-slurm-apt.log)"; }
  fi
  say "installed in $(since "$t") s"
}

# --- configs -------------------------------------------------------------------------------------------
node_name() { hostname -s; }

# render TEMPLATE: substitute @VAR@ placeholders of a template in .ci/slurm/
render() {
  sed -e "s|@STATE@|$STATE|g" -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@NODE@|$NODE|g" \
      -e "s|@CPUS@|$CPUS|g" -e "s|@SOCKETS@|$SOCKETS|g" -e "s|@CORES@|$CORES|g" -e "s|@THREADS@|$THREADS|g" \
      -e "s|@MEMORY@|$MEMORY|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@DB_PORT@|$DB_PORT|g" \
      -e "s|@DB_PASS@|$DB_PASS|g" "$HERE/$1"
}

write_configs() {
  local hw
  NODE=$(node_name)
  hw=$(slurmd -C | head -1)
  # the node's real hardware as slurmd sees it (slurmd refuses a node larger than the machine)
  CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  SOCKETS=$(sed -n 's/.* SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$hw")
  CORES=$(sed -n 's/.* CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
  THREADS=$(sed -n 's/.* ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
  MEMORY=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  [ -n "$CPUS" ] && [ -n "$MEMORY" ] || die "cannot parse 'slurmd -C': $hw"
  MEMORY=$((MEMORY * 95 / 100))  # leave a margin: the free memory seen at registration varies a little

  mkdir -p "$STATE"/{run/mysql,log,spool/slurmctld,spool/slurmd,etc}
  chmod 755 "$STATE" "$STATE"/{run,run/mysql,log,spool,etc}
  chown slurm:slurm "$STATE/spool/slurmctld" "$STATE/log" "$STATE/run"
  chown mysql:mysql "$STATE/run/mysql"
  # a database password made once per state folder
  [ -s "$STATE/etc/db.pass" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$STATE/etc/db.pass"; }
  chmod 600 "$STATE/etc/db.pass"
  DB_PASS=$(cat "$STATE/etc/db.pass")

  render slurm.conf.in >"$STATE/etc/slurm.conf"
  render slurmdbd.conf.in >"$STATE/etc/slurmdbd.conf"
  chown slurm:slurm "$STATE/etc/slurmdbd.conf"
  chmod 600 "$STATE/etc/slurmdbd.conf"
  chmod 644 "$STATE/etc/slurm.conf"

  # no cgroup.conf: proctrack/linuxproc and task/none need no cgroups (there is no systemd to delegate
  # them); slurmd 22.05 autodetects the cgroup version for itself, and has no CgroupPlugin=disabled yet
  mkdir -p "$ETC"
  local f
  CONF_CHANGED=0
  for f in slurm.conf slurmdbd.conf; do
    if ! cmp -s "$STATE/etc/$f" "$ETC/$f"; then
      CONF_CHANGED=1
      if [ -e "$ETC/$f" ] && ! grep -q 'written by .ci/slurm/cluster.sh' "$ETC/$f"; then
        cp -p "$ETC/$f" "$ETC/$f.before-bench"
        say "kept the previous $ETC/$f as $ETC/$f.before-bench"
      fi
      cp -p "$STATE/etc/$f" "$ETC/$f"
    fi
  done
  say "configs written: $STATE/etc/{slurm,slurmdbd}.conf -> $ETC/ (node $NODE: $CPUS CPUs, ${MEMORY} MB)"
}

# --- daemons -------------------------------------------------------------------------------------------
sql() { mariadb --no-defaults --socket="$DB_SOCK" -u root -N -B -e "$1"; }

start_mariadb() {
  if pid_alive "$PID_DB" mariadbd; then
    say "mariadb already running (pid $(cat "$PID_DB"))"
  else
    if [ ! -d "$STATE/mysql/mysql" ]; then
      mkdir -p "$STATE/mysql"
      chown mysql:mysql "$STATE/mysql"
      mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
        --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 \
        || { tail -20 "$STATE/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
      say "mariadb data folder initialised: $STATE/mysql"
    fi
    touch "$STATE/log/mariadb.log"
    chown mysql:mysql "$STATE/log/mariadb.log"
    # mariadbd does not fork: run it in its own session, detached from this shell's output
    setsid mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" --socket="$DB_SOCK" \
      --pid-file="$PID_DB" --port="$DB_PORT" --bind-address=127.0.0.1 --log-error="$STATE/log/mariadb.log" \
      --innodb-buffer-pool-size=128M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
      --max-allowed-packet=16M </dev/null >/dev/null 2>&1 &
    local bg=$!
    wait_for mariadb 60 sh -c "[ -d /proc/$bg ] || exit 0; mariadb --no-defaults --socket='$DB_SOCK' -u root -e 'SELECT 1'" \
      && sql "SELECT 1" >/dev/null || { tail -20 "$STATE/log/mariadb.log" >&2; die "mariadb did not answer in 60 s"; }
    wait_for "mariadb pid file" 10 pid_alive "$PID_DB" mariadbd || die "mariadb wrote no pid file"
    say "mariadb started (pid $(cat "$PID_DB"), 127.0.0.1:$DB_PORT)"
  fi
  # the accounting database and its user (idempotent; the password follows db.pass)
  sql "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
       CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
       CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
       ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "cannot create the accounting database"
}

start_munge() {
  if pid_alive "$PID_MUNGE" munged; then
    say "munged already running (pid $(cat "$PID_MUNGE"))"
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    say "created /etc/munge/munge.key"
  fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  # a munged already bound to the default socket (started by someone else) would make ours exit
  if [ -S /run/munge/munge.socket.2 ] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "a munged not started by this script answers on /run/munge/munge.socket.2: using it"
    return 0
  fi
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  rm -f /run/munge/munged.pid
  runuser -u munge -- munged --log-file=/var/log/munge/munged.log </dev/null >/dev/null 2>&1 \
    || { tail -5 /var/log/munge/munged.log >&2; die "munged failed to start"; }
  wait_for "munged pid" 10 pid_alive /run/munge/munged.pid munged || die "munged wrote no pid file"
  # our own record of the pid: stop kills only a munged this script started
  cp /run/munge/munged.pid "$PID_MUNGE"
  wait_for munge 10 sh -c 'munge -n </dev/null | unmunge' || die "munge does not round-trip a credential"
  say "munged started (pid $(cat "$PID_MUNGE"))"
}

start_slurmdbd() {
  if pid_alive "$PID_DBD" slurmdbd; then
    say "slurmdbd already running (pid $(cat "$PID_DBD"))"
  else
    slurmdbd </dev/null >/dev/null 2>&1 || { tail -20 "$STATE/log/slurmdbd.log" >&2; die "slurmdbd failed to start"; }
    wait_for "slurmdbd pid" 10 pid_alive "$PID_DBD" slurmdbd || { tail -20 "$STATE/log/slurmdbd.log" >&2; die "slurmdbd exited"; }
    say "slurmdbd started (pid $(cat "$PID_DBD"))"
  fi
  wait_for slurmdbd 60 sacctmgr -n -P show cluster format=cluster \
    || { tail -20 "$STATE/log/slurmdbd.log" >&2; die "slurmdbd does not answer sacctmgr in 60 s"; }
  if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
    say "cluster '$CLUSTER' registered in accounting"
  fi
}

start_slurmctld() {
  if pid_alive "$PID_CTLD" slurmctld; then
    say "slurmctld already running (pid $(cat "$PID_CTLD"))"
    if [ "$CONF_CHANGED" = 1 ]; then
      scontrol reconfigure && say "slurm.conf changed: scontrol reconfigure"
    fi
  else
    slurmctld </dev/null >/dev/null 2>&1 || { tail -20 "$STATE/log/slurmctld.log" >&2; die "slurmctld failed to start"; }
    wait_for "slurmctld pid" 10 pid_alive "$PID_CTLD" slurmctld || { tail -20 "$STATE/log/slurmctld.log" >&2; die "slurmctld exited"; }
    say "slurmctld started (pid $(cat "$PID_CTLD"))"
  fi
  wait_for slurmctld 60 scontrol ping || { tail -20 "$STATE/log/slurmctld.log" >&2; die "slurmctld does not answer in 60 s"; }
}

start_slurmd() {
  if pid_alive "$PID_SLURMD" slurmd; then
    say "slurmd already running (pid $(cat "$PID_SLURMD"))"
    return 0
  fi
  slurmd </dev/null >/dev/null 2>&1 || { tail -20 "$STATE/log/slurmd.log" >&2; die "slurmd failed to start"; }
  wait_for "slurmd pid" 10 pid_alive "$PID_SLURMD" slurmd || { tail -20 "$STATE/log/slurmd.log" >&2; die "slurmd exited"; }
  say "slurmd started (pid $(cat "$PID_SLURMD"))"
}

# the node takes jobs (idle, or already running some)
node_idle() {
  case "$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null)" in
    idle | mixed | allocated) return 0 ;;
    *) return 1 ;;
  esac
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "start needs root"
  local t
  install_packages
  write_configs
  t=$(date +%s%N)
  start_mariadb
  start_munge
  start_slurmdbd
  start_slurmctld
  start_slurmd
  # a node left DOWN by an earlier stop comes back (ReturnToService=2 does it too, this is quicker)
  if sinfo -h -N -n "$NODE" -o %T | grep -qE 'down|drain'; then
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
  fi
  wait_for "node idle" 60 node_idle || { sinfo -N -l; tail -20 "$STATE/log/slurmd.log" >&2; die "node $NODE is not idle after 60 s"; }
  wait_for sacct 30 sacct -n -X -S now-1minutes || die "sacct does not answer"
  say "daemons up in $(since "$t") s"
  say "ready: cluster '$CLUSTER', partition '$PARTITION', node $NODE $(sinfo -h -N -n "$NODE" -o '%T cpus=%c mem=%mMB'); state in $STATE"
}

cmd_stop() {
  local jobs i pid
  if pid_alive "$PID_CTLD" slurmctld && scontrol ping >/dev/null 2>&1; then
    jobs=$(squeue -h -o %A 2>/dev/null | wc -l)
    if [ "$jobs" -gt 0 ]; then
      say "cancelling $jobs job(s)"
      scancel --full --quiet $(squeue -h -o %A) 2>/dev/null || true
      for i in $(seq 1 150); do
        [ "$(squeue -h -o %A 2>/dev/null | wc -l)" -eq 0 ] && break
        sleep 0.2
      done
    fi
  fi
  stop_pid slurmd "$PID_SLURMD" slurmd
  # job steps (slurmstepd) outlive slurmd; those of this cluster run with our spool folder as cwd
  for pid in $(pgrep -x slurmstepd || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
      "$STATE"/*) kill -KILL "$pid" 2>/dev/null && say "killed leftover slurmstepd (pid $pid)" ;;
    esac
  done
  stop_pid slurmctld "$PID_CTLD" slurmctld
  stop_pid slurmdbd "$PID_DBD" slurmdbd
  stop_pid mariadb "$PID_DB" mariadbd
  stop_pid munged "$PID_MUNGE" munged
  local left
  left=$(ps -eo pid=,comm= | awk '$2 ~ /^(slurmctld|slurmctld-wlm|slurmscriptd|slurmd|slurmd-wlm|slurmdbd|slurmstepd|munged|mariadbd|mysqld)$/' || true)
  if [ -n "$left" ]; then
    say "still running (not started by this script, or not ours to stop):"
    echo "$left"
    return 1
  fi
  say "stopped: no slurm, munge or mariadb process left"
}

cmd_status() {
  local name file exe ok=0
  for spec in "mariadb:$PID_DB:mariadbd" "munged:$PID_MUNGE:munged" "slurmdbd:$PID_DBD:slurmdbd" \
              "slurmctld:$PID_CTLD:slurmctld" "slurmd:$PID_SLURMD:slurmd"; do
    IFS=: read -r name file exe <<<"$spec"
    if pid_alive "$file" "$exe"; then printf '  %-10s running (pid %s)\n' "$name" "$(tr -dc 0-9 <"$file")"
    else printf '  %-10s stopped\n' "$name"; ok=1; fi
  done
  if command -v sinfo >/dev/null && sinfo >/dev/null 2>&1; then
    sinfo -h -N -o '  node %N: partition %P, %T, cpus=%c mem=%mMB'
  else
    echo "  sinfo: no answer"; ok=1
  fi
  if command -v sacct >/dev/null && sacct -n -X -S now-1minutes >/dev/null 2>&1; then
    echo "  sacct: answers ($(sacct -n -X -a -S 2000-01-01 -o JobID | wc -l) jobs in accounting)"
  else
    echo "  sacct: no answer"; ok=1
  fi
  return $ok
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status   (state folder: BENCH_SLURM_STATE, default /tmp/bench-slurm)" >&2; exit 2 ;;
esac
