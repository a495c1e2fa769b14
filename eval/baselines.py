"""Two baselines with the same interface as our QA: `.ask(question, history=None) -> Answer`.

Both read the raw files of `config.seeds_dir` (the seeds, or the documents folder of another
corpus such as eval/corpora/cmrc2018-trial/corpus; UTF-8, no cleaning) and cut them with LangChain's
RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50), the default recipe of a naive
RAG tutorial. Neither abstains nor uses the history: the answer is the top passage and the
citations are the top 3 passages (each quoted whole).

  NaiveLangChainBaseline  dense retrieval: our embedder (`embedding.embedders.load_embedder`) and a
                          FAISS inner-product index over the normalised vectors (= cosine).
  BM25Baseline            lexical retrieval: bm25s over jieba search-mode tokens, lowercased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config import Config
from qa_types import Answer, Chunk, Citation, Passage

CHUNK_SIZE, CHUNK_OVERLAP = 500, 50
TOP_K = 10
CITED = 3
SEED_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class RawChunk:
    doc: str
    text: str
    start: int  # offset in the raw file, -1 when it could not be located
    end: int


def read_seed_files(seeds_dir: Path) -> dict[str, str]:
    """File name -> raw UTF-8 text, for every .txt/.md file in the seeds folder."""
    files = sorted(p for p in Path(seeds_dir).iterdir() if p.is_file() and p.suffix.lower() in SEED_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no .txt or .md seed files in {seeds_dir}")
    return {p.name: p.read_text(encoding="utf-8") for p in files}


def split_seeds(seeds: dict[str, str]) -> list[RawChunk]:
    """500/50 recursive character chunks of every seed, with their offsets in the raw file."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    chunks = []
    for name, raw in seeds.items():
        for piece in splitter.create_documents([raw]):
            text, start = piece.page_content, piece.metadata.get("start_index", -1)
            located = start >= 0 and raw[start : start + len(text)] == text
            chunks.append(
                RawChunk(doc=name, text=text, start=start if located else -1, end=start + len(text) if located else -1)
            )
    return chunks


def answer_from_ranking(question: str, chunks: list[RawChunk], ranking: list[tuple[int, float]], stage: str) -> Answer:
    """Top passage as the answer, top 3 passages as citations, top 10 as `retrieved`."""
    passages = [Passage(chunk=_as_chunk(chunks[i], i), score=score, stage=stage) for i, score in ranking]
    citations = [
        Citation(
            n=n,
            doc=p.chunk.doc,
            title=p.chunk.title,
            section="",
            text=p.chunk.text,
            start=p.chunk.start,
            end=p.chunk.end,
            quote=p.chunk.text,
            passage_start=p.chunk.start,
            passage_end=p.chunk.end,
        )
        for n, p in enumerate(passages[:CITED], start=1)
    ]
    return Answer(
        question=question,
        answer=passages[0].chunk.text if passages else "",
        abstained=False,
        lang="",
        citations=citations,
        retrieved=passages,
    )


def _as_chunk(raw: RawChunk, index: int) -> Chunk:
    return Chunk(
        id=f"{raw.doc}#{index}",
        doc=raw.doc,
        title=raw.doc,
        section="",
        text=raw.text,
        search_text=raw.text,
        start=raw.start,
        end=raw.end,
    )


class NaiveLangChainBaseline:
    """Dense top-10 over naive chunks: what a LangChain quick-start would build."""

    def __init__(self, chunks: list[RawChunk], embedder, index) -> None:
        self.chunks, self.embedder, self.index = chunks, embedder, index

    @classmethod
    def build(cls, config: Config, embedder_name: str) -> NaiveLangChainBaseline:
        import faiss

        from embedding.embedders import load_embedder

        chunks = split_seeds(read_seed_files(config.seeds_dir))
        embedder = load_embedder(embedder_name, config.model_cache)
        vectors = np.ascontiguousarray(embedder.embed_documents([c.text for c in chunks]), dtype=np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(chunks, embedder, index)

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        query = np.ascontiguousarray(self.embedder.embed_queries([question]), dtype=np.float32)
        scores, ids = self.index.search(query, min(TOP_K, self.index.ntotal))
        ranking = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        return answer_from_ranking(question, self.chunks, ranking, stage="dense")


def jieba_tokens(text: str) -> list[str]:
    """jieba search-mode tokens of the lowercased text, without whitespace/punctuation-only tokens."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [t for t in jieba.lcut_for_search(text.lower()) if any(ch.isalnum() for ch in t)]


class BM25Baseline:
    """BM25 (bm25s, Lucene variant) top-10 over the same naive chunks."""

    def __init__(self, chunks: list[RawChunk], retriever) -> None:
        self.chunks, self.retriever = chunks, retriever

    @classmethod
    def build(cls, config: Config) -> BM25Baseline:
        import bm25s

        chunks = split_seeds(read_seed_files(config.seeds_dir))
        retriever = bm25s.BM25()
        retriever.index([jieba_tokens(c.text) for c in chunks], show_progress=False)
        return cls(chunks, retriever)

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        tokens = jieba_tokens(question)
        if not tokens:
            return answer_from_ranking(question, self.chunks, [], stage="lexical")
        ids, scores = self.retriever.retrieve([tokens], k=min(TOP_K, len(self.chunks)), show_progress=False)
        ranking = [(int(i), float(s)) for i, s in zip(ids[0], scores[0])]
        return answer_from_ranking(question, self.chunks, ranking, stage="lexical")
