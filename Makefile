# Flotilla build, test and demo. `make demo` and `make test` are the quick start.

GO            ?= go
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The product module builds exactly as its go.mod says: no workspace.
PRODUCT_ENV   := GOWORK=off CGO_ENABLED=0
LDFLAGS       := -s -w -X main.version=$(VERSION)
DEVCLUSTER_LDFLAGS := $(shell sh hack/devcluster-ldflags.sh)
TEST_TIMEOUT  ?= 30m

.PHONY: all build cross test test-product test-devenv check demo clean

all: build

build: bin/flotilla bin/flotilla-agent bin/flotilla-devcluster

bin/flotilla: FORCE
	$(PRODUCT_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/flotilla

# The agent alone, for edge boxes: no hub, Helm, Kustomize, go-git or SQLite.
bin/flotilla-agent: FORCE
	$(PRODUCT_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/flotilla-agent

# The dev cluster links the in-process kube-apiserver from the devenv module.
bin/flotilla-devcluster: FORCE
	cd devenv && $(GO) build -ldflags '$(DEVCLUSTER_LDFLAGS)' -o ../$@ ./cmd/flotilla-devcluster

# Edge boxes are ARM: the binary must cross-build without cgo.
cross:
	GOOS=linux GOARCH=amd64 $(PRODUCT_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux-amd64/flotilla ./cmd/flotilla
	GOOS=linux GOARCH=arm64 $(PRODUCT_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux-arm64/flotilla ./cmd/flotilla

# Every test of every module. devenv tests start real API servers and need
# the version ldflags so that clients can parse the server's version.
test: test-product test-devenv

test-product:
	$(PRODUCT_ENV) $(GO) test -timeout $(TEST_TIMEOUT) ./...

test-devenv:
	cd devenv && $(GO) test -timeout $(TEST_TIMEOUT) -ldflags '$(DEVCLUSTER_LDFLAGS)' ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(PRODUCT_ENV) $(GO) vet ./...
	cd devenv && $(GO) vet ./...

demo: build
	hack/demo.sh

clean:
	rm -rf bin .demo

FORCE:
