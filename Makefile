# Baton — make targets. `make run` and `make test` work on a fresh Debian machine with Swift.
SWIFT ?= swift
CONFIG ?= debug
PORT ?= 8080
NATS_PORT ?= 4222
# The nats-server every target starts (tests, run, cluster, chaos, bench) comes from one
# setting, BATON_NATS_SERVER (scripts/nats-server.sh): by default the current release that
# scripts/install-deps.sh puts in .tools/nats. OLDEST_NATS_SERVER is the oldest one Baton
# supports and tests, Debian's 2.9.10 (`make test-oldest`, `make test-matrix`).
OLDEST_NATS_SERVER ?= /usr/sbin/nats-server
# Package traits of the builds of run, build and release: `make run TRAITS="--traits OTel"`
# builds in the OpenTelemetry exporter (--otel-endpoint; a few minutes more to build). The tests
# always build with it: TracingTests export to a local OTLP receiver.
TRAITS ?=
TEST_TRAITS ?= --traits OTel

.PHONY: run test test-oldest test-matrix build release deps clean bench bench-ab bench-webhooks bench-scale

## Install missing system packages, build, and run everything locally (baton dev).
run: deps
	$(SWIFT) build -c $(CONFIG) --product baton $(TRAITS)
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/baton dev --port $(PORT) --nats-port $(NATS_PORT) --nats-server "$$(scripts/nats-server.sh)"

## Install missing system packages, then run the whole test suite.
test: deps
	$(SWIFT) build --build-tests $(TEST_TRAITS)
	BATON_NATS_SERVER=$$(scripts/nats-server.sh) $(SWIFT) test --skip-build $(TEST_TRAITS)

## The whole suite again on the oldest supported nats-server (reuses the build of `make test`).
test-oldest: deps
	$(SWIFT) build --build-tests $(TEST_TRAITS)
	BATON_NATS_SERVER=$(OLDEST_NATS_SERVER) $(SWIFT) test --skip-build $(TEST_TRAITS)

## The whole suite on the current and on the oldest supported nats-server (what CI runs).
test-matrix: test test-oldest

build: deps
	$(SWIFT) build -c $(CONFIG) $(TRAITS)

release: deps
	$(SWIFT) build -c release --product baton $(TRAITS)

deps:
	@./scripts/install-deps.sh

clean:
	rm -rf .build

## Side-by-side benchmark (release build, wrk): writes bench/results/<date>.md and .png.
bench: deps
	./bench/run.sh

## Two builds side by side on the fast lane (bench/ab.sh): make bench-ab A=BINARY B=BINARY, their
## gateways behind one worker; ROLE=worker: their workers, each in a stack of its own.
bench-ab: deps
	ROLE=$(or $(ROLE),gateway) ./bench/ab.sh $(A) $(B)

## Webhook delivery latency and throughput with the example receiver.
bench-webhooks: deps
	./bench/webhooks.sh

## 2 gateways + 2 workers against 1 + 1 on the local cluster, interleaved rounds (bench/scale.sh).
bench-scale: deps
	./bench/scale.sh

## A local cluster: 3 JetStream nodes, 2 gateways, 2 workers, nginx on :8180 (deploy/local/cluster.sh).
.PHONY: cluster cluster-down
cluster:
	./deploy/local/cluster.sh up

cluster-down:
	./deploy/local/cluster.sh down

## Chaos test on the local cluster: kill/pause workers, gateways and NATS nodes, and a burst,
## under load; exact counts of accepted/finished/lost/duplicated jobs (deploy/local/chaos.sh).
.PHONY: chaos
chaos: deps
	./deploy/local/chaos.sh
