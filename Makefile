# The test command: makes sure MySQL/MariaDB and Chromium (for the console's
# browser tests) are there, then runs every test on SQLite and MySQL with
# the race detector.
.PHONY: test run build vet fmt bench fuzz test-tidb test-galera

test:
	./scripts/ensure-mysql.sh
	./scripts/ensure-chromium.sh
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (gofmt -l . && echo "gofmt needed" && exit 1)
	go vet ./...
	go test -race -count=1 -timeout 15m ./...

run:
	go run ./cmd/rapport

# The version `rapport version` prints: the nearest tag, commits since it,
# the commit, and -dirty for uncommitted changes (v1.4.0-3-g1a2b3c4-dirty).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/rapport ./cmd/rapport

bench:
	./scripts/ensure-mysql.sh
	go test -run '^$$' -bench . -benchtime 1x ./...

# The store, care, followup and end-to-end suites on other MySQL-protocol
# engines, plus the replicas test (three `rapport serve` processes on one
# database). Not part of `make test`: TiDB takes ~8 min to build the first
# time. Each target starts its engine, runs the suites, and stops the engine
# whatever the outcome (trap). Without -race: these check the engines'
# semantics, and the race detector makes the timing-bound tests crawl.
ENGINE_PKGS = ./store/... ./care/... ./followup/... ./cmd/rapport/
ENGINE_TESTFLAGS ?= -count=1 -timeout 45m
TIDB_PORT ?= 4000
TIDB_DSN = root@tcp(127.0.0.1:$(TIDB_PORT))/

test-tidb:
	./scripts/tidb.sh build
	trap 'TIDB_PORT=$(TIDB_PORT) ./scripts/tidb.sh stop' EXIT; \
	TIDB_PORT=$(TIDB_PORT) ./scripts/tidb.sh start && \
	RAPPORT_TEST_MYSQL_DSN='$(TIDB_DSN)' \
	RAPPORT_TEST_REPLICA_DSNS='$(TIDB_DSN),$(TIDB_DSN),$(TIDB_DSN)' \
	go test $(ENGINE_TESTFLAGS) $(ENGINE_PKGS)

# The suites run against node 1; the replicas test puts one `rapport serve`
# on each node, and the store's cluster tests one store on each node.
GALERA_DSNS = root@tcp(127.0.0.1:3307)/,root@tcp(127.0.0.1:3308)/,root@tcp(127.0.0.1:3309)/

test-galera:
	trap './scripts/galera.sh stop' EXIT; \
	./scripts/galera.sh start && \
	RAPPORT_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3307)/' \
	RAPPORT_TEST_REPLICA_DSNS='$(GALERA_DSNS)' \
	RAPPORT_TEST_GALERA_DSNS='$(GALERA_DSNS)' \
	go test $(ENGINE_TESTFLAGS) $(ENGINE_PKGS)
