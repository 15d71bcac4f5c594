# Two commands for users: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
# The exact versions the suite is known green on (pip constraints); pyproject.toml keeps open ranges for users.
LOCK := requirements/lock.txt
LATEST := .venv-latest
# The suite runs in parallel (pytest-xdist, one worker per core up to 8, whole files per worker so module
# fixtures are built once), each worker on one intra-op thread: its tests are thousands of tiny ops, which a
# second thread slows, and workers on shared cores would spin-wait for each other (CONTRIBUTING.md).
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 8 ] && n=8; echo $$n)
PYTEST_ARGS := -q -n $(JOBS) --dist loadfile --durations=15

.PHONY: demo test test-latest lock bench clean browser fashion-mnist

$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run 'make PYTHON=python3.X ...'"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -c $(LOCK) -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ews demo

test: $(STAMP) browser fashion-mnist
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The suite on the newest releases the open ranges of pyproject.toml admit (in $(LATEST), beside .venv): what a
# user installing today gets. Green here and red in `make test` means the lock file is due (CONTRIBUTING.md).
test-latest: browser fashion-mnist
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --upgrade --upgrade-strategy eager -e '.[test]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable | grep -iE '^(torch|torchvision|numpy)=='
	OMP_NUM_THREADS=1 $(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

# Refresh the lock from the newest releases, after `make test-latest` is green (CONTRIBUTING.md says when).
lock: test-latest
	{ sed -n '/^#/p' $(LOCK); $(LATEST)/bin/python -m pip freeze --exclude-editable | grep -v '^ews-robust'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

# Headless Chromium for the test that opens an HTML report; installed from Debian's packages when
# apt-get is usable as root, otherwise that test is skipped (never a reason for make to fail).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq chromium >/dev/null 2>&1; }; } || \
		echo "make: chromium not installed; the HTML report test will be skipped"; } || true

# Fashion-MNIST's four idx files in /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), read by
# `data.name: fashion-mnist`; where apt-get is not usable as root, pass data.root or --download instead (never a
# reason for make to fail; the test on the real files is then skipped).
fashion-mnist:
	@[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null 2>&1 && { apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }; } || \
		echo "make: dataset-fashion-mnist not installed; pass data.root or --download for data.name=fashion-mnist"; } || true

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/step_time.py

clean:
	rm -rf $(VENV) $(LATEST) runs .pytest_cache
