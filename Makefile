# The two commands a user types: `make test` and `make report`. Each sets up .venv first if needed.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup test bench

# Reinstall only when the requirements or the package metadata changed: near-instant otherwise.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) (log: $(VENV)/install.log)"
	@$(VENV)/bin/pip install -q -r requirements.txt >$(VENV)/install.log 2>&1 \
	  && $(VENV)/bin/pip install -q --no-deps -e . >>$(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/bench_miou.py
