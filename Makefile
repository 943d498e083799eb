# The two commands a user types: `make test` and `make report`. Each sets up .venv first if needed.
#   make report [PROFILE=sample] [DATA_ROOT=/path/to/hw2_data] [DRY=1] [SET="precision=bf16 ..."] [REPEATS=1]
#               [RUNS="--parallel 2 | --gpus-per-run 0.5 | --address auto"]
#   make runs   (the same options): only train or reuse the runs, as `hw2 runs`
#   make check PROFILE=homework DATA_ROOT=/path/to/hw2_data     # preflight, no training
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PROFILE ?= sample
DATA_ROOT ?=
DRY ?=
SET ?=
REPEATS ?=
RUNS ?=
CHROMIUM ?= chromium
DATA_ARG = $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

.PHONY: setup test runs report check report-pdf lab bench

# Reinstall only when the requirements or the package metadata changed: near-instant otherwise.
# uv installs the pinned set in about 30 s (pip: about 100 s for the same ~6 GB of CUDA torch
# wheels, mostly unpacking). uv reads its own settings, not pip's (a mirror: UV_DEFAULT_INDEX,
# UV_FIND_LINKS, SSL_CERT_FILE); INSTALLER=pip uses pip, which also takes over when uv fails.
# --compile-bytecode writes the .pyc files at install, as pip does: uv does not by default, and
# where PYTHONDONTWRITEBYTECODE is set (as on this project's machines) every process then
# compiles torch's modules again: `import torch, hw2lib.workbook` 3.9 s instead of 1.8 s.
INSTALLER ?= uv
UV := $(VENV)/bin/uv
$(STAMP): requirements.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) with $(INSTALLER) (log: $(VENV)/install.log)"
	@{ test "$(INSTALLER)" = uv && { $(VENV)/bin/pip install -q uv==0.13.9 \
	     && $(UV) pip install -q --compile-bytecode --python $(VENV)/bin/python -r requirements.txt \
	     && $(UV) pip install -q --python $(VENV)/bin/python --no-deps -e . ; } >$(VENV)/install.log 2>&1 ; } \
	  || { test "$(INSTALLER)" = uv && echo "uv could not install (see the log); installing with pip (a few minutes)" ; \
	       { $(VENV)/bin/pip install -q -r requirements.txt && $(VENV)/bin/pip install -q --no-deps -e . ; } \
	       >>$(VENV)/install.log 2>&1 ; } \
	  || { tail -n 30 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP)

# Two pytest-xdist workers, each with its share of the cores: one worker's end-to-end tests wait on
# processes starting, on disk and on Python while the other computes (measured: 1.33x faster than
# one process on 2 cores). Tests sharing a built fixture stay on one worker (tests/conftest.py).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

GRAPH_ARGS = $(DATA_ARG) $(if $(DRY),--dry-run) $(if $(SET),--set $(SET)) $(if $(REPEATS),--repeats $(REPEATS)) $(RUNS)

runs: $(STAMP)
	$(VENV)/bin/hw2 runs --profile $(PROFILE) $(GRAPH_ARGS)

report: $(STAMP)
	$(VENV)/bin/hw2 report --profile $(PROFILE) $(GRAPH_ARGS)

check: $(STAMP)
	$(VENV)/bin/hw2 check --profile $(PROFILE) $(DATA_ARG)

# Prints the last report; builds it first only when there is none.
report-pdf: $(STAMP)
	@test -f build/report/report.html || $(MAKE) report
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
	  --no-pdf-header-footer --print-to-pdf=build/report/report.pdf file://$(CURDIR)/build/report/report.html
	@echo "wrote build/report/report.pdf"

# Jupyter refuses to start as root unless told; containers often run as root. News and update
# announcements are off (.lab/overrides.json): nothing asks to go online. LAB_DIR and LAB_FLAGS (port, token...) for more.
LAB_DIR ?= notebooks
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=$(LAB_DIR) --LabApp.news_url=None \
	  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.app_settings_dir=$(CURDIR)/.lab \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

bench: $(STAMP)
	$(VENV)/bin/python bench/bench_miou.py
	$(VENV)/bin/python bench/bench_train.py
	$(VENV)/bin/python bench/small_input.py
	$(VENV)/bin/python bench/engine_costs.py
	$(VENV)/bin/python bench/flops.py
