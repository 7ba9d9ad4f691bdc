# Pollinate — every target here is what CI runs (`.ci/run` calls `make test`). `make help` lists them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# axe-core, injected by the browser tests of the web pages (npm ci --prefix tests/web).
WEB_TEST_JS := tests/web/node_modules/.installed
# Extra pytest arguments, e.g. `make unit PYTEST_ARGS="-k bulk -x"`.
PYTEST_ARGS ?=
# pytest-xdist workers of `make unit` and `make test-all`: one per core (`auto`); 0 runs in one process. Each
# worker starts its own PostgreSQL, web server and browser and loads the models once, and --dist loadscope keeps
# a module's tests on one worker (module fixtures built once). Measured on 2 cores under load 6-13: 2,460 tests
# in 37 min with two workers, where one process had done 54 % in 32 min.
PYTEST_WORKERS ?= auto
PYTEST_XDIST := -n $(PYTEST_WORKERS) --dist loadscope

.DEFAULT_GOAL := help
.PHONY: help install demo test lint typecheck imports unit slow test-all format messages clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install Pollinate with its dev tools (once)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev,distributed,use-onnx]'
	touch $@

# axe-core for the browser tests (tests/web/), pinned by its lock file.
$(WEB_TEST_JS): tests/web/package.json tests/web/package-lock.json
	npm ci --prefix tests/web --no-audit --no-fund
	touch $@

demo: install ## Install, then serve the bundled demo corpus on http://127.0.0.1:8000 (embedded SQLite)
	$(BIN)/pollinate serve --demo

test: lint typecheck imports unit ## Everything CI runs: lint, types, layering, tests (not `slow`)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict on matcher, embeddings, api, models, evaluation
	$(BIN)/mypy

imports: install ## import-linter: the layering of STYLE.md (api -> matcher -> embeddings/models)
	$(BIN)/lint-imports

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
# --nbmake runs each notebook in notebooks/ as one test item (in a fresh kernel, from the notebook's directory).
unit: install $(WEB_TEST_JS) ## pytest on SQLite and PostgreSQL (started on loopback by the suite) and the notebooks, not `slow`
	@$(BIN)/pytest -m "not slow" --nbmake $(PYTEST_XDIST) tests notebooks $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

slow: install ## Only the `slow` tests (crash and scale tests; CI runs them after `make test`)
	@$(BIN)/pytest -m slow tests $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-all: install $(WEB_TEST_JS) ## The whole suite including `slow` tests, and the notebooks
	@$(BIN)/pytest --nbmake $(PYTEST_XDIST) tests notebooks $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

LOCALES_DIR := matcher/language/locales
ASSIST_LOCALES_DIR := matcher/assist/locales
messages: install ## Extract the messages of the pages and e-mails (matcher/language/locales/messages.pot) and the assistant's prompts (matcher/assist/locales/assist.pot), and update their fr/es catalogues
	$(BIN)/pybabel extract -F pyproject.toml --no-location --sort-output --omit-header -o $(LOCALES_DIR)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALES_DIR)/messages.pot -d $(LOCALES_DIR) --no-fuzzy-matching --ignore-obsolete --width 115
	$(BIN)/pybabel extract --no-location --sort-output --omit-header -o $(ASSIST_LOCALES_DIR)/assist.pot matcher/assist/prompts.py
	$(BIN)/pybabel update -D assist -i $(ASSIST_LOCALES_DIR)/assist.pot -d $(ASSIST_LOCALES_DIR) --no-fuzzy-matching --ignore-obsolete --width 115

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
