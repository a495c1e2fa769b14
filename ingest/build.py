"""Build the index folder: ingest the documents, embed the chunks (cached), write atomically."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from config import Config
from ingest.chunk import CHUNKER_VERSION
from ingest.documents import ingest_folder
from ingest.index_store import write_index


@dataclass
class BuildSummary:
    documents: int
    chunks: int
    embedder: str | None
    newly_embedded: int
    skipped: list[str] = field(default_factory=list)
    index_path: str = ""

    def describe(self) -> str:
        vectors = (f", embedder {self.embedder} ({self.newly_embedded} newly embedded)"
                   if self.embedder else ", no vectors")
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
        from tqdm import tqdm

        from retrieval.embedders import load_embedder
        from retrieval.vector_store import FAISS_FILE, EmbeddingCache, embed_chunks, faiss_writer

        embedder = load_embedder(config.embedder, config.model_cache)
        cache = EmbeddingCache(config.model_cache / "embedding_cache.sqlite3")
        try:
            with tqdm(total=len(result.chunks), desc=f"embedding ({embedder.name})", unit="chunk") as bar:
                vectors, newly = embed_chunks(result.chunks, embedder, cache, progress=bar.update)
        finally:
            cache.close()
        extra_files[FAISS_FILE] = faiss_writer(vectors)
        manifest["embedder"] = {"name": embedder.name, "dim": embedder.dim}
        embedder_name = embedder.name
    version = write_index(config.index_dir, result.documents, result.chunks, manifest, extra_files)
    return BuildSummary(len(result.documents), len(result.chunks), embedder_name, newly,
                        [f"{s.doc_id} ({s.reason})" for s in result.skipped], str(version))
