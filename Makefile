# KFQMap — two commands matter:  `make run` (install everything, start the viewer) and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000
# the embedded store (a GeoPackage seeded from geodata/ on first start, where edits and imports live)
export KFQMAP_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test install install-system install-python install-web bench clean

run: install                ## install everything and start the viewer on http://$(HOST):$(PORT)/
	$(BIN)/kfqmap serve --host $(HOST) --port $(PORT)

test: install               ## install test dependencies and run the whole suite
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

install: install-system install-python install-web

install-system:
	bash scripts/install-system.sh

install-python: $(BIN)/kfqmap

$(BIN)/kfqmap: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/kfqmap

install-web: web/node_modules/.installed

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch web/node_modules/.installed

bench: install              ## benchmarks (on demand; not part of the test suite)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) web/node_modules test-artifacts
