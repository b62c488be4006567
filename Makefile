# The README's two commands. Both create .venv when it is missing, install only
# when pyproject.toml or constraints.txt changed, and are quiet on a second run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
PORT ?= 5000

.PHONY: demo test system bench constraints clean

demo: $(VENV)/.installed-base
	@$(PY) -m camstudy demo --port $(PORT)

test: $(VENV)/.installed-dev system
	@$(PY) -m pytest

system:
	@bash .ci/system-deps.sh

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/cam_bench.py

$(PY):
	@echo "creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: pyproject.toml constraints.txt | $(PY)
	@echo "installing camstudy into $(VENV) (a few minutes the first time)"
	@$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	@echo "installing camstudy[dev] into $(VENV) (a few minutes the first time)"
	@$(PIP) -e '.[dev]'
	@touch $@ $(VENV)/.installed-base

constraints: $(VENV)/.installed-dev
	@{ grep "^#" constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -vi "^camstudy"; } > constraints.new
	@mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
