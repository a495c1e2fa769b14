"""Extractive answers: pick the one to three sentences that answer the question, cite each with
`[n]`, in the asker's script; or abstain and list the closest passages as "related".

A sentence's support for the question is its cosine with the question blended with the share
of the question's terms it contains (English questions: cosine only, they share no terms with
Chinese text). A question that asks for a quantity needs a sentence with a number that is not a
date. The answer abstains when the best support is under a threshold calibrated on the gold set
(retrieval/calibration.json, written by `python -m eval calibrate`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ingest.normalize import detect_script, to_simplified, to_traditional
from qa_types import Citation
from retrieval.features import QueryTerms, fills_quantity_slot, quantities
from retrieval.search import Candidate, ScoredSentence

SentenceBefore = Callable[[Candidate, ScoredSentence], "tuple[Candidate, ScoredSentence] | None"]

ANSWER_PASSAGES = 3  # sentences are drawn from the top passages only
MAX_SENTENCES = 3
CONTEXT_CHAIN = 2  # sentences followed back from one that leans on the sentence before (这/该/“…)
EXTRA_SENTENCE_RATIO = 0.92  # a further sentence must score this close to the best one
ADJACENT_RATIO = 0.5  # the sentence right next to a chosen one continues its thought (A；B。)
EXTRA_COSINE_RATIO = 0.9  # a further sentence must be about the question nearly as much as the best
LIST_RATIO, LIST_COSINE_RATIO = 0.85, 0.75  # "which ones" questions gather answers from more sentences
COMPARE_RATIO = 0.7  # for a comparison, another document's best sentence may score this much lower
NEW_COVERAGE_MIN = 0.15  # ... and add this much of the question's terms, or come from another document
COSINE_WEIGHT = 0.55
MISSING_QUANTITY_PENALTY = 0.12  # a how-many question (with no clear measure) answered without a number
MISSING_FOCUS_PENALTY = 0.15  # the sentence is about something else than the name asked about  # ... or without the measure it asks about (总投资) in the asked unit
PASSAGE_PRIOR = 0.08

ABSTAIN_TEXT = {
    "zh-Hans": "文档中没有找到这个问题的答案。下面列出最接近的段落，仅供参考。",
    "zh-Hant": "文件中沒有找到這個問題的答案。下面列出最接近的段落，僅供參考。",
    "en": "The documents do not contain an answer to this question. The closest passages are listed below for reference.",
}
EN_LEAD_IN = "According to the documents (quoted in the original Chinese):"
EN_DOC_LEAD_IN = "{title} says:"


@dataclass
class Pick:
    candidate: Candidate
    sentence: ScoredSentence
    score: float
    rank: int  # passage rank, 0 = best


def sentence_support(sentence: ScoredSentence, terms: QueryTerms, lang: str) -> float:
    """How well one sentence answers the question; the abstention threshold applies to this."""
    if lang == "en":
        support = sentence.cosine
    else:
        support = COSINE_WEIGHT * sentence.cosine + (1 - COSINE_WEIGHT) * sentence.cover
    if not sentence.has_focus:
        support -= MISSING_FOCUS_PENALTY
    if terms.slot is None and terms.asks_quantity and not terms.asks_date and not quantities(sentence.search_text):
        support -= MISSING_QUANTITY_PENALTY
    return support


def _sentence_score(sentence: ScoredSentence, candidate: Candidate, top_score: float,
                    terms: QueryTerms, lang: str) -> float:
    return sentence_support(sentence, terms, lang) + PASSAGE_PRIOR * candidate.score / max(top_score, 1e-6)


def same_sentence(a: Pick, b: Pick) -> bool:
    return a.candidate.chunk.doc == b.candidate.chunk.doc and a.sentence.start == b.sentence.start


def choose_sentences(candidates: list[Candidate], terms: QueryTerms, lang: str,
                     documents_text: dict[str, str], sentence_before: SentenceBefore,
                     compare: bool = False) -> list[Pick]:
    """Best sentence first, plus up to two that add missing terms or another document's view.
    `compare`: the question compares documents, so the best sentence of a second document joins
    when it comes close enough (COMPARE_RATIO) even from outside the top passages.
    `sentence_before` (HybridSearcher.sentence_before) finds the sentence a pronoun leans on, in
    the same chunk or the one before."""
    top = candidates[:ANSWER_PASSAGES]
    if compare:
        first_doc = candidates[0].chunk.doc if candidates else None
        other = next((c for c in candidates[ANSWER_PASSAGES:] if c.chunk.doc != first_doc
                      and all(t.chunk.doc == first_doc for t in top)), None)
        top = top + ([other] if other else [])
    pool: list[Pick] = []
    for rank, cand in enumerate(top):
        for s in cand.sentences:
            if terms.slot is not None and not fills_quantity_slot(s.search_text, terms.slot):
                continue  # a how-much question is answered only by a sentence stating that quantity
            pool.append(Pick(cand, s, _sentence_score(s, cand, top[0].score, terms, lang), rank))
    if not pool:
        return []
    pool.sort(key=lambda p: p.score, reverse=True)
    chosen = [pool[0]]
    covered = set(pool[0].sentence.tokens)
    for pick in pool[1:]:
        if len(chosen) >= MAX_SENTENCES:
            break
        if any(same_sentence(p, pick) for p in chosen):
            continue  # the same sentence through an overlapping chunk
        other_doc = all(p.candidate.chunk.doc != pick.candidate.chunk.doc for p in chosen)
        adjacent = any(_adjacent(p, pick) for p in chosen)
        if compare and other_doc:
            ratio = COMPARE_RATIO
        elif adjacent:
            ratio = ADJACENT_RATIO
        else:
            ratio = LIST_RATIO if terms.asks_list else EXTRA_SENTENCE_RATIO
        if pick.score < ratio * chosen[0].score:
            continue
        cosine_ratio = LIST_COSINE_RATIO if terms.asks_list else EXTRA_COSINE_RATIO
        if not (compare and other_doc) and not adjacent \
                and pick.sentence.cosine < cosine_ratio * chosen[0].sentence.cosine:
            continue  # it shares words with the question but is about something else
        new_terms = sum(w for t, w in terms.weights.items() if t in pick.sentence.tokens and t not in covered)
        if new_terms / terms.total_weight >= NEW_COVERAGE_MIN or other_doc:
            chosen.append(pick)
            covered |= pick.sentence.tokens
    # The best sentence may lean on the one before (`“这些零部件…”`), which may itself lean on
    # the one before it (`这是一家…企业`): follow such a chain to the sentence naming the subject.
    leaning = chosen[0]
    for _ in range(CONTEXT_CHAIN):
        context = _context_sentence(leaning, sentence_before)
        if context is None:
            break
        already = next((p for p in chosen if same_sentence(p, context)), None)
        if already is None:
            chosen.append(context)
        leaning = already or context
    chosen.sort(key=lambda p: (p.rank, p.sentence.start))
    return chosen


def _adjacent(a: Pick, b: Pick) -> bool:
    """Neighbouring sentences of one document (`研发投入增长19.6%；` + `发明专利授权增长23.2%。`)."""
    if a.candidate.chunk.doc != b.candidate.chunk.doc:
        return False
    gap = b.sentence.start - a.sentence.end if b.sentence.start >= a.sentence.end else a.sentence.start - b.sentence.end
    return 0 <= gap <= 2


# Quoted speech (`“这些零部件…80%。”` + `总经理陈攀说。`) or a pronoun (`这是一家…企业`) opening a
# sentence: its subject is in the sentence before. A quoted term (`“十三五”期间，…`) is not.
_QUOTED_SPEECH = re.compile(r"^[“\"「『].*[”\"」』]$", re.S)
_PRONOUN_START = re.compile(r"^(这些|这种|这个|这家|这|该|其(?![中他余次实])|它|此)")  # 其中/其他… are not subjects


def leans_back(sentence_text: str) -> bool:
    text = sentence_text.strip()
    return bool(_QUOTED_SPEECH.match(text) or _PRONOUN_START.match(text))


def _context_sentence(pick: Pick, sentence_before: SentenceBefore) -> Pick | None:
    """The sentence before one that opens with a quote or a pronoun (`这是一家…企业`), whose
    subject is only in the sentence before (`走进新光凯乐…`)."""
    if not leans_back(pick.sentence.search_text):
        return None
    found = sentence_before(pick.candidate, pick.sentence)
    return Pick(found[0], found[1], pick.score, pick.rank) if found else None


def in_script(text: str, source_script: str, lang: str) -> str:
    """Show a quoted sentence in the asker's script (English askers get the original)."""
    if lang == "zh-Hant" and source_script != "zh-Hant":
        return to_traditional(text)
    if lang == "zh-Hans" and source_script == "zh-Hant":
        return to_simplified(text)
    return text


