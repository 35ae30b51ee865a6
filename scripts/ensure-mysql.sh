#!/usr/bin/env bash
# Makes sure a MySQL-compatible server answers at 127.0.0.1:3306 and lets
# root in over TCP with an empty password, as the tests expect. Installs and
# starts MariaDB from Debian's packages when none is running. Fails loudly;
# never skips.
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

client() { command -v mariadb || command -v mysql || true; }
tcp_login() { local c; c=$(client); [ -n "$c" ] && "$c" -h127.0.0.1 -P3306 -uroot --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1; }
alive() { local c; c=$(command -v mariadb-admin || command -v mysqladmin || true); [ -n "$c" ] && "$c" -h127.0.0.1 -P3306 --connect-timeout=2 ping >/dev/null 2>&1; }

if tcp_login; then echo "mysql: root@127.0.0.1:3306 answers"; exit 0; fi

if ! alive; then
  echo "mysql: no server at 127.0.0.1:3306; starting MariaDB"
  if [ ! -x /usr/sbin/mariadbd ]; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q mariadb-server mariadb-client
  fi
  $SUDO mkdir -p /run/mysqld
  $SUDO chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    $SUDO mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  $SUDO start-stop-daemon --start --oknodo --background --pidfile /run/mysqld/mysqld.pid \
    --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=3306 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
  for _ in $(seq 1 120); do
    if $SUDO mariadb-admin ping >/dev/null 2>&1 || alive; then break; fi
    sleep 0.5
  done
fi

if ! tcp_login; then
  # Debian's root logs in by unix socket only; the tests use TCP with no password.
  echo "mysql: letting root in over TCP with an empty password"
  $SUDO mariadb -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
   CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
   FLUSH PRIVILEGES;" || true
fi

if tcp_login; then echo "mysql: root@127.0.0.1:3306 answers"; exit 0; fi
echo "mysql: FAILED to reach MySQL/MariaDB as root@127.0.0.1:3306; the store tests need it" >&2
exit 1
