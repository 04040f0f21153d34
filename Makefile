# One-command entry points. Everything installs into ./.venv; nothing needs a server.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint typecheck i18n demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

## Start the bot on SQLite (needs BOT_TOKEN in the environment or in .env).
run: install
	$(BIN)/munorders run

## Lint, format check, type check and the whole test suite.
test: install lint typecheck
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## Re-extract messages and merge them into the ru and en catalogs (then translate the new ones).
i18n: install
	$(BIN)/pybabel extract -k _:1,1t -k _:1,2 -k __ -k ngettext:1,2 --no-location --sort-output \
		-o locales/messages.pot bot handlers keyboards storage
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete

## Try the bot without Telegram: the Bot API emulator with the demo organisation, in the terminal.
demo: install
	$(BIN)/python -m benchmarks.demo

bench: install
	$(BIN)/python -m benchmarks.throughput

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
