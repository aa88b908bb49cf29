# Two commands do all the set-up on a fresh clone (see README):
#   make demo   - create .venv, install adaptact, run the main job: a quick many-seed comparison of
#                 trainable activations on scikit-learn's digits (no data directory needed)
#   make test   - create .venv, install adaptact with its test tools, run the test suite
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and never replaced afterwards (pyproject only asks for torch>=2.3)
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: demo test setup clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(READY)

demo: $(READY)
	$(BIN)/adaptact reproduce digits --out results/digits-quick

test: $(READY)
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) results .pytest_cache
