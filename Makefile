# frontdesk: two commands.
#   make run    set up .venv, install and verify the models, serve calls (demo clinic)
#   make test   the same setup plus the Debian test peers (sipp), then the whole suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# llama-cpp-python builds from its sdist; portable x86-64 code, not tuned to this CPU.
CMAKE_ARGS ?= -DGGML_NATIVE=OFF
DEBS := sip-tester iproute2 iptables util-linux postgresql kamailio openssl baresip-core chromium docker-compose

FUZZ_SECONDS ?= 600
FUZZ_TARGETS := sip sdp rtp rtcp dtmf srtp config

.PHONY: run test venv models sysdeps clean fuzz

run: models
	$(BIN)/frontdesk serve $(if $(CONFIG),--config $(CONFIG))

test: models sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard media/_native/*.pyx media/_native/*.pxi)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "frontdesk needs Python 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing frontdesk and its dependencies (llama-cpp-python compiles: about 8 minutes the first time)"
	CMAKE_ARGS="$(CMAKE_ARGS)" $(BIN)/python -m pip install --quiet --progress-bar off -e '.[test]'
	touch $@

models: venv
	$(BIN)/frontdesk models install

sysdeps:
	@missing=""; for c in sipp ip iptables unshare runuser openssl baresip chromium docker-compose; do command -v $$c >/dev/null || missing=1; done; \
	test -x /usr/sbin/kamailio || missing=1; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $(DEBS)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEBS); \
	fi

# Coverage-guided fuzzing (atheris), FUZZ_SECONDS per target: 60% growing a corpus with coverage
# feedback, 40% mutating that corpus blind (much faster). Stops at the first crash, hang or blow-up.
fuzz: venv
	@for t in $(FUZZ_TARGETS); do \
		d=$$(mktemp -d); \
		$(BIN)/python fuzz/run.py $$t --seconds $$(( $(FUZZ_SECONDS) * 3 / 5 )) --corpus $$d 2>$$d.log || { tail -40 $$d.log; exit 1; }; \
		a=$$(grep -o 'Done [0-9]* runs' $$d.log | grep -o '[0-9]*'); \
		$(BIN)/python fuzz/run.py $$t --seconds $$(( $(FUZZ_SECONDS) * 2 / 5 )) --corpus $$d --no-coverage 2>$$d.log || { tail -40 $$d.log; exit 1; }; \
		b=$$(grep -o 'Done [0-9]* runs' $$d.log | grep -o '[0-9]*'); \
		echo "fuzz $$t: $$a executions with coverage + $$b blind = $$((a + b)), 0 crashes, corpus $$(ls $$d | wc -l) inputs"; \
		rm -rf $$d $$d.log; \
	done

clean:
	rm -rf $(VENV) var build *.egg-info
