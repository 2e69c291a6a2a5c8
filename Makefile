# Lockstep: the two commands that matter are `make demo` and `make test` (see README.md).
SWIFT ?= swift
PREFIX ?= /usr/local

.PHONY: all deps build release demo test tsan fuzz clean benchmarks install uninstall

all: build

# Installs the Debian packages the build needs when they are missing (as root, or through sudo).
deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Builds in release, starts lockstepd on loopback with ./lockstep-data, runs 8 simulated devices
# through a 10-second recording with markers, verifies every frame and prints where the session is.
demo: release
	scripts/demo.sh

# The whole test suite: unit, scenario and end-to-end tests, the CLI and the service lifecycle against
# real processes, the dashboard in headless Chromium, and a staged `make install` checked with
# systemd's tools. Also installs chromium and chromium-driver (Debian) and pyxdf (PyPI) when missing.
test: deps
	@scripts/install-deps.sh --test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	scripts/cli-e2e.sh .build/debug
	scripts/service-e2e.sh .build/debug
	scripts/fault-e2e.sh .build/debug
	scripts/dashboard-e2e.sh .build/debug
	scripts/diskfull-e2e.sh .build/debug
	scripts/slowdisk-e2e.sh .build/debug
	scripts/tls-e2e.sh .build/debug
	scripts/bench-schema.sh .build/debug
	scripts/install-test.sh

# The ingest engine's lock-free ring and its two threads under ThreadSanitizer, in release
# (its own build folder: a sanitized build of every dependency, several minutes the first time).
tsan: deps
	$(SWIFT) build -c release -Xswiftc -enable-testing --sanitize=thread --build-tests --scratch-path .build-tsan
	$(SWIFT) test -c release -Xswiftc -enable-testing --sanitize=thread --skip-build --scratch-path .build-tsan \
		--filter "SPSCRing|IngestEngine|DirectIO|Locked"

# The wire decoders (frame, control, sync, handshake) under libFuzzer + ASan, FUZZ_SECONDS each (60).
fuzz:
	scripts/fuzz.sh

# The appliance under PREFIX (default /usr/local), staged under DESTDIR when set: static release
# binaries, the systemd unit, sysusers/tmpfiles/udev files, /etc/lockstep/lockstepd.yaml if absent.
install: deps
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SWIFT="$(SWIFT)" scripts/install.sh install

# Removes what install put there; keeps /etc/lockstep, /var/lib/lockstep and the lockstep user.
uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh uninstall

clean:
	rm -rf .build .build-tsan .build-install .build-fuzz lockstep-data

# Micro-benchmarks with allocation counts (separate package in Benchmarks/).
benchmarks: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark --format markdown
