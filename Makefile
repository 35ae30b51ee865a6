# The test command: makes sure MySQL/MariaDB is there, then runs every test
# on SQLite and MySQL with the race detector.
.PHONY: test run build vet fmt bench fuzz

test:
	./scripts/ensure-mysql.sh
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
