# Quickstart: `make run` (train the reference recipe) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_PIN := torch==2.13.0

.PHONY: run test fuzz setup data chromium lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# pin torch first: an unpinned torch pulls gigabytes of CUDA packages
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e '.[test,mnist1d,sweep,tensorboard,notebook,lab]'
	touch $@

setup: $(VENV)/.installed

# Fashion-MNIST: Debian's package when root on Debian, else download + sha256 check into the cache.
data: setup
	@if $(VENV)/bin/trainlab data where fashion-mnist >/dev/null 2>&1; then \
		echo "fashion-mnist: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	     { apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	       { apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; }; then \
		echo "fashion-mnist: installed Debian package dataset-fashion-mnist"; \
	else \
		$(VENV)/bin/trainlab data get fashion-mnist; \
	fi

# Headless Chromium renders report.html in one test: installed when root on Debian, else that test skips.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
		echo "chromium: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	     { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	       { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }; }; then \
		echo "chromium: installed Debian package chromium"; \
	else \
		echo "chromium: not installed; the report rendering test will skip"; \
	fi

run: data
	$(VENV)/bin/trainlab train

# As root on Debian, a throwaway PostgreSQL server is started for the sweep storage test and
# stopped when the tests end, even on failure or Ctrl-C (.ci/with-postgres.sh); elsewhere that one
# test skips unless TRAINLAB_TEST_PG names a server.
test: data chromium
	@.ci/with-postgres.sh $(PY) -m pytest

# The property-based fuzz suite with many more examples per property (make test runs a few dozen).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/test_fuzz_cli.py tests/test_fuzz_run_kinds.py

lint: setup
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) runs .pytest_cache
