# bondstrap — build, check, test, demo.
#
#   make demo    boot a VM with emulated NICs and watch bondstrap bond them
#   make test    every test: unit, network-namespace and VM (root)
#   make bench   benchmarks

GO          ?= go
BIN         := bin/bondstrap
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS     := -s -w -X main.version=$(VERSION)
# No inlining: the binary goes into every initramfs, and bondstrap waits on the
# network, not the CPU. 6.3 MiB with inlining, 5.8 MiB without (make bench
# shows both the size and what it costs detect).
GCFLAGS     := all=-l
STATICCHECK_VERSION := v0.8.2
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck

.PHONY: all build deps check test unit e2e bench fuzz demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -gcflags '$(GCFLAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bondstrap

# Everything the tests need that is not Go: QEMU, dnsmasq, busybox and Debian's
# kernel for the guest. Idempotent; cached under $${BONDSTRAP_CACHE:-/var/cache/bondstrap}.
# Also Debian's netplan.io, the oracle that units/netplan_oracle_test.go holds the
# rendered units to (installed only when missing; with no /etc/netplan/*.yaml its
# boot-time generator writes nothing).
deps:
	./test/setup.sh
	@if ! dpkg-query -W -f='$${Status}' netplan.io 2>/dev/null | grep -q 'install ok installed'; then \
		echo 'deps: apt-get install netplan.io' >&2; \
		apt-get update -qq >&2 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends netplan.io >&2; \
	fi

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

check: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Unit and namespace tests (namespace tests need root).
unit:
	$(GO) test -count=1 -short ./...

# VM tests: real bonds in QEMU. A VM that cannot boot fails the run.
e2e: deps build
	BONDSTRAP_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 60m -v ./test/...

# The VM tests install the binary built here, so they test what `build` makes.
test: deps check build
	BONDSTRAP_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 75m ./...

# The Go benchmarks, then one measurement run (test/vm/cmd/bstbench): binary
# size, detect at 16 to 1,024 NICs against the shell loop, time to network in
# a Debian guest (bondstrap, the scripted seed method, systemd-networkd; the
# median of 5 boots), apply's peak RSS, failover loss and LACP times. The
# table is printed and written, with the JSON, to bench/ (about 30 minutes).
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	BONDSTRAP_BIN=$(CURDIR)/$(BIN) $(GO) run ./test/vm/cmd/bstbench -out bench

# Every fuzzer, FUZZTIME each (default 10m), one after the other: the config,
# the inventory JSON, DHCP leases into the running system, the config into
# units and into the kernel request, times and attribute decoding, DHCPv6
# leases, the kernel command line, SHA-256 against crypto/sha256.
FUZZTIME ?= 10m
FUZZERS := ./netplan:FuzzParse ./detect/inventory:FuzzParse ./stages:FuzzLeaseConfig \
	./units:FuzzRenderFromConfig ./detect/kernel:FuzzBondRequest \
	./netplan/spec:FuzzParseTime ./netplan/spec:FuzzDecode ./stages:FuzzLease6Config \
	./netplan/cmdline:FuzzCmdline ./stages:FuzzSHA256
fuzz:
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; name=$${f##*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Boot a VM with two virtio 10G NICs and an e1000 and run bondstrap in it on
# examples/demo.yaml: the inventory before, apply, the plan and the live bond.
demo: deps build
	BONDSTRAP_BIN=$(CURDIR)/$(BIN) $(GO) run ./test/vm/cmd/bstvm -config examples/demo.yaml \
		'bondstrap detect' \
		'bondstrap apply -c /etc/bondstrap/bondstrap.yaml' \
		'bondstrap plan -c /etc/bondstrap/bondstrap.yaml' \
		'bondstrap status' \
		'ls /etc/systemd/network' 

clean:
	rm -rf bin
