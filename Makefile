# Thin wrapper: meson does the work. `make demo` and `make test` each work on
# a fresh Debian 12 machine: they install what is missing first.
BUILD ?= build
MESON_TEST_ARGS ?=

# Debian packages the build, the tests and the demo need.
DEPS := meson ninja-build pkg-config g++ python3 procps util-linux openssl passwd \
        libuv1-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev \
        libsystemd-dev doctest-dev node-llhttp

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test demo clean

all: build

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs $(MESON_TEST_ARGS)

demo: build
	./$(BUILD)/daemon/semaphore-agent run examples/hello.yaml

clean:
	rm -rf $(BUILD)
