# Warden's developer entry points. See README.md.
GO       ?= go
BIN      := bin/warden
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
export GOTOOLCHAIN := local
export CGO_ENABLED := 1

.PHONY: build test test-unit lint bench fuzz demo clean pg-start pg-stop mariadb-start mariadb-stop sshd-start sshd-stop kube-start kube-stop

build:
	@scripts/deps.sh
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/warden

# Everything: unit, integration (real PostgreSQL) and end-to-end tests.
test:
	scripts/test.sh

# Tests that need no server (integration tests skip).
test-unit:
	$(GO) test ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@sc=$$(command -v staticcheck || echo $$(go env GOPATH)/bin/staticcheck); \
	if [ -x "$$sc" ]; then $$sc ./...; else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@latest)"; fi

bench: build
	scripts/bench.sh

# Every native fuzz target for FUZZTIME each (default 60s); inputs that fail
# are kept under the package's testdata/fuzz/ (scripts/fuzz.sh).
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

demo: build
	./$(BIN) demo

pg-start:
	@scripts/pg.sh start
pg-stop:
	@scripts/pg.sh stop
mariadb-start:
	@scripts/mariadb.sh start
mariadb-stop:
	@scripts/mariadb.sh stop
sshd-start:
	@scripts/sshd.sh start
sshd-stop:
	@scripts/sshd.sh stop
kube-start:
	@scripts/kube.sh start
kube-stop:
	@scripts/kube.sh stop

clean:
	rm -rf bin
