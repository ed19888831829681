# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 is a CPU wheel already on the development/CI machines; pin it so pip never pulls a CUDA build.
TORCH_PIN := torch==2.13.0
# every other package pinned to the highest supported environment (the lowest: .ci/constraints-low.txt, tested)
CONSTRAINTS := .ci/constraints-high.txt

.PHONY: venv install install-test models chromium demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip

# -qq: errors only (`make demo` fits one screen, install included)
install: $(BIN)/python
	$(BIN)/pip install -qq -e '.[fast]' -c $(CONSTRAINTS)

# the baselines' extras too, so that the dlib and FaceMesh tests run (CI: AFLW_OCC_REQUIRE_REAL=1 fails without them)
install-test: $(BIN)/python
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[test,dlib,mediapipe]' -c $(CONSTRAINTS)

# third-party model files of the baselines (MediaPipe FaceMesh, BlazeFace) into the model cache, sha256-checked
models: install-test
	$(BIN)/aflw-occ models fetch all

demo: install
	$(BIN)/aflw-occ demo --out demo-out

# the HTML report tests open the report in headless Chromium (Debian's package); without it they skip locally and
# fail under CI (AFLW_OCC_REQUIRE_REAL=1)
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: chromium not installed; the report-in-browser tests skip (and fail under AFLW_OCC_REQUIRE_REAL=1)"

test: install-test models chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadscope -q

lint: $(BIN)/python
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .venv-low .venv-wheel demo-out build *.egg-info
