"""Build the index folder: ingest the documents, embed the chunks and their sentences (cached),
write atomically.

Sentence vectors are computed as `Config.sentence_vectors` says, and the manifest records it:
`separate` embeds every sentence on its own after the chunks (a second pass); `chunk_pass` pools
them from each chunk's own forward pass (ingest/chunk_pass.py). Both passes run texts in batches
sorted by length, so padding stays small."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from config import Config
from embedding.embedders import canonical_name, load_embedder, load_span_embedder, require_span_embedder
from ingest.chunk import CHUNKER_VERSION, sentence_spans
from ingest.chunk_pass import embed_chunk_pass
from ingest.documents import ingest_folder
from language.normalize import search_form
from store.index_files import write_index
from store.vectors import (
    FAISS_FILE,
    SENTENCE_SPANS_FILE,
    SENTENCE_VECTORS_FILE,
    EmbeddingCache,
    LazyEmbedder,
    embed_chunks,
    embed_texts,
    faiss_writer,
    npy_writer,
)


@dataclass
class BuildSummary:
    documents: int
    chunks: int
    embedder: str | None
    newly_embedded: int
    skipped: list[str] = field(default_factory=list)
    index_path: str = ""

    def describe(self) -> str:
        vectors = (
            f", embedder {self.embedder} ({self.newly_embedded} newly embedded)" if self.embedder else ", no vectors"
        )
        skipped = f"; skipped {len(self.skipped)}: " + "; ".join(self.skipped) if self.skipped else ""
        return f"indexed {self.documents} documents, {self.chunks} chunks{vectors} -> {self.index_path}{skipped}"


def build_index(config: Config, *, with_vectors: bool = True, log: Callable[[str], None] = print) -> BuildSummary:
    result = ingest_folder(config.seeds_dir)
    for skipped in result.skipped:
        log(f"skipped {skipped.doc_id}: {skipped.reason}")
    for report in result.reports:
        log(f"read {report.doc_id} as {report.encoding}: {report.chunks} chunks")
    manifest = {
        "chunker_version": CHUNKER_VERSION,
        "sources": {r.doc_id: r.sha256 for r in result.reports},
        "counts": {"documents": len(result.documents), "chunks": len(result.chunks)},
        "skipped": [{"doc": s.doc_id, "reason": s.reason} for s in result.skipped],
        "embedder": None,
    }
    extra_files = {}
    embedder_name, newly = None, 0
    if with_vectors and result.chunks:
        chunk_pass = config.sentence_vectors == "chunk_pass"
        if chunk_pass:  # another embedder is refused before any work, not at the first cache miss
            require_span_embedder(config.embedder, config.embedding_runtime)
        embedder = LazyEmbedder(
            canonical_name(config.embedder),
            lambda: (load_span_embedder if chunk_pass else load_embedder)(
                config.embedder, config.model_cache, config.embedding_runtime
            ),
        )
        spans = sentence_spans(result.chunks)
        texts = {doc.doc_id: doc.text for doc in result.documents}
        cache = EmbeddingCache(config.model_cache / "embedding_cache.sqlite3")
        try:
            if chunk_pass:
                desc = f"embedding chunks and their sentences in one pass ({embedder.name})"
                with tqdm(total=len(result.chunks), desc=desc, unit="chunk") as bar:
                    vectors, sentence_vectors, newly = embed_chunk_pass(
                        result.chunks, texts, spans, embedder, cache, progress=bar.update
                    )
            else:
                with tqdm(total=len(result.chunks), desc=f"embedding chunks ({embedder.name})", unit="chunk") as bar:
                    vectors, newly = embed_chunks(result.chunks, embedder, cache, progress=bar.update)
                sentence_texts = [search_form(texts[result.chunks[i].doc][s:e]) for i, s, e in spans]
                with tqdm(total=len(spans), desc="embedding sentences", unit="sent") as bar:
                    sentence_vectors, newly_sentences = embed_texts(
                        sentence_texts, embedder, cache, progress=bar.update
                    )
                newly += newly_sentences
        finally:
            cache.close()
        extra_files[FAISS_FILE] = faiss_writer(vectors)
        extra_files[SENTENCE_VECTORS_FILE] = npy_writer(sentence_vectors.astype(np.float16))
        extra_files[SENTENCE_SPANS_FILE] = npy_writer(np.asarray(spans, dtype=np.int64).reshape(-1, 3))
        manifest["embedder"] = {"name": embedder.name, "dim": int(vectors.shape[1])}
        manifest["sentence_vectors"] = config.sentence_vectors
        embedder_name = embedder.name
    version = write_index(config.index_dir, result.documents, result.chunks, manifest, extra_files)
    return BuildSummary(
        len(result.documents),
        len(result.chunks),
        embedder_name,
        newly,
        [f"{s.doc_id} ({s.reason})" for s in result.skipped],
        str(version),
    )
