# Two commands do all set-up on a fresh machine: `make book` and `make test`.
# Both create .venv and install pyproject.toml (the one list of dependencies) into it.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PROFILE ?= paper
STAMP   := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going
CHROMIUM := /usr/bin/chromium

# Notebooks run in notebooks/_run: a relative UTKFACE is made absolute first.
ifneq ($(strip $(UTKFACE)),)
export UTKFACE := $(abspath $(UTKFACE))
endif
# The authors' trained extractors (their repository's models/ folder), for their chapter.
ifneq ($(strip $(AUTHORS_MODELS)),)
export AUTHORS_MODELS := $(abspath $(AUTHORS_MODELS))
endif
export PYTHONHASHSEED := 0
# FRESH=1 retrains everything from scratch: no shipped extractor, no cached result is used.
ifneq ($(strip $(FRESH)),)
export METAREWEIGHT_FRESH := 1
endif
OVERRIDE_RUN := _build/override-run
# JOBS=N runs independent runs in N worker processes, each on one thread; the records do not
# depend on N.  The default is one worker per core.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
export METAREWEIGHT_JOBS := $(JOBS)

.PHONY: book html notebooks test lint unit unit-all notebooks-quick bookcheck nbval browser bench sweep verify clean help

help:
	@echo "make book [PROFILE=paper|quick]   run every notebook with papermill, build the HTML"
	@echo "          [FRESH=1]               retrain every extractor instead of using the shipped ones"
	@echo "          [JOBS=N]                run independent runs in N one-thread processes (default: cores)"
	@echo "make sweep [PROFILE=...] [JOBS=N]  the other-target-ranges chapter (every band, every split)"
	@echo "make unit                         the fast unit tests (make unit-all: every unit test)"
	@echo "make test                         lint, every unit test, quick notebooks, nbval, build, browser"
	@echo "make verify [PROFILE=paper]       compare results/<profile>/ with the committed records"
	@echo "make bench [BENCH_ARGS=--books]   benchmarks -> results/bench.json and the README table"
	@echo "                                  (--paper-books also times the paper book, hours)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	touch $@

book: notebooks html

notebooks: $(STAMP)
	$(BIN)/python -m metareweight.runbook --profile $(PROFILE)

html: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	$(BIN)/python -m metareweight.mathjax _build/html
	$(BIN)/python -m metareweight.tablenumbers _build/html _toc.yml
	@echo "HTML: _build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests

# the fast tests (under a minute); unit-all adds the slow ones and those on the real data
unit: $(STAMP)
	$(BIN)/python -m pytest tests -q --ignore=tests/book -m "not slow and not real_data"

unit-all: $(STAMP)
	$(BIN)/python -m pytest tests -q --ignore=tests/book

# After the quick book: a second run with overrides (into $(OVERRIDE_RUN), not the book's
# notebooks), then the checks of both runs: settings read vs declared, metadata, records.
bookcheck: $(STAMP)
	mkdir -p _build
	sha256sum results/paper/table1.json > _build/paper-table1.sha256
	$(BIN)/python -m metareweight.runbook --profile quick --run-dir $(OVERRIDE_RUN) \
	    -p target_low 30 -p target_high 40
	$(BIN)/python -m pytest tests/book -q

notebooks-quick: $(STAMP)
	$(BIN)/python -m metareweight.runbook --profile quick

nbval: $(STAMP)
	cd notebooks/_run && ../../$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	    --nbval-current-env $(notdir $(wildcard notebooks/_run/*.ipynb))

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

browser: $(STAMP) $(CHROMIUM)
	$(BIN)/python tests/browser_check.py _build/html --reader

test: lint unit-all notebooks-quick bookcheck nbval html browser

sweep: $(STAMP)
	$(BIN)/python -m metareweight.runbook --profile $(PROFILE) --only other-target-ranges

verify: $(STAMP)
	$(BIN)/python -m metareweight.verify --profile $(PROFILE)

bench: $(STAMP)
	$(BIN)/python -m metareweight.bench $(BENCH_ARGS)

clean:
	rm -rf _build notebooks/_run book/_generated
