#!/usr/bin/env bash
# Runs a real 3-node MariaDB Galera cluster (multi-primary, synchronous
# replication) on this machine for `make test-galera`.
#
#   scripts/galera.sh [start|stop|status]   (default: start)
#
# Nodes listen on 127.0.0.1:3307, 3308 and 3309 (MySQL protocol; root over
# TCP, no password) and talk Galera on 4567/4577/4587. Each node has its own
# datadir and my.cnf under $GALERA_DIR (default /var/tmp/rapport-galera;
# outside /root because the nodes run as the mysql user). `start` wipes it:
# node 1 bootstraps a new cluster, nodes 2 and 3 join and copy its data by
# rsync SST, and it returns once all three are Synced in a cluster of 3.
# The machine's own MariaDB on 3306 is never touched. Fails loudly; never
# skips.
set -euo pipefail

DIR=${GALERA_DIR:-/var/tmp/rapport-galera}
NODES=(1 2 3)
MARIADBD=/usr/sbin/mariadbd
PROVIDER=/usr/lib/galera/libgalera_smm.so

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

say() { echo "galera: $*"; }
die() { echo "galera: FAILED: $*" >&2; exit 1; }

port() { echo $((3306 + $1)); }                # SQL: 3307 3308 3309
gport() { echo $((4567 + 10 * ($1 - 1))); }    # group communication: 4567 4577 4587
istport() { echo $((4568 + 10 * ($1 - 1))); }  # incremental state transfer
sstport() { echo $((4444 + 10 * ($1 - 1))); }  # rsync state snapshot transfer
pidfile() { echo "$DIR/n$1/run/ssd.pid"; }     # start-stop-daemon's; mariadbd writes its own too
cnf() { echo "$DIR/n$1/my.cnf"; }

sql() { # sql NODE QUERY: one value, over TCP as root
  mariadb -h127.0.0.1 -P"$(port "$1")" -uroot --connect-timeout=2 -N -B -e "$2" 2>/dev/null
}
answers() { sql "$1" 'SELECT 1' >/dev/null; }
running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }
wsrep() { sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" | cut -f2 || true; }

install() {
  if [ -x "$MARIADBD" ] && [ -f "$PROVIDER" ] && command -v rsync >/dev/null && command -v mariadb >/dev/null; then
    return
  fi
  say "installing mariadb-server, galera-4 and rsync"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q mariadb-server mariadb-client galera-4 rsync
  [ -f "$PROVIDER" ] || die "no Galera provider at $PROVIDER after installing galera-4"
}

write_cnf() { # write_cnf NODE
  local n=$1 d="$DIR/n$1"
  local addrs="127.0.0.1:$(gport 1),127.0.0.1:$(gport 2),127.0.0.1:$(gport 3)"
  cat >"$(cnf "$n")" <<EOF
# Galera test node $n (written by scripts/galera.sh; rewritten on every start)
[mysqld]
user=mysql
datadir=$d/data
socket=$d/run/mysqld.sock
pid-file=$d/run/mysqld.pid
log-error=$d/error.log
bind-address=127.0.0.1
port=$(port "$n")
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
default_storage_engine=InnoDB
innodb_buffer_pool_size=128M
innodb_autoinc_lock_mode=2
# Durability comes from the other nodes; the disk is shared by all three.
innodb_flush_log_at_trx_commit=2
binlog_format=ROW
max_connections=500
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=rapport_test
wsrep_cluster_address=gcomm://$addrs
wsrep_node_name=n$n
wsrep_node_address=127.0.0.1:$(gport "$n")
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gport "$n");ist.recv_addr=127.0.0.1:$(istport "$n");gcache.size=32M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sstport "$n")

[client]
socket=$d/run/mysqld.sock
port=$(port "$n")
default-character-set=utf8mb4
EOF
}

start_node() { # start_node NODE [extra mariadbd args]
  local n=$1; shift
  $SUDO start-stop-daemon --start --background --make-pidfile --pidfile "$(pidfile "$n")" \
    --output "$DIR/n$n/stdout.log" --exec "$MARIADBD" -- --defaults-file="$(cnf "$n")" "$@" \
    || die "start-stop-daemon could not start node $n"
}

