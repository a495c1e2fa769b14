"""Extractive answers: pick the one to three sentences that answer the question, cite each with
`[n]`, in the asker's script; or abstain and list the closest passages as "related".

Each sentence of the top passages is scored by the learned answer scorer (answering/scorer.py):
the probability that it answers the question. The best sentence leads; further sentences join
when they score close to it and add something (more of the question's terms, the next clause, a
second document for a comparison). A best sentence that leans on the one before (a pronoun, 所以,
次年) brings it along; one that announces items (两个基地：, 一是…；) brings the items, up to the
end of its sentence. The pipeline abstains when the best probability is under the threshold
fitted on the tune split (`python -m eval train`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from answering.scorer import AnswerScorer, QuestionContext, sentence_features, with_pool_features
from language.answer_types import counted_after_ji, english_unit, states_asked_figure
from language.normalize import detect_script, to_simplified, to_traditional
from language.series import asked_office, asks_year_not_given, names_office, names_other_members, series_members
from qa_types import Citation
from retrieval.features import QueryTerms, quantities
from retrieval.search import Candidate, ScoredSentence

SentenceBefore = Callable[[Candidate, ScoredSentence], "tuple[Candidate, ScoredSentence] | None"]
SentencesAfter = Callable[[Candidate, ScoredSentence, int], "list[tuple[Candidate, ScoredSentence]]"]

ANSWER_PASSAGES = 3  # sentences are drawn from the top passages only
MAX_SENTENCES = 3
CONTEXT_CHAIN = 2  # sentences followed back from one that leans on the sentence before (这/该/“…)
EXTRA_SENTENCE_RATIO = 0.92  # a further sentence must score this close to the best one
ADJACENT_RATIO = 0.5  # the sentence right next to a chosen one continues its thought (A；B。)
EXTRA_COSINE_RATIO = 0.9  # a further sentence must be about the question nearly as much as the best
LIST_RATIO, LIST_COSINE_RATIO = 0.85, 0.75  # "which ones" questions gather answers from more sentences
COMPARE_RATIO = 0.35  # for a comparison, another document's best sentence may be this much less probable
NEW_COVERAGE_MIN = 0.15  # ... and add this much of the question's terms, or come from another document

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
    features: list[float] | None = None  # the scorer's feature row, for the answerability model


def same_sentence(a: Pick, b: Pick) -> bool:
    return a.candidate.chunk.doc == b.candidate.chunk.doc and a.sentence.start == b.sentence.start


def score_pool(candidates: list[Candidate], ctx: QuestionContext, scorer: AnswerScorer) -> list[Pick]:
    """Every sentence of the given passages with the scorer's probability that it answers, best first."""
    picks, rows = [], []
    for rank, cand in enumerate(candidates):
        previous = None
        for s in cand.sentences:
            rows.append(sentence_features(ctx, cand, s, rank, previous))
            picks.append(Pick(cand, s, 0.0, rank))
            previous = s
    rows = with_pool_features(rows)
    for pick, row, probability in zip(picks, rows, scorer.probabilities(rows)):
        pick.score, pick.features = float(probability), row
    picks.sort(key=lambda p: p.score, reverse=True)
    return picks


def choose_sentences(
    candidates: list[Candidate],
    terms: QueryTerms,
    lang: str,
    documents_text: dict[str, str],
    sentence_before: SentenceBefore,
    ctx: QuestionContext,
    scorer: AnswerScorer,
    compare: bool = False,
    sentences_after: SentencesAfter | None = None,
) -> tuple[list[Pick], float]:
    """Best sentence first, plus up to two that add missing terms or another document's view; and
    the support: the scorer's probability that the best sentence answers the question at all.
    `compare`: the question compares documents, so the best sentence of a second document joins
    when it comes close enough (COMPARE_RATIO) even from outside the top passages.
    `sentence_before` (HybridSearcher.sentence_before) finds the sentence a pronoun leans on, in
    the same chunk or the one before."""
    top = candidates[:ANSWER_PASSAGES]
    if compare:
        first_doc = candidates[0].chunk.doc if candidates else None
        other = next(
            (
                c
                for c in candidates[ANSWER_PASSAGES:]
                if c.chunk.doc != first_doc and all(t.chunk.doc == first_doc for t in top)
            ),
            None,
        )
        top = top + ([other] if other else [])
    pool = score_pool(top, ctx, scorer)
    if not pool:
        return [], 0.0
    support = scorer.support(pool[0].features, pool[0].score, pool[1].score if len(pool) > 1 else 0.0)
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
        if (
            not (compare and other_doc)
            and not adjacent
            and pick.sentence.cosine < cosine_ratio * chosen[0].sentence.cosine
        ):
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
    announced = announced_items(chosen[0].sentence.search_text) if terms.asks_list else 0
    following = []
    if sentences_after is not None:
        if announced:
            following = sentences_after(chosen[0].candidate, chosen[0].sentence, announced)
        elif opens_enumeration(chosen[0].sentence.search_text, terms.asks_list):
            following = rest_of_sentence(sentences_after(chosen[0].candidate, chosen[0].sentence, MAX_CLAUSES))
    for cand, sentence in following:
        item = Pick(cand, sentence, chosen[0].score, chosen[0].rank)
        if not any(same_sentence(p, item) for p in chosen):
            chosen.append(item)
    chosen.sort(key=lambda p: (p.rank, p.sentence.start))
    if not answers_the_figure(chosen, ctx, terms) or not names_the_asked_member(chosen, ctx, documents_text):
        support = 0.0  # facts of the language, not matters of degree: see the two functions
    return chosen, support


