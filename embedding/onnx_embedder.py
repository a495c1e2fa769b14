"""EmbeddingGemma on ONNX Runtime: the model's own tokenizer (`tokenizers`, from tokenizer.json)
and its query/document prompts, then the exported graph (embedding/onnx_export.py), fp32 or
quantised to int8 (embedding/onnx_quantize.py). No torch is imported, which is most of the cold
start of the PyTorch path.

Texts are embedded in batches of similar length (sorted by token count, then put back in order):
a batch is padded to its longest text, and sorting keeps that padding small.

`OnnxSpanEmbedder` runs the span-pooling export (`python -m embedding.onnx_export --spans`): one
forward pass of a text gives its vector and the vectors of character spans of it (a chunk and its
sentences; `QA_SENTENCE_VECTORS=chunk_pass`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedding.embedders import DEFAULT_BATCH_SIZE, Embedder, checked_texts, l2_normalise
from embedding.onnx_export import ONNX_FILE

PAD_ID = 0  # Gemma's <pad>; padded positions are masked out anyway

Span = tuple[int, int]  # (start, end) character offsets into a text, end exclusive


class OnnxEmbedder(Embedder):
    def __init__(
        self,
        model_dir: Path,
        onnx_dir: Path,
        name: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        runtime: str = "onnx",  # "onnx-int8" for a graph from embedding/onnx_quantize.py
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.name = name
        self.runtime = runtime
        self.batch_size = batch_size
        settings = json.loads((model_dir / "config_sentence_transformers.json").read_text(encoding="utf-8"))
        prompts = settings.get("prompts") or {}
        self.query_prompt = prompts.get("query", "")
        self.document_prompt = prompts.get("document", "")
        max_tokens = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(max_tokens))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _cores()
        # Idle worker threads sleep instead of spinning: a server runs other threads (requests,
        # retrieval) on the same cores, and spinning workers would take their CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(Path(onnx_dir) / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def embed_batch(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        texts = checked_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.query_prompt if is_query else self.document_prompt
        encoded = [e.ids for e in self.tokenizer.encode_batch([prompt + t for t in texts])]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = np.full((len(batch), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            out[batch] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return l2_normalise(out)


class OnnxSpanEmbedder(OnnxEmbedder):
    """The span-pooling graph: `embed_with_spans` gives, from one forward pass per text, the
    text's vector (mean over every token, as the normal pipeline) and one vector per character
    span (mean over the tokens that overlap the span, then the same dense layers and
    normalisation). `embed_batch` is the normal vector through the same graph."""

    def _run(self, encoded: list, pools: list[list[list[int]]]) -> list[np.ndarray]:
        """One (len(pools[i]), dim) array per encoding: each pool is a list of token positions,
        an empty list meaning every token. Batches of similar token counts (module doc)."""
        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encoded[i].ids) for i in batch)
            depth = max(len(pools[i]) for i in batch)
            ids = np.full((len(batch), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            # (batch, pools, tokens) float32: 1 where a token belongs to a pool; rows past a text's
            # own pools stay 0 and are dropped below.
            weights = np.zeros((len(batch), depth, width), dtype=np.float32)
            for row, i in enumerate(batch):
                n = len(encoded[i].ids)
                ids[row, :n] = encoded[i].ids
                mask[row, :n] = 1
                for p, tokens in enumerate(pools[i]):
                    if tokens:
                        weights[row, p, tokens] = 1.0
                    else:
                        weights[row, p, :n] = 1.0
            vectors = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "pool_weights": weights})[0]
            for row, i in enumerate(batch):
                out[i] = l2_normalise(vectors[row, : len(pools[i])])
        return out

    def embed_batch(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        texts = checked_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.query_prompt if is_query else self.document_prompt
        encoded = self.tokenizer.encode_batch([prompt + t for t in texts])
        return np.concatenate(self._run(encoded, [[[]] for _ in texts]))

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[np.ndarray]:
        """For document text i: a (1 + len(spans[i]), dim) array, row 0 the text's vector (the
        same as `embed_documents`), row 1 + j the vector of the text's characters
        spans[i][j] pooled in context. A span that no token of the text covers (cut by the
        model's token limit) is embedded on its own instead."""
        texts = checked_texts(texts)
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        offset = len(self.document_prompt)  # spans are offsets into the text, the prompt comes first
        encoded = self.tokenizer.encode_batch([self.document_prompt + t for t in texts])
        pools, alone = [], []
        for i, (enc, text_spans) in enumerate(zip(encoded, spans)):
            text_pools: list[list[int]] = [[]]
            for j, (start, end) in enumerate(text_spans):
                tokens = span_tokens(enc.offsets, enc.special_tokens_mask, start + offset, end + offset)
                text_pools.append(tokens)
                if not tokens:
                    alone.append((i, j, texts[i][start:end]))
            pools.append(text_pools)
        out = self._run(encoded, pools)
        if alone:
            vectors = self.embed_documents([text for _, _, text in alone])
            for (i, j, _), vector in zip(alone, vectors):
                out[i][1 + j] = vector
        return out


def span_tokens(offsets: Sequence[tuple[int, int]], special: Sequence[int], start: int, end: int) -> list[int]:
    """Positions of the ordinary tokens whose characters overlap [start, end)."""
    return [
        k
        for k, ((a, b), is_special) in enumerate(zip(offsets, special))
        if not is_special and b > a and a < end and b > start
    ]


def _cores() -> int:
    """Threads for ONNX Runtime: OMP_NUM_THREADS when the operator set it, else every usable core."""
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
