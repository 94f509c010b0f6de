# facetui: `make run` sorts the bundled demo photos (then opens the app on a terminal), `make test` runs the tests.
# Both create .venv/ on first use; `make setup` alone is idempotent and quick once done.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.facetui-setup
# This machine's CPU build of torch lies on disk and is taken by this exact pin.
# A GPU box: make setup TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>"
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup run tui test coverage bench bench-detect bench-review clean-venv help

help:
	@echo "make run    - set up .venv if needed, build the demo KB, sort the demo photos, then open the app (on a terminal; NO_TUI=1 skips it)"
	@echo "make tui    - open the Textual app on the shipped settings.json"
	@echo "make test   - set up .venv if needed, lint (ruff) and run the test suite"
	@echo "make coverage - the test suite with line coverage of facetui (the test process; workers not measured)"
	@echo "make bench  - speed and memory benchmark, then the face detectors side by side (prints figures); make bench ENGINE=ray: local vs Ray engine"
	@echo "make bench-detect - the face detectors alone: HOG, the CNN in torch and dlib's own CNN, per photo and whole processes"
	@echo "make bench-review - review's clustering of unknown faces: time and peak memory at 4k, 20k and 100k faces"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-nodeps.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[test,ray]"
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -c "import dlib, face_recognition_models, torch; print('facetui setup ok: torch', torch.__version__, '| dlib', dlib.__version__)"
	touch $(STAMP)

run: setup
	$(VENV)/bin/facetui kb build --settings settings.json
	$(VENV)/bin/facetui recognize --settings settings.json
	@if [ -t 0 ] && [ -t 1 ] && [ -z "$(NO_TUI)" ]; then $(VENV)/bin/facetui --settings settings.json; fi

tui: setup
	$(VENV)/bin/facetui --settings settings.json

test: setup
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(PY) -m pytest $(PYTEST_ARGS)

coverage: setup
	$(PY) -m pytest -q --cov=facetui --cov-report=term $(PYTEST_ARGS)

bench: setup
	@if [ "$(ENGINE)" = "ray" ]; then $(PY) benchmarks/bench_engines.py; else $(PY) benchmarks/bench_recognize.py && $(PY) benchmarks/bench_cnn.py; fi

bench-detect: setup
	$(PY) benchmarks/bench_cnn.py

bench-review: setup
	$(PY) benchmarks/bench_review.py

clean-venv:
	rm -rf $(VENV)
