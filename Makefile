# shopwatch — build, demo, tests and benchmarks. Every target installs what it
# needs by itself (Go modules; for tests also Debian's Chromium and MinIO).

GO        ?= go
GOBIN     := $(shell $(GO) env GOPATH)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X shopwatch.Version=$(VERSION)
# A pinned MinIO server for the object-store tests, built from source through
# the Go module proxy (no prebuilt binary download is needed).
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_TIMEOUT ?= 25m

export PATH := $(GOBIN):$(PATH)

.PHONY: all setup setup-go setup-chromium setup-minio setup-tools setup-replayweb setup-softhsm setup-bench build demo test test-short bench bench-crawlers bench-100k soak fuzz lint fmt fmt-check tidy-check clean

all: build

setup: setup-go setup-chromium setup-minio setup-tools setup-replayweb setup-softhsm

setup-go:
	$(GO) mod download

setup-chromium:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(chromium --version 2>/dev/null)"; else \
		echo "installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
		chromium --version; fi
	@# Chromium keeps its sandbox on, so as root it runs as this unprivileged account.
	@if id shopwatch-chromium >/dev/null 2>&1; then echo "chromium account: shopwatch-chromium present"; else \
		echo "creating the unprivileged account shopwatch-chromium"; \
		$(SUDO) useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shopwatch-chromium; fi
	@# CJK glyphs for screenshots of Chinese pages and for report.pdf.
	@if fc-list 2>/dev/null | grep -qi 'noto.*cjk'; then echo "fonts: Noto CJK present"; else \
		echo "installing Debian's fonts-noto-cjk"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-noto-cjk >/dev/null; fi

# Standard tools the tests check bundles with: openssl (ts -verify, SM3),
# sha256sum, unzip, and pdftotext to read report.pdf.
setup-tools:
	@missing=""; for t in openssl:openssl sha256sum:coreutils unzip:unzip pdftotext:poppler-utils; do \
		command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -z "$$missing" ]; then echo "tools: openssl, sha256sum, unzip, pdftotext present"; else \
		echo "installing Debian's$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

# Debian's SoftHSM2, the PKCS#11 token the tests keep a signing key in
# (evidence/hsm); softhsm2-util makes each test's token.
setup-softhsm:
	@if command -v softhsm2-util >/dev/null 2>&1 && [ -e /usr/lib/softhsm/libsofthsm2.so ]; then echo "softhsm2: $$(softhsm2-util --version)"; else \
		echo "installing Debian's softhsm2"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq softhsm2 >/dev/null; \
		softhsm2-util --version; fi

# ReplayWeb.page's static player (npm package, pinned version and SHA-256)
# for the test that replays an exported bundle; npm only packs it.
setup-replayweb:
	@command -v npm >/dev/null 2>&1 || { echo "installing Debian's npm"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm >/dev/null; }
	@echo "replaywebpage: $$(bash internal/testparts/replaywebpage.sh)"

setup-minio:
	@if command -v minio >/dev/null 2>&1; then echo "minio: $$(command -v minio)"; else \
		echo "building the pinned MinIO server (takes a few minutes once; cached in $(GOBIN))"; \
		GOFLAGS=-buildvcs=false $(GO) install $(MINIO_MODULE); fi

build: setup-go
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/shopwatch ./cmd/shopwatch

# The main job on the embedded default: sweep the built-in test marketplace.
demo: build
	./bin/shopwatch demo

test: setup fmt-check
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

# Without installs or the race detector: for a quick local loop.
test-short:
	$(GO) test -short ./...

# Benchmarks; figures go into the README as ratios against a baseline run in
# the same invocation.
bench: setup-go
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...

# Debian's Scrapy, the second baseline of the crawler comparison.
setup-bench:
	@if /usr/bin/python3 -c 'import scrapy' 2>/dev/null; then echo "scrapy: $$(/usr/bin/python3 -c 'import scrapy; print(scrapy.__version__)')"; else \
		echo "installing Debian's python3-scrapy"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-scrapy >/dev/null; fi

# shopwatch's full sweep against bare colly and Scrapy on the same loopback
# market (bench/crawlers.sh); about 10,000 pages.
BENCH_SHOPS ?= 2000
bench-crawlers: setup-go setup-bench
	SHOPS=$(BENCH_SHOPS) HOSTS=8 bench/crawlers.sh

# The same over a market of about 100,000 pages, for peak RSS at scale.
bench-100k: setup-go setup-bench
	SHOPS=20000 HOSTS=8 bench/crawlers.sh

# Long fuzzing of the rule loader, the checker and the normaliser (one fuzz
# target per run, as go test requires; SOAK_TIME per target), then a sweep
# killed with SIGKILL 150 times at random points and resumed.
SOAK_TIME ?= 10m
soak: setup-go
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(SOAK_TIME) ./rules
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(SOAK_TIME) ./rules
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(SOAK_TIME) ./rules
	SHOPWATCH_SOAK=1 $(GO) test -race -timeout 30m -run '^TestSweepSurvivesKills$$' ./cmd/shopwatch

# Fuzz the readers of evidence: the WARC reader, the manifest parser, the
# ledger proof parser and the bundle verifier, FUZZ_TIME each (one target per
# run, as go test requires). make test runs only their committed corpora
# (testdata/fuzz/); a crasher found here is fixed and committed as a seed.
FUZZ_TIME ?= 60s
fuzz: setup-go
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 5s ./evidence/warc
	$(GO) test -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 5s ./evidence
	$(GO) test -run '^$$' -fuzz '^FuzzParseProof$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 5s ./evidence/ledger
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyBundle$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 5s ./evidence

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: tidy-check fmt-check
	$(GO) vet ./...

tidy-check:
	@cp go.mod /tmp/shopwatch-go.mod.bak; cp go.sum /tmp/shopwatch-go.sum.bak; \
	$(GO) mod tidy; \
	if ! diff -q go.mod /tmp/shopwatch-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/shopwatch-go.sum.bak >/dev/null; then \
		echo "go.mod/go.sum are not tidy (run go mod tidy)"; cp /tmp/shopwatch-go.mod.bak go.mod; cp /tmp/shopwatch-go.sum.bak go.sum; exit 1; fi

clean:
	rm -rf bin shopwatch-demo
