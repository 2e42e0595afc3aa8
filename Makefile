# sealroom: `make run` serves a development instance, `make test` runs every test.
# Both work on a fresh Debian/Ubuntu machine with Go 1.26: missing system packages
# (PostgreSQL server binaries) are installed with apt-get when possible.

GO          ?= go
BIN         := bin/sealroom
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export SEALROOM_DATA ?= $(CURDIR)/.data

.PHONY: all build run cluster test bench lint deps browser-deps field-deps webapp clean devdb-stop

all: build

build: webapp
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/sealroom

## webapp: bundle the browser client into webapp/dist (embedded by the Go build)
webapp: webapp/dist/index.html

webapp/dist/index.html: webapp/node_modules/.installed $(wildcard webapp/app/*) $(wildcard webapp/sframe/*.mjs)
	cd webapp && npm run build

## run: build, start a throwaway local Postgres when DATABASE_URL is unset, migrate, serve on :8080
run: deps build
	$(BIN) serve --dev --migrate

## cluster: three nodes on loopback (127.0.0.1:8081-8083) against the development Postgres (docs/deployment.md)
cluster: deps build
	./scripts/cluster.sh

# The packages whose long-lived goroutines (connection loops, fan-out, forwarding, the
# audit writer) share state run under the race detector; their TestMain checks for leaked
# goroutines. Everything else runs without it.
RACE_PKGS := ./server/... ./keyservice/... ./media/... ./client/... ./audit/...

## test: every Go test against a real Postgres (a local throwaway cluster unless DATABASE_URL is set)
test: deps browser-deps field-deps webapp
	$(GO) test -count=1 -timeout 30m -race $(RACE_PKGS)
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -vE '/(server|keyservice|media|client|audit)(/|$$)')
	node --test webapp/

## bench: the Go benchmarks, each reporting its ratio to a baseline measured in the same run, then the SFU load tool (median of 3 runs against a bare forwarder)
bench: deps
	$(GO) test -run '^$$' -bench . -skip LeaveToNewKeys -benchtime 1s ./...
	$(GO) test -run '^$$' -bench LeaveToNewKeys -benchtime 100x -timeout 10m ./keyservice
	@echo "SFU against a bare UDP forwarder, same invocation (docs/loadtest.md):"
	$(GO) run ./cmd/sealroom loadtest --scenarios 2x20,10x10 --runs 3

## lint: formatting, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## deps: system packages the tests and the dev server need
deps:
	@if [ -z "$$DATABASE_URL" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing PostgreSQL server binaries (apt-get install postgresql)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql; \
	  else \
	    echo "PostgreSQL server binaries (initdb, pg_ctl) are missing: install PostgreSQL 13 or newer, or set DATABASE_URL"; exit 1; \
	  fi; \
	fi
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Node.js and npm (apt-get install nodejs npm) for the browser-side code"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; \
	  fi; \
	fi
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null || { \
	  echo "Node.js 20.19 or newer is needed for the browser-side code (found: $$(node --version 2>/dev/null || echo none))."; \
	  echo "Debian 13 and Ubuntu 24.04+ ship it (apt-get install nodejs npm); on Debian 12 install Node.js 20 from NodeSource."; \
	  exit 1; }
	@$(MAKE) --no-print-directory webapp/node_modules/.installed

# npm ci applies the pinned ts-mls patches (webapp/mls/patches) in its postinstall step.
webapp/node_modules/.installed: webapp/package.json webapp/package-lock.json $(wildcard webapp/mls/patches/*.patch)
	cd webapp && npm ci --no-audit --no-fund
	touch $@

## browser-deps: Debian's Chromium and firefox-esr for the browser tests (headless, fake camera; Firefox is
## driven over WebDriver BiDi by puppeteer-core from webapp/node_modules, never a downloaded browser build)
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (apt-get install chromium) for the browser tests"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; \
	  else \
	    echo "Chromium is missing: the browser tests need it (Debian: apt-get install chromium)"; exit 1; \
	  fi; \
	fi
	@if ! command -v firefox-esr >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing firefox-esr (apt-get install firefox-esr) for the browser tests"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q firefox-esr; \
	  else \
	    echo "firefox-esr is missing: the browser tests need it (Debian: apt-get install firefox-esr)"; exit 1; \
	  fi; \
	fi

## field-deps: ip and nft for the field tests (a network namespace where UDP is dropped)
field-deps:
	@if ! command -v nft >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nftables and iproute2 for the field tests"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nftables iproute2; \
	  else \
	    echo "nft and ip are missing: the field tests need them (Debian: apt-get install nftables iproute2)"; exit 1; \
	  fi; \
	fi

## devdb-stop: stop the throwaway local Postgres
devdb-stop:
	$(GO) run ./cmd/sealroom devdb stop

clean: devdb-stop
	rm -rf bin .data
