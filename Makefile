# Tollgate build and test entry points. `make run` starts Tollgate; `make test` runs every
# check CI runs (it installs what it needs on a fresh Debian machine first).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# -race roughly triples test time; CI keeps it on, `make test RACE=` turns it off locally.
RACE        ?= -race
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/tollgate/tollgate/internal/app.Version=$(VERSION)

.PHONY: run build test deps lint unit bench fmt

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/tollgate serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tollgate ./cmd/tollgate

deps:
	./scripts/deps.sh

lint:
	@echo '== go mod tidy -diff'
	$(GO) mod tidy -diff
	@echo '== gofmt'
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo '== go vet'
	$(GO) vet ./...
	@echo '== staticcheck'
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
		$(GO) run $(STATICCHECK) ./...; \
	else \
		echo "staticcheck could not be fetched from the Go module proxy; skipped"; \
	fi

# TOLLGATE_REQUIRE_SERVERS: a test that needs redis-server or PostgreSQL fails instead of skipping.
unit:
	@echo '== go test'
	TOLLGATE_REQUIRE_SERVERS=1 $(GO) test $(RACE) -count=1 -timeout 15m ./...

test: deps lint unit

bench:
	./bench/run

fmt:
	gofmt -w .
