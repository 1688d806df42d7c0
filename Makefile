# FlashPush — build, test, demo, benchmark and install the `fms` tool.
# `make demo` and `make test` work on a fresh Debian machine: `deps` installs the C
# libraries' -dev packages with apt-get when any is missing (as root, or through sudo).
# A package counts as present only when dpkg says "install ok installed" (a removed package
# whose configuration files remain still answers `dpkg -s`).

SWIFT     ?= swift
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    := $(DESTDIR)$(PREFIX)/bin
MANDIR    := $(DESTDIR)$(PREFIX)/share/man
LIBDIR    := $(DESTDIR)$(PREFIX)/lib/fms
DEPS      := pkg-config liblua5.4-dev libssl-dev zlib1g-dev libsqlite3-dev mandoc
MANPAGES  := $(wildcard man/*.[0-9])
BENCH_DEPS := inotify-tools lsyncd

.PHONY: all deps build release test lint-man demo tour bench install uninstall clean

all: build

# $(call apt_install,PACKAGES,WHO): installs with apt-get (as root, or through sudo) the PACKAGES
# dpkg does not list as installed; fails when it cannot.
define apt_install
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "$(2): installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "$(2): need root to install$$missing" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(DEPS),make deps)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

lint-man: deps
	mandoc -T lint -W warning $(MANPAGES)

# Tests run one at a time: several end-to-end suites wait on subprocesses, and in parallel
# they starved the two cooperative threads of a 2-core machine (a flaky keep-alive test).
test: deps lint-man
	$(SWIFT) build --build-tests
	FMS_BIN="$$($(SWIFT) build --show-bin-path)/fms" $(SWIFT) test --skip-build --no-parallel

demo: build
	FMS_BIN="$$($(SWIFT) build --show-bin-path)/fms" bash examples/demo/watch-demo.sh

tour: build
	FMS_BIN="$$($(SWIFT) build --show-bin-path)/fms" bash examples/demo/walkthrough.sh

# The watcher benchmark's limit and peer (inotifywait, lsyncd): installed for `make bench` only,
# not by `deps`; when they cannot be installed the benchmark runs without them and says so.
bench: release
	-$(call apt_install,$(BENCH_DEPS),make bench)
	FMS_BIN="$$($(SWIFT) build -c release --show-bin-path)/fms" bash bench/run.sh

# The https:// transport is a plugin fms loads only for https:// gateways: PREFIX/lib/fms.
install: release
	install -d $(BINDIR) $(LIBDIR) $(MANDIR)/man1 $(MANDIR)/man7
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/fms" $(BINDIR)/fms
	install -m 0644 "$$($(SWIFT) build -c release --show-bin-path)/libFMSURLSessionPlugin.so" $(LIBDIR)/
	for page in $(MANPAGES); do \
	  section=$${page##*.}; install -d $(MANDIR)/man$$section; install -m 0644 $$page $(MANDIR)/man$$section/; \
	done

uninstall:
	rm -f $(BINDIR)/fms $(LIBDIR)/libFMSURLSessionPlugin.so
	-rmdir $(LIBDIR) 2>/dev/null
	for page in $(MANPAGES); do section=$${page##*.}; rm -f $(MANDIR)/man$$section/$$(basename $$page); done

clean:
	rm -rf .build