wait_synced() { # wait_synced NODE SECONDS
  local n=$1 i
  for i in $(seq 1 $(($2 * 2))); do
    if answers "$n" && [ "$(wsrep "$n" wsrep_local_state_comment)" = "Synced" ]; then return; fi
    if ! running "$n"; then break; fi
    sleep 0.5
  done
  tail -n 40 "$DIR/n$n/error.log" >&2 2>/dev/null || true
  die "node $n (port $(port "$n")) is not Synced after $2 s; log: $DIR/n$n/error.log"
}

start() {
  install
  local all=1 any=0 n
  for n in "${NODES[@]}"; do
    if running "$n"; then any=1; else all=0; fi
  done
  if [ $all = 1 ]; then
    say "already running"
    status
    return
  fi
  [ $any = 1 ] && die "some nodes run and some do not; run: $0 stop"
  for n in "${NODES[@]}"; do
    for p in $(port "$n") $(gport "$n") $(istport "$n") $(sstport "$n"); do
      if ss -Htln "sport = :$p" | grep -q .; then die "port $p is in use; is another cluster running?"; fi
    done
  done
  local t0=$SECONDS
  $SUDO rm -rf "$DIR"
  for n in "${NODES[@]}"; do
    $SUDO mkdir -p "$DIR/n$n/data" "$DIR/n$n/run"
    write_cnf "$n"
    $SUDO chown -R mysql:mysql "$DIR/n$n"
    # Joiners get node 1's data by SST, but mariadbd wants a datadir to start from.
    $SUDO mariadb-install-db --defaults-file="$(cnf "$n")" --user=mysql \
      --auth-root-authentication-method=normal --skip-test-db >"$DIR/n$n/install.log" 2>&1 \
      || { cat "$DIR/n$n/install.log" >&2; die "mariadb-install-db for node $n"; }
  done
  say "bootstrapping node 1 on port $(port 1)"
  start_node 1 --wsrep-new-cluster
  wait_synced 1 60
  # Root over TCP with no password, as the tests expect. Users replicate, so
  # node 1 is enough; the statements are no-ops where the grants exist.
  mariadb --socket="$DIR/n1/run/mysqld.sock" -uroot -e "
    CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
    FLUSH PRIVILEGES;" || die "granting root over TCP on node 1"
  for n in 2 3; do
    say "node $n joins (rsync SST from node 1)"
    start_node "$n"
    wait_synced "$n" 120
  done
  for n in "${NODES[@]}"; do
    local size
    size=$(wsrep "$n" wsrep_cluster_size)
    [ "$size" = 3 ] || die "node $n sees wsrep_cluster_size=$size, want 3"
    [ "$(sql "$n" 'SELECT @@character_set_server')" = utf8mb4 ] || die "node $n: character_set_server is not utf8mb4"
  done
  say "3 nodes Synced in $((SECONDS - t0)) s"
  dsns
}

stop() {
  local n
  for n in 3 2 1; do
    local pf
    pf=$(pidfile "$n")
    if [ ! -f "$pf" ]; then continue; fi
    $SUDO start-stop-daemon --stop --oknodo --pidfile "$pf" --exec "$MARIADBD" --retry TERM/60/KILL/5 --remove-pidfile \
      || die "could not stop node $n (pid $(cat "$pf"))"
    say "node $n stopped"
  done
}

status() {
  local n bad=0
  for n in "${NODES[@]}"; do
    if running "$n" && answers "$n"; then
      say "node $n: port $(port "$n"), pid $(cat "$(pidfile "$n")"), $(wsrep "$n" wsrep_local_state_comment), cluster size $(wsrep "$n" wsrep_cluster_size)"
    else
      say "node $n: not running"
      bad=1
    fi
  done
  [ $bad = 0 ] && dsns
  return $bad
}

dsns() {
  echo "RAPPORT_TEST_MYSQL_DSN='root@tcp(127.0.0.1:$(port 1))/'"
  echo "RAPPORT_TEST_REPLICA_DSNS='root@tcp(127.0.0.1:$(port 1))/,root@tcp(127.0.0.1:$(port 2))/,root@tcp(127.0.0.1:$(port 3))/'"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
