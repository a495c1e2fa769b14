"""One configuration object, read once from environment variables (QA_*) with documented defaults.

An unknown QA_* variable or a malformed value is an error that names the variable, so a typo in a
deployment never silently falls back to a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from server.database_url import database_url_problem, redact_url

REPO_ROOT = Path(__file__).resolve().parent
EMBEDDING_RUNTIMES = ("onnx", "onnx-int8", "torch")  # embedding.embedders.RUNTIMES
SENTENCE_VECTOR_MODES = ("separate", "chunk_pass")  # store.index_files reads the default from here too
# A question (1,000 characters) and its history (20,000 in all; server/api_models.py) as JSON with
# every character escaped (`\\u554f`, 6 bytes): a body limit below this would refuse valid requests.
MIN_BODY_BYTES = 128 * 1024


def _default_cache() -> str:
    # Outside the repo so fresh clones on the same machine reuse the ~1.1 GB model download.
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "govdoc-qa")


@dataclass(frozen=True)
class Config:
    seeds_dir: Path = REPO_ROOT / "seeds"  # QA_SEEDS_DIR: folder of .txt/.md documents to index
    index_dir: Path = REPO_ROOT / "index"  # QA_INDEX_DIR: chunks.jsonl, manifest.json, FAISS file
    model_cache: Path = Path(_default_cache())  # QA_MODEL_CACHE: model weights and embedding cache
    embedder: str = "embeddinggemma"  # QA_EMBEDDER: embeddinggemma | use-m3 | any sentence-transformers name/path
    # QA_EMBEDDING_RUNTIME (EmbeddingGemma only): onnx | torch give the same vectors; onnx-int8 runs
    # its linear layers in int8 (embedding/onnx_quantize.py), close to but not the fp32 vectors, so it
    # is another embedder: `embedder` becomes "embeddinggemma@int8" (the name the index manifest and
    # the embedding cache record; QA_EMBEDDER=embeddinggemma@int8 selects it too).
    embedding_runtime: str = "onnx"
    host: str = "127.0.0.1"  # QA_HOST
    port: int = 7860  # QA_PORT
    root_path: str = ""  # QA_ROOT_PATH: sub-path when served behind a reverse proxy, e.g. /qa
    allowed_origins: tuple[
        str, ...
    ] = ()  # QA_ALLOWED_ORIGINS: comma-separated origins that may embed the widget / call /api
    feedback_db: Path = REPO_ROOT / "data" / "feedback.sqlite3"  # QA_FEEDBACK_DB
    # QA_DATABASE_URL: postgresql://USER:PASSWORD@HOST:PORT/DB keeps feedback in PostgreSQL (one database for
    # several replicas) instead of SQLite at QA_FEEDBACK_DB; its password is never shown (repr, logs, errors)
    database_url: str = ""
    llm_base_url: str = ""  # QA_LLM_BASE_URL: OpenAI-compatible endpoint; empty = extractive answers only
    llm_model: str = ""  # QA_LLM_MODEL
    llm_api_key: str = ""  # QA_LLM_API_KEY: never logged
    llm_timeout: float = 30.0  # QA_LLM_TIMEOUT: seconds (a 0.5B model on 2 CPU cores needs ~90)
    llm_max_tokens: int = 400  # QA_LLM_MAX_TOKENS: longest generated answer, in tokens
    top_k: int = 5  # QA_TOP_K: passages considered for an answer
    # QA_MAX_BODY_BYTES: larger request bodies are refused with 413 before they are read whole or
    # parsed. 1 MB holds the largest valid /api request and a long chat (Gradio sends the chat's
    # messages with each question, ≈ 3 KB per answer).
    max_body_bytes: int = 1_000_000
    # QA_ANSWER_TIMEOUT: seconds the server works on one answer before it ends the request with an
    # error (503, or an `error` event on a stream). With an LLM, its own QA_LLM_TIMEOUT is added for
    # each of its two calls (follow-up rewrite, answer): a slow LLM falls back on its own.
    answer_timeout: float = 20.0
    # Admission control (server/admission.py): at most QA_MAX_CONCURRENT_ANSWERS answers are worked on
    # at once per process (concurrent questions share query-embedding batches; on 2 cores, 4 at once
    # answer as many per second as 8 do, each sooner: 32 clients, EmbeddingGemma, 10.7-10.9 answers/s
    # either way, answered p95 1.8 s with 4 against 2.4 s with 8), at most QA_MAX_QUEUED_ANSWERS more
    # wait for a slot, and a request whose expected wait (from the average time of recent answers)
    # passes QA_MAX_ANSWER_WAIT seconds is refused at once with 503 and Retry-After. With an LLM
    # (answers of many seconds), raise the wait.
    max_concurrent_answers: int = 4
    max_queued_answers: int = 16
    max_answer_wait: float = 1.0
    # QA_SENTENCE_VECTORS: how ingest computes the vectors of the sentences (sentence rerank, answer
    # scorer). separate = each sentence embedded on its own, a second model pass (what the scorer's
    # weights were fitted on); chunk_pass = pooled from its chunk's own forward pass (the sentence's
    # tokens, then the model's dense layers; EmbeddingGemma on ONNX only). Recorded in the index
    # manifest: an index built one way refuses to load configured the other way.
    sentence_vectors: str = "separate"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Config:
        env = os.environ if environ is None else environ
        overrides = {k: v for k, v in overrides.items() if v is not None}  # None = "not given": env applies
        known = {f"QA_{f.name.upper()}": f for f in fields(cls)}
        unknown = sorted(k for k in env if k.startswith("QA_") and k not in known)
        if unknown:
            raise ValueError(
                f"unknown configuration variable(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = {}
        for key, f in known.items():
            if key in env and f.name not in overrides:
                values[f.name] = _parse(key, env[key], f.type)
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.database_url and (problem := database_url_problem(self.database_url)):
            raise ValueError(f"QA_DATABASE_URL={redact_url(self.database_url)!r} is not a PostgreSQL URL: {problem}")
        if self.embedding_runtime not in EMBEDDING_RUNTIMES:
            raise ValueError(
                f"QA_EMBEDDING_RUNTIME={self.embedding_runtime!r} is not one of: {', '.join(EMBEDDING_RUNTIMES)}"
            )
        from embedding.embedders import configured_embedder

        embedder, runtime = configured_embedder(self.embedder, self.embedding_runtime)
        object.__setattr__(self, "embedder", embedder)  # frozen: set once, here
        object.__setattr__(self, "embedding_runtime", runtime)
        if self.sentence_vectors not in SENTENCE_VECTOR_MODES:
            raise ValueError(
                f"QA_SENTENCE_VECTORS={self.sentence_vectors!r} is not one of: {', '.join(SENTENCE_VECTOR_MODES)}"
            )
        if self.max_body_bytes < MIN_BODY_BYTES:
            raise ValueError(
                f"QA_MAX_BODY_BYTES={self.max_body_bytes} is too small: the largest valid question with its "
                f"history takes up to {MIN_BODY_BYTES} bytes"
            )

    def answer_budget(self, with_llm: bool) -> float:
        """Seconds one answer may take in all (see `answer_timeout`)."""
        return self.answer_timeout + (2 * self.llm_timeout if with_llm else 0.0)

    def __repr__(self) -> str:  # keep the API key out of logs
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["llm_api_key"]:
            shown["llm_api_key"] = "***"
        shown["database_url"] = redact_url(shown["database_url"])
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _parse(key: str, raw: str, type_name) -> object:
    type_name = str(type_name)
    try:
        if type_name == "Path":
            return Path(raw).expanduser()
        if type_name == "int":
            value = int(raw)
            if value <= 0:
                raise ValueError("must be a positive whole number")
            return value
        if type_name == "float":
            value = float(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
        if type_name.startswith("tuple"):
            return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        return raw
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not a valid {type_name}: {exc}") from None
