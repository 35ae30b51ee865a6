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

build:
	go build -o bin/rapport ./cmd/rapport

bench:
	./scripts/ensure-mysql.sh
	go test -run '^$$' -bench . -benchtime 1x ./...
