# The two commands a newcomer needs: `make demo` and `make test` (each sets everything up first).
SHELL := /bin/bash
VENV := .venv
export CHECKPOINT_TEST_PG ?= postgresql+psycopg://checkpoint:checkpoint@127.0.0.1:5432/postgres

.PHONY: demo test bench lint

demo:
	deploy/dev/setup.sh demo
	$(VENV)/bin/checkpoint demo $(ARGS)

# Most tests wait on brokers, databases and browsers, so they run four at a time; those that keep real
# time (video streams, serial lines at their baud, the fault runs) then run alone. Exit status 5 is
# "nothing selected" (an ARGS filter that leaves one half empty).
test:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m pytest -n 4 -m "not realtime" $(ARGS) || [ $$? -eq 5 ]
	$(VENV)/bin/python -m pytest -m realtime $(ARGS) || [ $$? -eq 5 ]

bench:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m bench.run $(ARGS)

lint:
	$(VENV)/bin/ruff check agent central checkpoint common contract drivers tests bench
	$(VENV)/bin/mypy agent central checkpoint common contract drivers bench
