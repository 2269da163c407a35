# faultline: the two commands a new user needs are `make run` (set up,
# build images, run the default test) and `make test` (the test suite).
GO      ?= go
BIN     := bin/faultline
ARGS    ?=
# The whole suite, Docker-backed tests included, stays well inside this.
TEST_TIMEOUT ?= 45m

.PHONY: all setup test-setup build images run test examples fuzz vet soak clean

all: build

# setup installs what a run needs; test-setup adds Chromium, which only the
# report's browser test uses, so `make run` never installs a browser.
setup:
	@bash scripts/setup.sh

test-setup:
	@bash scripts/setup.sh --browser

# -buildvcs=auto: the VCS revision goes into `faultline version` and
# results.json whenever this is a checkout, whatever GOFLAGS says.
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/faultline

images: setup build
	$(BIN) images

# The default test: 5-node etcd, register workload, partition+kill+pause, 60 s.
run: setup build
	$(BIN) run $(ARGS)

test: test-setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) examples

# The examples are modules of their own (a user's system and its tests,
# outside faultline's module): kvsvc's own tests, then kvsvc tested through
# faultline's Go API and through a target file with the CLI.
EXAMPLE_MODULES := examples/kvsvc examples/kvsvc-gotest examples/maelstrom
EXAMPLE_RUN := $(BIN) run --target examples/kvsvc/kvsvc.yaml --workload register --nodes 3 --concurrency 6 \
	--time-limit 30s --nemesis-interval 4s --store $${FAULTLINE_STORE:-store} -q
examples: build
	for m in $(EXAMPLE_MODULES); do \
		(cd $$m && $(GO) vet ./... && $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...) || exit 1; \
	done
	$(EXAMPLE_RUN) --nemesis partition,kill,pause --test-name kvsvc-safe
	$(EXAMPLE_RUN) --nemesis partition --target-opt mode=unsafe --test-name kvsvc-unsafe; \
		rc=$$?; test $$rc -eq 1 || { echo "kvsvc unsafe mode: exit $$rc, want 1 (invalid)"; exit 1; }
	@# Maelstrom nodes (examples/maelstrom) as real clusters: NODE WORKLOAD FAULTS EXIT (0 valid, 1 invalid) [FLAGS].
	@# unique-ids runs seed 1, whose first fault is a kill (of n2, restarted at 8 s), so ids after a restart are checked.
	for ex in "broadcast-gossip broadcast partition 0" "broadcast-naive broadcast partition 1" \
		"lin-kv-primary lin-kv partition,pause 0" "lin-kv-wrong lin-kv partition 1" \
		"lin-kv-proxy lin-kv partition,kill 0 --nemesis-interval 2s" "lin-kv-proxy-seq lin-kv partition 1" \
		"g-counter-seqkv g-counter partition 0 --concurrency 5 --ops-per-key 1000000" \
		"kafka-primary kafka partition 0" "kafka-local kafka partition 1" "echo echo partition,kill 0" \
		"unique-ids unique-ids partition,kill 0 --seed 1" "unique-ids-counter unique-ids kill 1" \
		"txn-primary txn-list-append partition 0" "txn-primary txn-rw-register partition 0" \
		"txn-local txn-list-append partition 1" "txn-local txn-rw-register partition 1" \
		"pn-counter pn-counter partition 0"; do \
		set -- $$ex; node=$$1 mw=$$2 faults=$$3 want=$$4; shift 4; \
		case $$mw in lin-kv) fw=register;; txn-*) fw=$${mw#txn-};; *) fw=$$mw;; esac; \
		$(BIN) run --target maelstrom --target-opt src=examples/maelstrom/cmd/$$node --target-opt workload=$$mw \
			--workload $$fw --nemesis $$faults --nodes 3 --concurrency 6 --time-limit 20s --nemesis-interval 4s --seed 7 "$$@" \
			--store $${FAULTLINE_STORE:-store} --test-name maelstrom-$$node-$$mw -q; \
		rc=$$?; test $$rc -eq $$want || { echo "maelstrom $$node: exit $$rc, want $$want"; exit 1; }; \
	done

# Every parser's fuzz target, briefly (CI runs this too): the history
# formats, the EDN export round trip and the suite reader. Each entry is PACKAGE:TARGET.
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report "context deadline exceeded" at the deadline with no failing input
# (golang/go#75804, fixed in Go 1.27), which a loaded CI machine hits.
FUZZTIME ?= 5000x
FUZZ_TARGETS ?= ./models/history:FuzzReadEDN ./models/history:FuzzReadJepsenLog \
	./models/history:FuzzRead ./models/history:FuzzReadAny ./models/history:FuzzWriteEDNRoundTrip ./harness:FuzzReadSuite
fuzz:
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; f=$${t#*:}; \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Longer runs, on purpose only (not in CI): 10 minutes under all faults.
soak: setup build
	FAULTLINE_SOAK=1 go test -count=1 -timeout 60m -run 'Postgres|Redis|Nats|Etcd|Zookeeper|Minio' ./harness
	$(BIN) run --time-limit 10m --test-name etcd-soak $(ARGS)
	$(BIN) run --time-limit 10m --target-opt read=serializable --test-name etcd-serializable-soak $(ARGS) || test $$? -eq 1

clean:
	-$(BIN) clean
	rm -rf bin