def compose(picks: list[Pick], lang: str, documents_text: dict[str, str]) -> tuple[str, list[Citation]]:
    """Answer text with [n] after each sentence, and the citations."""
    citations: list[Citation] = []
    docs_in_answer = list(dict.fromkeys(p.candidate.chunk.doc for p in picks))
    several_docs = len(docs_in_answer) > 1
    lines: list[str] = [EN_LEAD_IN] if lang == "en" else []
    current_doc = None
    for n, pick in enumerate(picks, start=1):
        chunk, s = pick.candidate.chunk, pick.sentence
        doc_text = documents_text[chunk.doc]
        quote = doc_text[s.start:s.end]
        citations.append(Citation(n=n, doc=chunk.doc, title=chunk.title, section=chunk.section, text=chunk.text,
                                  start=s.start, end=s.end, quote=quote,
                                  passage_start=chunk.start, passage_end=chunk.end))
        shown = in_script(quote, detect_script(doc_text[:400]), lang) + f"[{n}]"
        if several_docs and chunk.doc != current_doc:
            title = in_script(chunk.title, detect_script(chunk.title), lang)
            label = EN_DOC_LEAD_IN.format(title=f"《{title}》") if lang == "en" else f"《{title}》："
            lines.append(label + ("\n" if lang == "en" else "") + shown)
        elif lines and current_doc == chunk.doc:
            lines[-1] += shown
        else:
            lines.append(shown)
        current_doc = chunk.doc
    if several_docs:
        note = {"en": "The documents differ in what they state; each statement is cited to its source.",
                "zh-Hant": "以上說法分別來自不同文件，請以各自出處為準。",
                "zh-Hans": "以上说法分别来自不同文件，请以各自出处为准。"}[lang]
        lines.append(note)
    return "\n".join(lines), citations
