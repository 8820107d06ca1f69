# Thin wrapper: meson does the work. `make demo` and `make test` each work on
# a fresh Debian 12 machine: they install what is missing first.
BUILD ?= build
SAN_BUILD ?= build-sanitize
MESON_TEST_ARGS ?=

# Debian packages the build, the tests and the demo need. The docker compose
# tests (issue 9) start their own dockerd, build their images from
# busybox-static and host binaries, and log in to a local docker-registry.
DEPS := meson ninja-build pkg-config g++ python3 procps util-linux openssl passwd systemd \
        libuv1-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev \
        doctest-dev node-llhttp \
        docker.io docker-compose busybox-static docker-registry apache2-utils \
        prometheus

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test check test-sanitize soak fuzz demo clean bench

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

# Every test, twice: the release-like build, then under AddressSanitizer and
# UndefinedBehaviorSanitizer. `make check` is the first half alone.
test: check test-sanitize
	@python3 tests/integration/docker_env.py stop  # the dockerd the tests started, if any

check: build
	meson test -C $(BUILD) --print-errorlogs $(MESON_TEST_ARGS)

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

test-sanitize: deps $(SAN_BUILD)/build.ninja
	ninja -C $(SAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  meson test -C $(SAN_BUILD) --print-errorlogs $(MESON_TEST_ARGS)

# Benchmarks of issue 8 (tests/bench), not part of `make test`. Use a release build for
# figures worth quoting: make bench BUILD=build-release (set up with --buildtype=release).
bench: build
	python3 tests/bench/run_all.py $(BUILD)

# The endurance run at full size: 1000 jobs in a row through `start`.
soak: build
	SA_SOAK_JOBS=1000 meson test -C $(BUILD) --print-errorlogs --timeout-multiplier 10 endurance-many_jobs

# libFuzzer targets (clang, ASan+UBSan), FUZZ_SECONDS each (default 60).
fuzz: deps
	@$(MAKE) --no-print-directory deps DEPS="clang libclang-rt-14-dev"
	tests/fuzz/run.sh

demo: build
	./$(BUILD)/daemon/semaphore-agent run examples/hello.yaml

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-fuzz

# Packages (issue 7; packaging/). Their tools are installed only for these
# targets, so `make test` stays lean. Output in $(PKG_OUT).
PACKAGE_DEPS := debhelper dpkg-dev fakeroot lintian rpm rpm2cpio cpio git systemd man-db bash-completion
PKG_OUT ?= build-packages

.PHONY: package-deps deb rpm package-check dist-deps dist dist-check

package-deps: deps
	@$(MAKE) --no-print-directory deps DEPS="$(PACKAGE_DEPS)"

deb: package-deps
	packaging/scripts/build-deb.sh --out $(PKG_OUT)

rpm: package-deps
	packaging/scripts/build-rpm.sh --out $(PKG_OUT)

package-check: package-deps
	packaging/scripts/package-check.sh

# The release tarballs (issue 15; packaging/dist): build-packages/agent_Linux_x86_64.tar.gz
# and agent_Linux_arm64.tar.gz, fully static programs that run on glibc 2.31 or newer.
# The static libcurl and the test root file systems are cached under
# /var/cache/semaphore-agent-dist (SA_DIST_CACHE), so a second run builds and fetches nothing.
DIST_ARCHS ?= x86_64 arm64

dist-deps: deps
	packaging/dist/setup-host.sh

dist: dist-deps
	packaging/dist/build-dist.sh --out $(PKG_OUT) $(DIST_ARCHS)

# Each tarball in a Debian 11 root file system (arm64 under qemu-user-static).
dist-check: dist
	python3 tests/dist/check_dist.py --packages $(PKG_OUT) $(DIST_ARCHS)

# The container image (issue 15; packaging/image): semaphore-agent:VERSION, the
# original image's layout on a Debian 12 base made with mmdebstrap (cached with
# the other root file systems) and `docker import`, with the x86_64 tarball's
# programs. Under a real dockerd, started when none answers. Root.
.PHONY: image image-check

image: deps
	@$(MAKE) --no-print-directory dist DIST_ARCHS=x86_64
	python3 packaging/image/build_image.py --packages $(PKG_OUT)

# The image run as fleets run it, against the fake API: one PASS/FAIL line per check.
image-check: image
	python3 tests/image/check_image.py
