#!/usr/bin/env bash
# Builds and runs a single-binary TiDB server (unistore storage: no PD or
# TiKV) for `make test-tidb`.
#
#   scripts/tidb.sh [build|start|stop|status]   (default: build, then start)
#
# build   builds tidb-server from the Go module proxy in a wrapper module
#         outside this repository ($RAPPORT_CACHE/tidb-build, default
#         ~/.cache/rapport) and caches the binary; skipped when the cached
#         binary was built from the pinned version.
# start   starts it on 127.0.0.1:$TIDB_PORT (default 4000) with a fresh data
#         directory, waits until it answers and prints the DSN.
# stop    stops the server this script started on that port.
# status  says whether it runs and answers.
#
# The version is pinned: `go get github.com/pingcap/tidb@latest` and tagged
# releases are refused by the proxy, this pseudo-version resolves (see
# PLATFORMS.md 6.x). Fails loudly; never skips.
set -euo pipefail

TIDB_VERSION=v1.1.0-beta.0.20251126154744-e4e814fdc0af
TIDB_PARSER_VERSION=v0.0.0-20251126154744-e4e814fdc0af

CACHE=${RAPPORT_CACHE:-$HOME/.cache/rapport}
BUILD_DIR=$CACHE/tidb-build
BIN=$CACHE/tidb/tidb-server
BIN_VERSION=$BIN.version
PORT=${TIDB_PORT:-4000}
STATUS_PORT=${TIDB_STATUS_PORT:-$((PORT + 6080))}
RUN_DIR=$CACHE/tidb/run-$PORT
PIDFILE=$RUN_DIR/tidb.pid
LOG=$RUN_DIR/tidb.log

say() { echo "tidb: $*"; }
die() { echo "tidb: FAILED: $*" >&2; exit 1; }

client() { command -v mariadb || command -v mysql || die "no mysql/mariadb client (apt-get install mariadb-client)"; }
answers() { "$(client)" -h127.0.0.1 -P"$PORT" -uroot --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1; }
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

built() { [ -x "$BIN" ] && [ -f "$BIN_VERSION" ] && [ "$(cat "$BIN_VERSION")" = "$TIDB_VERSION" ]; }

build() {
  if built; then say "cached binary $BIN is $TIDB_VERSION"; return; fi
  command -v go >/dev/null || die "go is not installed"
  say "building tidb-server $TIDB_VERSION in $BUILD_DIR (cold: 8–12 min on 2 cores, ~4 GB of caches)"
  local start=$SECONDS
  mkdir -p "$BUILD_DIR" "$(dirname "$BIN")"
  # A module of its own: TiDB's dependencies never touch Rapport's go.mod.
  cat >"$BUILD_DIR/go.mod" <<EOF
module rapport.local/tidb-build

go 1.25

replace (
	github.com/go-ldap/ldap/v3 => github.com/YangKeao/ldap/v3 v3.4.5-0.20230421065457-369a3bab1117
	github.com/pingcap/tidb/pkg/parser => github.com/pingcap/tidb/pkg/parser $TIDB_PARSER_VERSION
	sourcegraph.com/sourcegraph/appdash => github.com/sourcegraph/appdash v0.0.0-20190731080439-ebfcffb1b5c0
	sourcegraph.com/sourcegraph/appdash-data => github.com/sourcegraph/appdash-data v0.0.0-20151005221446-73f23eafcf67
)
EOF
  rm -f "$BUILD_DIR/go.sum"
  (
    cd "$BUILD_DIR"
    export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
    go get -tool "github.com/pingcap/tidb/cmd/tidb-server@$TIDB_VERSION"
    go build -o "$BIN.tmp" github.com/pingcap/tidb/cmd/tidb-server
  ) || die "go build of tidb-server $TIDB_VERSION (see the output above)"
  "$BIN.tmp" -V >/dev/null || die "the built tidb-server does not run"
  mv "$BIN.tmp" "$BIN"
  echo "$TIDB_VERSION" >"$BIN_VERSION"
  say "built $BIN in $((SECONDS - start)) s"
}

start() {
  built || die "no tidb-server $TIDB_VERSION at $BIN; run: $0 build"
  if running; then
    answers || die "tidb-server (pid $(cat "$PIDFILE")) runs on port $PORT but does not answer; see $LOG"
    say "already running (pid $(cat "$PIDFILE"))"
    dsn
    return
  fi
  answers && die "something else already answers on 127.0.0.1:$PORT; set TIDB_PORT"
  # A fresh data directory every start: tests expect an empty server.
  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR/data"
  local start=$SECONDS
  start-stop-daemon --start --background --make-pidfile --pidfile "$PIDFILE" \
    --chdir "$RUN_DIR" --output "$RUN_DIR/stdout.log" --exec "$BIN" -- \
    --store=unistore --path="$RUN_DIR/data" -host 127.0.0.1 -P "$PORT" \
    --status "$STATUS_PORT" --log-file "$LOG" --log-slow-query "$RUN_DIR/slow.log" \
    || die "start-stop-daemon could not start $BIN"
  for _ in $(seq 1 120); do
    if answers; then
      say "up on 127.0.0.1:$PORT in $((SECONDS - start)) s (pid $(cat "$PIDFILE"), log $LOG)"
      dsn
      return
    fi
    running || break
    sleep 0.5
  done
  tail -n 30 "$RUN_DIR/stdout.log" "$LOG" >&2 2>/dev/null || true
  stop >/dev/null 2>&1 || true
  die "tidb-server did not answer on 127.0.0.1:$PORT"
}

stop() {
  if ! [ -f "$PIDFILE" ]; then say "not running on port $PORT (no $PIDFILE)"; return; fi
  start-stop-daemon --stop --oknodo --pidfile "$PIDFILE" --exec "$BIN" --retry TERM/30/KILL/5 --remove-pidfile \
    || die "could not stop tidb-server (pid $(cat "$PIDFILE"))"
  say "stopped (port $PORT)"
}

status() {
  if running && answers; then
    say "running (pid $(cat "$PIDFILE")): $("$(client)" -h127.0.0.1 -P"$PORT" -uroot -N -e 'SELECT version()')"
    dsn
  else
    say "not running on port $PORT"
    return 1
  fi
}

dsn() { echo "RAPPORT_TEST_MYSQL_DSN='root@tcp(127.0.0.1:$PORT)/'"; }

case "${1:-all}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  all) build && start ;;
  *) die "usage: $0 [build|start|stop|status]" ;;
esac