def answers_the_figure(chosen: list[Pick], ctx: QuestionContext, terms: QueryTerms) -> bool:
    """A question asking for a figure (哪一年, 多少亿元, 几家, what percentage) is not answered by
    sentences that state no figure of that kind, or none in the unit or measure word it names
    (多少名 is not answered by 55个网格, 多少亿元 not by 增长8%): whatever else they say about the
    subject, citing them would give the wrong fact."""
    if any(p.candidate.chunk.kind == "table_row" for p in chosen):
        return True  # a row gives its unit (%, 亿元) in a column of its own, not after the figure
    unit, counted = (terms.slot.unit, terms.slot.measure) if terms.slot is not None else ("", "")
    if not unit:
        unit, counted = counted_after_ji(ctx.question_form)
    unit = unit or english_unit(ctx.question_form)
    return states_asked_figure([p.sentence.search_text for p in chosen], ctx.question_form, ctx.kind, unit, counted)


def names_the_asked_member(chosen: list[Pick], ctx: QuestionContext, documents_text: dict[str, str]) -> bool:
    """A question on one member of a series (二期, 第一批, 2023年) is not answered by sentences
    naming only other members of it (一期, 四批 in all, 2024年), nor by documents that never write
    the asked year; a question on who holds an office (局长) is not answered by sentences naming
    only its deputy or no holder. They state the neighbouring fact, and citing them would give it
    as the answer."""
    sentences = [p.sentence.search_text for p in chosen]
    if names_other_members(ctx.question_form, [in_force(p) for p in chosen]):
        return False
    if asks_year_not_given(ctx.question_form, [documents_text[d] for d in {p.candidate.chunk.doc for p in chosen}]):
        return False
    office = asked_office(ctx.question_form)
    return not office or names_office(sentences, office)


def in_force(pick: Pick) -> str:
    """The chosen sentence, led by the closest earlier sentence of its passage that names a year or
    a phase when it names none itself. A passage keeps speaking of the year or phase it last named
    (`2022年，…同比增长8%；工业产值同比增长7%`): the second clause is 2022's, and a question on
    2021 is not answered by it."""
    text = pick.sentence.search_text
    if series_members(text):
        return text
    for earlier in reversed(pick.candidate.sentences):
        if earlier.start < pick.sentence.start and series_members(earlier.search_text):
            return earlier.search_text + text
    return text


# `打造两个服务型智造基地：` / `重点做好以下三方面工作` announces items that follow it; a sentence
# that names its items itself (`蓝天、碧水、净土三大…`) does not. Chinese counts kinds with a
# numeral before 个/大/项/类/方面/条/种.
# Not the last digit of a larger number or an ordinal: `32个村`, `3.2个百分点`, `十二个`, `第二个`.
_ANNOUNCES = re.compile(r"(?<![0-9.第十百千零〇])([两二三四五六七八九]|[2-9])(?:个|大|项|类|方面|条|种|件|批)")
_NAMES_ITEMS = re.compile(r"[^、，。；：]{1,12}、[^、，。；：]{1,12}")
MAX_ANNOUNCED = 5
_NUMERALS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def announced_items(sentence_text: str) -> int:
    """How many items the sentence announces without naming them (0 when none)."""
    match = _ANNOUNCES.search(sentence_text)
    if not match or _NAMES_ITEMS.search(sentence_text[: match.start()]):
        return 0
    numeral = match.group(1)
    count = int(numeral) if numeral.isdigit() else _NUMERALS[numeral]
    return min(count, MAX_ANNOUNCED)


