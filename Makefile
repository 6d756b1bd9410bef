# The two commands a newcomer needs: `make demo` and `make test` (each sets everything up first).
SHELL := /bin/bash
VENV := .venv
export CHECKPOINT_TEST_PG ?= postgresql+psycopg://checkpoint:checkpoint@127.0.0.1:5432/postgres

.PHONY: demo test bench lint

demo:
	deploy/dev/setup.sh demo
	$(VENV)/bin/checkpoint demo $(ARGS)

# Most tests wait on brokers, databases and browsers, so they run four at a time (the long ones first);
# the fault runs (a fleet under faults for minutes, each using half a CPU) then three at a time, and
# those that keep real time to the tenth of a second (video streams, serial lines at their baud) alone.
# Exit status 5 is "nothing selected" (an ARGS filter that leaves a part empty).
test:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m pytest -n 4 -m "not realtime and not faults" $(ARGS) || [ $$? -eq 5 ]
	$(VENV)/bin/python -m pytest -n 3 -m faults $(ARGS) || [ $$? -eq 5 ]
	$(VENV)/bin/python -m pytest -m realtime $(ARGS) || [ $$? -eq 5 ]

bench:
	deploy/dev/setup.sh test
	$(VENV)/bin/python -m bench.run $(ARGS)

lint:
	$(VENV)/bin/ruff check agent central checkpoint common contract drivers tests bench
	$(VENV)/bin/mypy agent central checkpoint common contract drivers bench
