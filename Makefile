# The kit's commands. Each one sets up .venv on first use (and again when pyproject.toml changes).
#   make run      set up, then run the kit's main job on the embedded data (or data/databaserelease2)
#   make test     set up, then run every test (unit tests, notebooks under nbval, sync checks)
#   make lab      set up, then start JupyterLab on the kit's environment
#   make bench    set up, then run the benchmarks (each prints measured figures)
#   make student  regenerate notebooks/ (student versions) from solutions/
#   make course   write course/, an nbgrader course folder made from solutions/ (then use nbgrader's commands)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run test lab bench student course clean

setup: $(STAMP)

# torch is pinned in pyproject.toml (==2.13.0), so pip takes the CPU build on a CPU machine.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name neural-compression-kit --display-name "Python (neural compression kit)" >/dev/null
	$(PY) -c "import torch, helpers; print('kit environment ready: torch', torch.__version__)"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m tools.run

test: $(STAMP)
	$(PY) -m pytest

lab: $(STAMP)
	$(PY) -m jupyter lab --notebook-dir=.

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

student: $(STAMP)
	$(PY) -m tools.student

course: $(STAMP)
	$(PY) -m tools.course

clean:
	rm -rf $(VENV) data/sample data/cache runs
