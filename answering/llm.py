"""Generated answers from an OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server),
checked sentence by sentence against the passages they cite.

With QA_LLM_BASE_URL set, QA.ask and QA.ask_stream go:
  follow-up rewritten by the model (answering.followup)  ->  retrieval + extractive answer (pipeline)
  -> the top passages and the question in the prompts of prompts/  ->  streamed tokens
  -> every sentence checked (answering.citation_check)  ->  Answer with the usual Citation objects.
When the extractive answer abstains, so does this path: nothing the model says could be cited.
Any failure (timeout, connection, HTTP error, empty output, no supported sentence, or an answer
that cites none of the sentences the extractive answer chose) gives the extractive answer with a
short notice instead. The API key is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from answering.citation_check import (
    DEFAULT_THRESHOLDS,
    THRESHOLDS,
    CheckResult,
    SourcePassage,
    SourceSentence,
    check_answer,
    compose,
)
from config import REPO_ROOT, Config
from qa_types import Answer, Citation, Passage

if TYPE_CHECKING:
    from answering.deadline import Deadline
    from answering.pipeline import QA

log = logging.getLogger(__name__)

PROMPTS_DIR = REPO_ROOT / "prompts"
ANSWER_PASSAGES = 3  # passages in the prompt (~800 prompt tokens): prompt evaluation dominates on a CPU
PLACEHOLDER_API_KEY = "not-needed"  # local servers ignore the key, but the client insists on one
SCRIPT_NAME = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}

NOTICE_UNAVAILABLE = {
    "zh-Hans": "大模型暂时不可用，以下为原文摘录答案。",
    "zh-Hant": "大模型暫時不可用，以下為原文摘錄答案。",
    "en": "The language model is unavailable right now; the answer below is quoted from the documents.",
}
NOTICE_UNSUPPORTED = {
    "zh-Hans": "大模型的回答在原文中找不到依据，以下为原文摘录答案。",
    "zh-Hant": "大模型的回答在原文中找不到依據，以下為原文摘錄答案。",
    "en": "The language model's answer was not supported by the documents; the answer below is quoted from them.",
}
NOTICE_OFF_TOPIC = {
    "zh-Hans": "大模型的回答与最相关的原文不一致，以下为原文摘录答案。",
    "zh-Hant": "大模型的回答與最相關的原文不一致，以下為原文摘錄答案。",
    "en": "The language model's answer did not rest on the most relevant passages; the answer below is quoted from them.",
}
NOTICE_DROPPED = {
    "zh-Hans": "已略去{n}句原文无法支持的内容。",
    "zh-Hant": "已略去{n}句原文無法支持的內容。",
    "en": "{n} sentence(s) the documents do not support were left out.",
}


class LLMUnavailable(RuntimeError):
    """The endpoint failed: connection, timeout, HTTP error, or an empty reply."""


# ---------------------------------------------------------------- prompts
@cache
def load_prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")


def quoted(text: str) -> str:
    """Passage or question text that cannot close or open a <passage>/<question> tag."""
    return text.replace("<", "＜").replace(">", "＞")


def answer_prompt(question: str, passages: list[Passage], lang: str) -> tuple[str, str]:
    """(system, user) messages: the rules, then the numbered passages and the question."""
    variant = "en" if lang == "en" else "zh"
    blocks = "\n\n".join(
        f'<passage id="{n}" source="{quoted(p.chunk.title)}">\n{quoted(p.chunk.text)}\n</passage>'
        for n, p in enumerate(passages, start=1)
    )
    system = load_prompt(f"answer_system.{variant}.txt").format(script=SCRIPT_NAME[lang])
    user = load_prompt(f"answer_user.{variant}.txt").format(passages=blocks, question=quoted(question))
    return system, user


def followup_prompt(question: str, previous: str, lang: str) -> tuple[str, str]:
    variant = "en" if lang == "en" else "zh"
    system = load_prompt(f"followup_system.{variant}.txt").format(script=SCRIPT_NAME[lang])
    user = load_prompt(f"followup_user.{variant}.txt").format(previous=quoted(previous), question=quoted(question))
    return system, user


# ---------------------------------------------------------------- the model
class LLMAnswerer:
    def __init__(
        self,
        chat: ChatOpenAI,
        timeout: float,
        max_tokens: int = Config.llm_max_tokens,
        answer_passages: int = ANSWER_PASSAGES,
    ) -> None:
        self.chat = chat
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.answer_passages = answer_passages

    @classmethod
    def from_config(cls, config: Config, max_tokens: int | None = None) -> LLMAnswerer:
        if not config.llm_base_url or not config.llm_model:
            raise ValueError("an LLM needs both QA_LLM_BASE_URL and QA_LLM_MODEL (see docs/llm.md)")
        max_tokens = max_tokens or config.llm_max_tokens
        chat = ChatOpenAI(
            model=config.llm_model,
            base_url=config.llm_base_url,
            api_key=config.llm_api_key or PLACEHOLDER_API_KEY,  # held as a SecretStr, masked in reprs
            timeout=config.llm_timeout,
            max_retries=0,  # a failure falls back to the extractive answer at once; retries only add waiting
            temperature=0.0,
            extra_body={"max_tokens": max_tokens},  # llama.cpp's server ignores max_completion_tokens
        )
        return cls(chat, config.llm_timeout, max_tokens)

    def __repr__(self) -> str:
        return f"LLMAnswerer(model={self.chat.model_name!r}, base_url={self.chat.openai_api_base!r})"

    def chat_stream(self, system: str, user: str, max_tokens: int | None = None) -> Iterator[str]:
        """The reply in pieces. Raises LLMUnavailable on any failure, including a reply that takes
        longer than the timeout in all (the client's own timeout applies to each read only)."""
        deadline = time.monotonic() + self.timeout
        body = {"max_tokens": max_tokens or self.max_tokens}
        produced = False
        try:
            with closing(self.chat.stream([SystemMessage(system), HumanMessage(user)], extra_body=body)) as chunks:
                for chunk in chunks:
                    if time.monotonic() > deadline:
                        raise LLMUnavailable(f"no complete reply within {self.timeout:g} s")
                    if chunk.text:
                        produced = produced or bool(chunk.text.strip())
                        yield chunk.text
        except LLMUnavailable:
            raise
        except Exception as exc:  # openai/httpx errors of every kind: the caller falls back
            raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not produced:
            raise LLMUnavailable("empty reply")

    def complete(self, system: str, user: str, max_tokens: int | None = None) -> str:
        return "".join(self.chat_stream(system, user, max_tokens))

    def rewrite_question(self, question: str, previous: str, lang: str, max_tokens: int) -> str:
        """The model's standalone form of a follow-up (answering.followup validates it)."""
        return self.complete(*followup_prompt(question, previous, lang), max_tokens=max_tokens)

    # ---------------------------------------------------------------- answers
    def stream(
        self, qa: QA, question: str, history: list[dict], deadline: Deadline | None = None
    ) -> Iterator[str | Answer]:
        """Token pieces as they arrive, then the final, checked Answer (used by QA.ask_stream).
        The final Answer's text replaces the streamed text: the check may drop sentences."""
        started = time.perf_counter()
        extractive = qa.ask(question, history, generate=False, deadline=deadline)
        for item in self.generate(qa, extractive):
            if isinstance(item, Answer):
                item.latency_ms = (time.perf_counter() - started) * 1000
            yield item

    def answer(self, qa: QA, extractive: Answer) -> Answer:
        """The non-streaming path (used by QA.ask): the last item of `generate`."""
        final = extractive
        for item in self.generate(qa, extractive):
            if isinstance(item, Answer):
                final = item
        return final

    def generate(self, qa: QA, extractive: Answer) -> Iterator[str | Answer]:
        if extractive.abstained:
            yield extractive
            return
        lang = extractive.lang
        passages = extractive.retrieved[: self.answer_passages]
        question = extractive.standalone_question or extractive.question
        pieces: list[str] = []
        started = time.perf_counter()
        try:
            for piece in self.chat_stream(*answer_prompt(question, passages, lang)):
                pieces.append(piece)
                yield piece
        except LLMUnavailable as exc:
            log.warning("LLM unavailable, extractive answer shown: %s", exc)
            yield replace(extractive, notice=NOTICE_UNAVAILABLE[lang])
            return
        try:
            result = self.check(qa, "".join(pieces), passages, lang, question)
        except Exception:  # a bug in checking must not cost the user the answer
            log.exception("checking the LLM answer failed; extractive answer shown")
            yield replace(extractive, notice=NOTICE_UNAVAILABLE[lang])
            return
        log.info(
            "LLM answer in %.1f s, %d pieces; sentences kept %d, dropped %d",
            time.perf_counter() - started,
            len(pieces),
            len(result.kept),
            len(result.dropped),
        )
        if not result.kept:
            yield replace(extractive, notice=NOTICE_UNSUPPORTED[lang])
            return
        answer_text, citations = compose(result, lang)
        if not shares_evidence(citations, extractive.citations):
            log.info("LLM answer cites none of the sentences the extractive answer chose; extractive shown")
            yield replace(extractive, notice=NOTICE_OFF_TOPIC[lang])
            return
        notice = NOTICE_DROPPED[lang].format(n=len(result.dropped)) if result.dropped else ""
        yield replace(extractive, answer=answer_text, citations=citations, notice=notice)

    @staticmethod
    def check(qa: QA, text: str, passages: list[Passage], lang: str, question: str) -> CheckResult:
        thresholds = THRESHOLDS.get(qa.index_info.get("embedder", ""), DEFAULT_THRESHOLDS)
        return check_answer(text, source_passages(qa, passages), qa.embedder.embed_queries, lang, thresholds, question)


def shares_evidence(generated: list[Citation], extractive: list[Citation]) -> bool:
    """Whether a generated answer cites at least one sentence the extractive answer chose. Those
    were picked, with the fitted abstention threshold, for answering the question; a sentence the check
    found supported is only true, and may answer something else."""
    return any(g.doc == e.doc and g.start < e.end and e.start < g.end for g in generated for e in extractive)


def source_passages(qa: QA, passages: list[Passage]) -> list[SourcePassage]:
    """The prompt's passages with their sentences (offsets in the document) and the sentence
    vectors stored in the index, numbered as in the prompt."""
    searcher = qa.searcher
    index_of = {c.id: i for i, c in enumerate(searcher.chunks)}
    sources = []
    for n, passage in enumerate(passages, start=1):
        i = index_of[passage.chunk.id]
        doc_text = searcher.documents_text[passage.chunk.doc]
        sentences = []
        for row in searcher.sentences_of.get(i, []):
            _, start, end = (int(x) for x in searcher.sentence_spans[row])
            sentences.append(
                SourceSentence(
                    start, end, doc_text[start:end], np.asarray(searcher.sentence_vectors[row], dtype=np.float32)
                )
            )
        if not sentences:  # a chunk indexed without sentences (e.g. one table row) is its own sentence
            chunk = passage.chunk
            sentences.append(
                SourceSentence(
                    chunk.start, chunk.end, chunk.text, np.asarray(searcher.chunk_vectors[i], dtype=np.float32)
                )
            )
        sources.append(SourcePassage(n, passage.chunk, sentences))
    return sources
