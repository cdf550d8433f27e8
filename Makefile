# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Each creates or updates .venv by itself (tools/setup_env.sh is idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONUNBUFFERED := 1

.PHONY: env demo test data clean-data

env:
	bash tools/setup_env.sh

data: env
	$(PY) tools/misc/make_toy_data.py --out data

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest tests -q -ra $(PYTEST_ARGS)

clean-data:
	rm -rf data
