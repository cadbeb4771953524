# Quick start: `make run` (set-up + app) and `make test` (set-up, ruff, the whole suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# 127.0.0.1: only this machine. HOST=0.0.0.0 serves every network interface (a class; no login).
HOST ?= 127.0.0.1

.PHONY: run lint test test-fast browser fashion-data screenshots bench default-model clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when the requirement files change.
$(VENV)/.stamp-app: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.stamp-app $@

run: $(VENV)/.stamp-app
	@case "$(HOST)" in 127.0.0.1|localhost|::1) ;; *) echo "Serving on $(HOST): anyone who can reach this machine on port $(PORT)" \
	  "can use CNN Lab and train models on it (there is no login). Learners open http://<this machine's address>:$(PORT)";; esac
	$(PY) -m cnn_lab_ui.serve --server.port $(PORT) --server.address $(HOST)

# The browser tests need Debian's chromium (Playwright's own browser download does not work offline).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || { echo "error: apt-get install chromium failed"; exit 2; }; \
	else echo "error: the browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)"; exit 2; fi

# Best effort: Fashion-MNIST for the tests that use it (they skip without it).
fashion-data:
	@if [ -d /usr/share/datasets/fashion-mnist ] || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then :; \
	else echo "installing Debian's dataset-fashion-mnist for the Fashion-MNIST tests"; \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1) || echo "(not installed: those tests will skip)"; fi

# Ruff's rules are in pyproject.toml.
lint: $(VENV)/.stamp-dev
	$(PY) -m ruff check .

# Lint first: a style slip fails in a second, before the suite's minutes. The tests without a browser
# run two at a time (one per core: many wait on subprocesses and TensorFlow's single-threaded import),
# a test file per process; the browser tests, each with a server and Chromium, one at a time.
test: $(VENV)/.stamp-dev browser fashion-data
	$(PY) -m ruff check .
	$(PY) -m pytest -q --durations=15 -m "not browser" -n 2 --dist loadfile
	$(PY) -m pytest -q --durations=15 -m browser

test-fast: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -m "not browser" -n 2 --dist loadfile

screenshots: $(VENV)/.stamp-dev browser
	$(PY) -m tools.screenshots

bench: $(VENV)/.stamp-dev
	$(PY) bench/presets.py
	$(PY) bench/train_vs_keras.py
	$(PY) bench/steps_per_execution.py
	$(PY) bench/report_overhead.py
	$(PY) bench/concurrent_jobs.py
	$(PY) bench/predict_latency.py
	$(PY) bench/robustness.py
	$(PY) bench/memory_trainings.py
	$(PY) bench/hostile_memory.py
	$(PY) bench/novelty.py
	$(PY) bench/explain.py
	$(PY) bench/live_load.py
	$(PY) bench/browser_cost.py
	$(PY) bench/shared_model.py

# Regenerates the shipped model (models/default.keras + .json) on full MNIST.
default-model: $(VENV)/.stamp-app
	CNN_DATA_DIR=$${CNN_DATA_DIR:-../shared/data} $(PY) -m tools.default_model --network seed --epochs 12 \
	  --redrawn 30000 --out models/default.keras

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
