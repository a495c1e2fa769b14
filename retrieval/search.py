"""Hybrid search over one loaded index: dense (FAISS) + lexical (BM25) ranks fused by RRF, then a
second stage that re-scores the candidates with sentence-level evidence.

Rerank features per candidate chunk (all 0..1):
  dense   cosine of the question and the chunk
  sent    best cosine of the question and one of the chunk's sentences (precomputed vectors)
  cover   IDF-weighted share of the question's terms found in the chunk
  bm25    BM25 score over the best BM25 score of this question
  number  share of the question's quantities found in the chunk (only when it has any)
English questions against Chinese text share no terms, so for them only the dense signals count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from language.normalize import search_form, section_leaf
from qa_types import Chunk, Passage
from retrieval.features import QueryTerms, analyse_query, coverage, mentions_focus
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.lexical import LexicalIndex, tokenize

CANDIDATES_PER_LIST = 30  # from each of dense and lexical, before fusion
RERANK_DEPTH = 30  # fused candidates re-scored by the second stage
WEIGHTS_ZH = {"dense": 0.25, "sent": 0.30, "cover": 0.30, "bm25": 0.15}
WEIGHTS_EN = {"dense": 0.45, "sent": 0.55}
NUMBER_WEIGHT = 0.10
RRF_TIEBREAK = 0.02
HEADING_DISCOUNT = 0.85  # question terms found only in the section heading count for this much
SHORT_SENTENCE_CHARS = 25  # "公园总面积达785.1公顷。": so short, its subject is in the sentence before


@dataclass
class ScoredSentence:
    start: int
    end: int
    cosine: float
    cover: float
    tokens: set[str] = field(default_factory=set)
    search_text: str = ""  # simplified search form of the sentence
    has_focus: bool = True  # the question's focus term is in this sentence or the one before


@dataclass
class Candidate:
    index: int  # position in the chunk list
    chunk: Chunk
    score: float
    features: dict[str, float]
    sentences: list[ScoredSentence]


class HybridSearcher:
    def __init__(
        self,
        chunks: list[Chunk],
        chunk_vectors: np.ndarray,
        faiss_index,
        sentence_spans: np.ndarray,
        sentence_vectors: np.ndarray,
        documents_text: dict[str, str],
    ) -> None:
        self.chunks = chunks
        self.chunk_vectors = chunk_vectors
        self.faiss_index = faiss_index
        # The nearest heading names what a passage is about (`（二）发展原则`), often in the very
        # words of a question; the document title is true of every passage of the document, so a
        # question naming the document (`行动计划的…`) does not favour the one passage that repeats
        # the title (a notice's preamble). The lexical side indexes both with the text.
        self.lexical = LexicalIndex(
            [f"{search_form(c.title)}\n{search_form(section_leaf(c.section))}\n{c.search_text}" for c in chunks]
        )
        self.doc_token_sets = [set(t) for t in self.lexical.doc_tokens]
        self.sentence_vectors = sentence_vectors
        self.sentences_of: dict[int, list[int]] = {}
        for row, (chunk_index, _, _) in enumerate(sentence_spans):
            self.sentences_of.setdefault(int(chunk_index), []).append(row)
        self.sentence_spans = sentence_spans
        self.documents_text = documents_text
        # Whole documents in search form: how much of a question a document mentions at all.
        self.document_forms = {doc: search_form(text) for doc, text in documents_text.items()}
        self._corpus_bigrams: set[str] | None = None
        self._idf_cache: dict[str, float] = {}
        self._df_cache: dict[str, int] = {}
        self._sentence_forms: dict[int, tuple[str, set[str]]] = {}
        self._heading_forms: dict[int, tuple[str, set[str]]] = {}

    @property
    def corpus_bigrams(self) -> set[str]:
        """Every character bigram of the documents (search form), built on first use."""
        if self._corpus_bigrams is None:
            self._corpus_bigrams = {
                form[i : i + 2] for form in self.document_forms.values() for i in range(len(form) - 1)
            }
        return self._corpus_bigrams

    def doc_freq(self, token: str) -> int:
        if token not in self._df_cache:
            self._df_cache[token] = self.lexical.doc_freq(token)
        return self._df_cache[token]

    def idf(self, token: str) -> float:
        if token not in self._idf_cache:
            self._idf_cache[token] = self.lexical.idf(token)
        return self._idf_cache[token]

    def _sentence_form(self, row: int) -> tuple[str, set[str]]:
        """Search form and token set of a sentence, computed on first use and kept."""
        if row not in self._sentence_forms:
            chunk_index, start, end = (int(x) for x in self.sentence_spans[row])
            form = search_form(self.documents_text[self.chunks[chunk_index].doc][start:end])
            self._sentence_forms[row] = (form, set(tokenize(form)))
        return self._sentence_forms[row]

    def _heading_form(self, i: int) -> tuple[str, set[str]]:
        """Search form and token set of chunk i's nearest heading, computed on first use and kept
        (before, every question recomputed it for every passage it reranked)."""
        if i not in self._heading_forms:
            form = search_form(section_leaf(self.chunks[i].section))
            self._heading_forms[i] = (form, set(tokenize(form)))
        return self._heading_forms[i]

    def sentence_before(
        self, candidate: Candidate, sentence: ScoredSentence
    ) -> tuple[Candidate, ScoredSentence] | None:
        """The sentence just before `sentence` in its document, with the candidate of the chunk that
        holds it: the chunk before when `sentence` opens its chunk. None at a document's start."""
        earlier = [s for s in candidate.sentences if s.end <= sentence.start]
        if earlier:
            return candidate, earlier[-1]
        i = candidate.index - 1
        if i < 0 or self.chunks[i].doc != candidate.chunk.doc or self.chunks[i].start >= candidate.chunk.start:
            return None
        rows = [r for r in self.sentences_of.get(i, []) if int(self.sentence_spans[r][2]) <= sentence.start]
        if not rows:
            return None
        form, tokens = self._sentence_form(rows[-1])
        _, start, end = (int(x) for x in self.sentence_spans[rows[-1]])
        before = ScoredSentence(start, end, sentence.cosine, sentence.cover, tokens, form, sentence.has_focus)
        return Candidate(i, self.chunks[i], candidate.score, {}, [before]), before

    def sentences_after(
        self, candidate: Candidate, sentence: ScoredSentence, count: int
    ) -> list[tuple[Candidate, ScoredSentence]]:
        """Up to `count` sentences following `sentence` in its document, in order, each with the
        candidate of the chunk that holds it (later chunks of the same document when needed)."""
        found = [(candidate, s) for s in candidate.sentences if s.start >= sentence.end][:count]
        i = candidate.index + 1
        last_end = found[-1][1].end if found else sentence.end
        while len(found) < count and i < len(self.chunks) and self.chunks[i].doc == candidate.chunk.doc:
            for row in self.sentences_of.get(i, []):
                _, start, end = (int(x) for x in self.sentence_spans[row])
                if start >= last_end and len(found) < count:
                    form, tokens = self._sentence_form(row)
                    after = ScoredSentence(
                        start, end, sentence.cosine, sentence.cover, tokens, form, sentence.has_focus
                    )
                    found.append((Candidate(i, self.chunks[i], candidate.score, {}, [after]), after))
                    last_end = end
            i += 1
        return found

    def search(
        self, search_question: str, query_vector: np.ndarray, lang: str, k: int = 10
    ) -> tuple[list[Candidate], QueryTerms]:
        terms = analyse_query(search_question, self.idf, self.doc_freq, len(self.chunks), lang)
        n = len(self.chunks)
        depth = min(CANDIDATES_PER_LIST, n)
        dense_scores, dense_ids = self.faiss_index.search(query_vector.reshape(1, -1).astype(np.float32), depth)
        dense_ranking = [int(i) for i in dense_ids[0] if i >= 0]
        bm25 = self.lexical.scores(terms.tokens)
        lexical_ranking = [int(i) for i in np.argsort(-bm25)[:depth] if bm25[i] > 0] if lang != "en" else []
        fused = reciprocal_rank_fusion([dense_ranking, lexical_ranking])
        pool = sorted(fused, key=fused.get, reverse=True)[:RERANK_DEPTH]
        top_bm25 = float(bm25.max()) if bm25.size and bm25.max() > 0 else 1.0
        top_fused = max(fused.values()) if fused else 1.0
        candidates = []
        for i in pool:
            candidates.append(self._score(i, query_vector, terms, bm25[i] / top_bm25, fused[i] / top_fused, lang))
        candidates.sort(key=lambda c: c.score, reverse=True)
        return candidates[: max(k, 10)], terms

    def _score(
        self, i: int, query_vector: np.ndarray, terms: QueryTerms, bm25_norm: float, fused_norm: float, lang: str
    ) -> Candidate:
        chunk = self.chunks[i]
        rows = self.sentences_of.get(i, [])
        cosines = (self.sentence_vectors[rows].astype(np.float32) @ query_vector) if rows else np.zeros(0)
        sentences = []
        previous_form, previous_tokens = "", set()
        heading_form, heading_tokens = self._heading_form(i)
        for row, cos in zip(rows, cosines):
            form, tokens = self._sentence_form(row)
            _, start, end = (int(x) for x in self.sentence_spans[row])
            # A sentence under `（二）着力建设两个服务型智造基地` is about those bases without naming
            # them; a very short one continues the sentence before (马驹桥湿地公园…。公园总面积达…。).
            context = heading_tokens | (previous_tokens if len(form) <= SHORT_SENTENCE_CHARS else set())
            cover = max(coverage(terms, tokens), HEADING_DISCOUNT * coverage(terms, tokens | context))
            sentence = ScoredSentence(start, end, float(cos), cover, tokens, form)
            sentence.has_focus = mentions_focus(form, previous_form, terms.focus) or terms.focus in heading_form
            sentences.append(sentence)
            previous_form, previous_tokens = form, tokens
        features = {
            "dense": float(self.chunk_vectors[i] @ query_vector),
            "sent": float(cosines.max()) if len(cosines) else 0.0,
            "cover": coverage(terms, self.doc_token_sets[i]),
            "bm25": float(bm25_norm),
        }
        weights = WEIGHTS_EN if lang == "en" else WEIGHTS_ZH
        score = sum(w * features[name] for name, w in weights.items())
        if terms.numbers:
            features["number"] = sum(n in chunk.search_text for n in terms.numbers) / len(terms.numbers)
            score += NUMBER_WEIGHT * (features["number"] - 0.5)
        score += RRF_TIEBREAK * fused_norm
        return Candidate(i, chunk, float(score), features, sentences)


def as_passages(candidates: list[Candidate], k: int = 10) -> list[Passage]:
    passages = []
    for c in candidates[:k]:
        best = max(c.sentences, key=lambda s: s.cosine + s.cover, default=None)
        passages.append(Passage(c.chunk, c.score, "reranked", (best.start, best.end) if best else None))
    return passages


def interleave(rankings: list[list[Passage]], k: int) -> list[Passage]:
    """Merge the rankings of a question's parts: first of each, then second of each, …"""
    if len(rankings) == 1:
        return rankings[0][:k]
    merged: list[Passage] = []
    seen: set[str] = set()
    for rank in range(max(len(r) for r in rankings)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank].chunk.id not in seen:
                seen.add(ranking[rank].chunk.id)
                merged.append(ranking[rank])
    return merged[:k]
