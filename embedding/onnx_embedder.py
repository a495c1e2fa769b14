"""EmbeddingGemma on ONNX Runtime: the model's own tokenizer (`tokenizers`, from tokenizer.json)
and its query/document prompts, then the exported graph (embedding/onnx_export.py). No torch is
imported, which is most of the cold start of the PyTorch path.

Texts are embedded in batches of similar length (sorted by token count, then put back in order):
a batch is padded to its longest text, and sorting keeps that padding small.
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


class OnnxEmbedder(Embedder):
    runtime = "onnx"

    def __init__(self, model_dir: Path, onnx_dir: Path, name: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.name = name
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


def _cores() -> int:
    """Threads for ONNX Runtime: OMP_NUM_THREADS when the operator set it, else every usable core."""
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