# A clause that ends in a colon, or opens a numbered series (一是…；, 第一，…；) and ends in a
# semicolon, is the first part of one sentence whose other parts are the items: quoting it alone
# cuts the enumeration. The rest of the sentence, up to its full stop, belongs to the answer.
_OPENS_SERIES = re.compile(r"(?:^|[：:，,])\s*(?:一是|其一|第一|首先|一方面|（一）|\(一\)|①|1[、.])")
MAX_CLAUSES = 5  # an enumeration quoted to its end, but no further than this many more clauses


def opens_enumeration(clause_text: str, asks_list: bool = False) -> bool:
    """The clause is the first part of an enumeration; for a question asking which ones (哪些),
    any clause ending in a semicolon is: its sentence's other parts go on listing."""
    text = clause_text.rstrip()
    if text.endswith(("：", ":")):
        return True
    return text.endswith(("；", ";")) and (asks_list or bool(_OPENS_SERIES.search(text)))


def rest_of_sentence(
    clauses: list[tuple[Candidate, ScoredSentence]],
) -> list[tuple[Candidate, ScoredSentence]]:
    """The clauses that follow, up to and including the one ending the sentence (。！？)."""
    kept = []
    for cand, clause in clauses:
        kept.append((cand, clause))
        if not clause.search_text.rstrip().endswith(("；", ";", "：", ":", "，", ",")):
            break
    return kept


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
# A person's pronoun, or a connective of cause or of time relative to the event before (所以,
# 因此, 次月, 翌年), opening a sentence: it continues the sentence before, which holds whom or
# what it is about.
_CONTINUES = re.compile(r"^(他们|她们|他|她|所以|因此|因而|于是|次年|次月|次日|翌年|同年)(?![们人])")


def leans_back(sentence_text: str) -> bool:
    text = sentence_text.strip()
    return bool(_QUOTED_SPEECH.match(text) or _PRONOUN_START.match(text) or _CONTINUES.match(text))


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


def values_differ(picks: list[Pick]) -> bool:
    """Two documents state different figures: each cites numbers (not dates), and neither's
    figures are all among the other's. Documents that agree on a figure (one also giving more)
    do not differ, and a document cited beside another without any figure is no difference."""
    by_doc: dict[str, set[str]] = {}
    for pick in picks:
        by_doc.setdefault(pick.candidate.chunk.doc, set()).update(quantities(pick.sentence.search_text))
    stated = [values for values in by_doc.values() if values]
    return any(not (a <= b or b <= a) for i, a in enumerate(stated) for b in stated[i + 1 :])


def compose(
    picks: list[Pick], lang: str, documents_text: dict[str, str], note_differences: bool = True
) -> tuple[str, list[Citation]]:
    """Answer text with [n] after each sentence, and the citations. `note_differences`: say so
    when the documents cited state different figures (values_differ); off when the sentences
    answer different parts of a question."""
    citations: list[Citation] = []
    docs_in_answer = list(dict.fromkeys(p.candidate.chunk.doc for p in picks))
    several_docs = len(docs_in_answer) > 1
    lines: list[str] = [EN_LEAD_IN] if lang == "en" else []
    current_doc = None
    for n, pick in enumerate(picks, start=1):
        chunk, s = pick.candidate.chunk, pick.sentence
        doc_text = documents_text[chunk.doc]
        quote = doc_text[s.start : s.end]
        citations.append(
            Citation(
                n=n,
                doc=chunk.doc,
                title=chunk.title,
                section=chunk.section,
                text=chunk.text,
                start=s.start,
                end=s.end,
                quote=quote,
                passage_start=chunk.start,
                passage_end=chunk.end,
            )
        )
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
    if note_differences and several_docs and values_differ(picks):
        note = {
            "en": "The documents differ in what they state; each statement is cited to its source.",
            "zh-Hant": "以上說法分別來自不同文件，請以各自出處為準。",
            "zh-Hans": "以上说法分别来自不同文件，请以各自出处为准。",
        }[lang]
        lines.append(note)
    return "\n".join(lines), citations
