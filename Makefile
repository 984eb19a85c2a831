# The README's two commands: `make repro` (set up + dvc repro) and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup repro test bench

setup:
	@bash scripts/setup.sh

repro: setup
	dvc repro

test: setup
	python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

bench: setup
	python benchmarks/bench_training.py
