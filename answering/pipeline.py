"""The Python API used by the CLI, the app and the eval harness alike:

    qa = QA.load(Config.from_env())          # index + model, once per process
    answer = qa.ask("问题", history=[...])   # -> qa_types.Answer

Load checks the index (manifest, checksums) and that it was built with the configured embedder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from answering.composer import ABSTAIN_TEXT, Pick, choose_sentences, compose, same_sentence
from answering.compound import asks_to_compare, split_compound
from answering.deadline import Deadline, check
from answering.followup import rewrite_followup
from answering.header_facts import asked_fields, find_header_facts
from answering.scorer import AnswerScorer, load_scorer, question_context
from config import Config
from embedding.embedders import Embedder, canonical_name, load_embedder
from embedding.query_batcher import QueryBatcher
from language.normalize import detect_script, has_content_words, search_form
from qa_types import Answer, Passage
from retrieval.search import Candidate, HybridSearcher, ScoredSentence, as_passages, interleave
from store.index_files import IndexUnusableError, read_index
from store.vectors import FAISS_FILE, SENTENCE_SPANS_FILE, SENTENCE_VECTORS_FILE, load_faiss

RELATED_PASSAGES = 3


class EmbedderMismatchError(IndexUnusableError):
    pass


class QA:
    def __init__(
        self,
        config: Config,
        embedder: Embedder,
        searcher: HybridSearcher,
        index_info: dict,
        scorer: AnswerScorer,
        llm=None,
        documents_metadata: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.documents_metadata = documents_metadata or {}  # doc id -> issuer, doc_number, date, …
        self.embedder = embedder
        self.searcher = searcher
        self.index_info = index_info
        self.scorer = scorer
        self.llm = llm
        # Concurrent questions share one model call; repeated questions are free.
        self._batcher = QueryBatcher(embedder.embed_queries)
        self._embed_query = lru_cache(maxsize=1024)(self._batcher.embed)

    @classmethod
    def load(
        cls,
        config: Config | None = None,
        embedder: str | None = None,
        llm: bool | None = None,
        scorer: AnswerScorer | None = None,
    ) -> QA:
        """`scorer`: the answer scorer to use instead of the fitted one (training passes its own)."""
        config = config or Config.from_env()
        stored = read_index(config.index_dir, config.sentence_vectors)
        built_with = (stored.manifest.get("embedder") or {}).get("name")
        wanted = canonical_name(embedder or config.embedder)
        if not built_with:
            raise IndexUnusableError(
                f"the index at {config.index_dir} has no vectors; rebuild it with: python -m ingest --embedder {wanted}"
            )
        if built_with != wanted:
            raise EmbedderMismatchError(
                f"the index at {config.index_dir} was built with embedder {built_with!r}, but {wanted!r} is "
                f"configured; rebuild it with: python -m ingest --embedder {wanted} (or set QA_EMBEDDER={built_with})"
            )
        model = load_embedder(wanted, config.model_cache, config.embedding_runtime)
        if model.dim != stored.manifest["embedder"]["dim"]:
            raise EmbedderMismatchError(
                f"index vectors are {stored.manifest['embedder']['dim']}-d but {wanted} "
                f"gives {model.dim}-d; rebuild with: python -m ingest --embedder {wanted}"
            )
        faiss_index = load_faiss(stored.path / FAISS_FILE)
        chunk_vectors = (
            faiss_index.reconstruct_n(0, faiss_index.ntotal)
            if faiss_index.ntotal
            else np.zeros((0, model.dim), np.float32)
        )
        searcher = HybridSearcher(
            stored.chunks,
            chunk_vectors,
            faiss_index,
            np.load(stored.path / SENTENCE_SPANS_FILE, allow_pickle=False),
            np.load(stored.path / SENTENCE_VECTORS_FILE, allow_pickle=False),
            {d.doc_id: d.text for d in stored.documents},
        )
        info = {
            "path": str(stored.path),
            "embedder": wanted,
            "dim": model.dim,
            "documents": len(stored.documents),
            "chunks": len(stored.chunks),
            "titles": {d.doc_id: d.title for d in stored.documents},
            "created": stored.manifest.get("created"),
        }
        llm_client = None
        if llm or (llm is None and config.llm_base_url):
            from answering.llm import LLMAnswerer

            llm_client = LLMAnswerer.from_config(config)
        metadata = {d.doc_id: d.metadata for d in stored.documents}
        return cls(config, model, searcher, info, scorer or load_scorer(wanted), llm_client, metadata)

    def retrieve(self, question: str, k: int = 10) -> list[Passage]:
        lang = detect_script(question)
        candidates, _ = self.searcher.search(search_form(question), self._embed_query(search_form(question)), lang, k)
        return as_passages(candidates, k)

    def ask_stream(
        self, question: str, history: list[dict] | None = None, deadline: Deadline | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer text in pieces (str), then the final Answer. The extractive answer is
        ready at once and comes line by line; the LLM path streams tokens (answering.llm).
        `deadline`: as in `ask`."""
        if self.llm is not None:
            yield from self.llm.stream(self, question, history or [], deadline)
            return
        answer = self.ask(question, history, deadline=deadline)
        yield from answer.answer.splitlines(keepends=True)
        yield answer

    def _extract(
        self, question: str, lang: str, k: int, deadline: Deadline | None = None
    ) -> tuple[list[Passage], list[Pick], float, int]:
        """Retrieved passages, answer sentences, their support and the number of parts asked; a
        question asking two things is answered part by part, a comparison gets a sentence from a
        second document."""
        parts = split_compound(question, lang)
        rankings, picks, supports = [], [], []
        threshold = self.scorer.threshold
        for part in parts:
            check(deadline)
            query = search_form(part)
            candidates, terms = self.searcher.search(query, self._embed_query(query), lang, 10)
            rankings.append(as_passages(candidates, 10))
            ctx = question_context(part, terms, lang, candidates, self.searcher)
            part_picks, part_support = choose_sentences(
                candidates[:k],
                terms,
                lang,
                self.searcher.documents_text,
                self.searcher.sentence_before,
                ctx,
                self.scorer,
                compare=asks_to_compare(question),
                sentences_after=self.searcher.sentences_after,
            )
            supports.append(part_support)
            if part_support < threshold and len(parts) > 1:
                continue  # this part is not answered; the others still are
            picks.extend(p for p in part_picks if not any(same_sentence(p, q) for q in picks))
        return interleave(rankings, 10), picks, max(supports), len(parts)

    def _header_picks(self, question: str, retrieved: list[Passage]) -> list[Pick]:
        """Header lines answering a question about the top document's number, date, issuer,
        author or source (answering.header_facts); [] when it asks none or its text states none.
        Only the document the question retrieved first: another document's author or date would
        be a confident citation of the wrong fact."""
        if not retrieved or not asked_fields(question):
            return []
        doc = retrieved[0].chunk.doc
        facts = find_header_facts(question, self.documents_metadata.get(doc, {}), self.searcher.documents_text[doc])
        return [pick for fact in facts if (pick := self._line_pick(doc, fact.start, fact.end))]

    def _line_pick(self, doc: str, start: int, end: int) -> Pick | None:
        """A citable pick for one line of a document: the chunk holding it, the line as its sentence."""
        for index, chunk in enumerate(self.searcher.chunks):
            if chunk.doc == doc and chunk.start <= start < chunk.end:
                end = min(end, chunk.end)
                line = ScoredSentence(
                    start, end, 1.0, 1.0, set(), search_form(self.searcher.documents_text[doc][start:end])
                )
                return Pick(Candidate(index, chunk, 1.0, {}, [line]), line, 1.0, 0)
        return None

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        k: int | None = None,
        generate: bool = True,
        deadline: Deadline | None = None,
    ) -> Answer:
        """`generate=False`: the extractive answer even when an LLM is configured (the LLM's
        streaming path starts from it; follow-ups are still rewritten by the LLM).
        `deadline`: checked before each costly stage; AnswerTimeout once it has passed."""
        started = time.perf_counter()
        lang = detect_script(question)
        check(deadline)
        standalone = rewrite_followup(question, history or [], self.llm)
        parts = 1
        if has_content_words(standalone):
            retrieved, picks, support, parts = self._extract(standalone, lang, k or self.config.top_k, deadline)
            header = self._header_picks(standalone, retrieved)
            if header:  # the document's own number, date, issuer…: cited to its header line
                picks, support = header, 1.0
        else:  # `{{7*7}}`, `%s%n`, a lone tag, `嗯`, `ok`: nothing to look up, nothing to cite
            retrieved, picks, support = [], [], 0.0
        threshold = self.scorer.threshold
        docs = self.searcher.documents_text
        answer = Answer(
            question=question,
            answer="",
            abstained=True,
            lang=lang,
            retrieved=retrieved,
            standalone_question=standalone if standalone != question else "",
        )
        if not picks or support < threshold:
            answer.answer = ABSTAIN_TEXT[lang]
            answer.related = retrieved[:RELATED_PASSAGES]
        else:
            # Two parts answered from two documents are two answers, not a disagreement.
            answer.answer, answer.citations = compose(picks, lang, docs, note_differences=parts == 1)
            answer.abstained = False
        if self.llm is not None and generate:  # checked LLM answer, or this one + a notice on failure
            check(deadline)
            answer = self.llm.answer(self, answer)
        answer.support = support
        answer.latency_ms = (time.perf_counter() - started) * 1000
        return answer
