#!/usr/bin/env bash
# Set up everything (idempotent), then lint and run the whole test suite: unit tests, both embedders end to
# end, the eval gate on the test splits of both corpora, the real llama.cpp server, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_llm.sh
# axe-core for the browser tests' accessibility checks, fetched once from the npm registry.
.venv/bin/python tests/axe_core.py
# Lint and format are part of the suite: a tree ruff would change does not pass.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The eval gate answers through the default index; building it costs nothing when the seeds and
# the embedding cache are unchanged.
.venv/bin/python -m ingest
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
