# The two commands a newcomer needs: `make demo` and `make test` (each sets everything up first).
SHELL := /bin/bash
VENV := .venv
export CHECKPOINT_TEST_PG ?= postgresql+psycopg://checkpoint:checkpoint@127.0.0.1:5432/postgres

.PHONY: demo test bench lint

demo:
	deploy/dev/setup.sh demo
	$(VENV)/bin/checkpoint demo $(ARGS)

test:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m pytest $(ARGS)

bench:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m bench.run $(ARGS)

lint:
	$(VENV)/bin/ruff check agent central checkpoint common contract drivers tests bench
	$(VENV)/bin/mypy agent central checkpoint common contract drivers bench
