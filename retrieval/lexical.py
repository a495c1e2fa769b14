"""Lexical search: BM25 (the bm25s library) over jieba tokens of the simplified search form.

LangChain's default BM25 preprocessing splits on spaces, which leaves a Chinese sentence as one
token; jieba's search mode also emits the sub-words of long words (先进制造业 -> 先进, 制造, …).
"""

from __future__ import annotations

import logging
import re

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

# Function words that match everywhere and rank nothing; kept short on purpose.
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 等 有 为 对 中 将 把 被 于 个 也 都 就 并 或 其 这 那 啊 吗 呢 吧 "
    "什么 多少 哪些 哪个 哪 怎么 如何 是否 几 谁 何 请问 一下 分别 各 各自 一共 总共 其中 目前 "
    "怎样 为什么 the a an of to in and is are "
    "what which how many much who does do was were for on by with".split()
)
_TOKEN_OK = re.compile(r"[0-9a-z\u3400-\u9fff]")
# `两篇`, `两份`, `三篇`: a count of documents in a question about the documents themselves
# (`两篇报道对…的说法有何不同`); it says which documents, never what they say.
_DOCUMENT_COUNT = re.compile(r"^[两二三四五六七八九几这那各每][篇份]$")


def tokenize(search_text: str) -> list[str]:
    """Lowercased jieba search-mode tokens without punctuation, spaces, stopwords or counts of
    documents."""
    tokens = jieba.lcut_for_search(search_text.lower())
    return [
        t
        for t in (tok.strip() for tok in tokens)
        if t and _TOKEN_OK.search(t) and t not in STOPWORDS and not _DOCUMENT_COUNT.match(t)
    ]


class LexicalIndex:
    def __init__(self, search_texts: list[str]) -> None:
        self.size = len(search_texts)
        self.doc_tokens = [tokenize(t) for t in search_texts]
        self.search_texts = [t.lower() for t in search_texts]
        self.bm25 = bm25s.BM25()
        self.bm25.index([toks or ["\u0000"] for toks in self.doc_tokens], show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk, (n_chunks,) float32; zeros for an empty query."""
        if not query_tokens or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(query_tokens), dtype=np.float32)

    def doc_freq(self, token: str) -> int:
        """Number of chunks containing the token as a substring (投资 counts in 总投资, 华海 in
        华海清科, whatever jieba made of them). A linear scan: callers cache it per token."""
        token = token.lower()
        return sum(1 for text in self.search_texts if token in text)

    def idf(self, token: str) -> float:
        """Inverse document frequency, for weighting term overlap in the rerank stage."""
        df = self.doc_freq(token)
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5)))
