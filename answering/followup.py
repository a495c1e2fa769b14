"""Follow-up questions: rewrite `那2025年的目标呢？` into a standalone question before retrieval.

A question is treated as a follow-up only when there is a previous user question, the new one has
words of its own (not only `嗯`, `ok`, `谢谢`, emoji or punctuation: language.normalize.has_content_words)
and it leans on the previous one: a leading 那/那么/还有/and/what about, a pronoun (它/其/该/这类/it/there), a trailing 呢,
a 又, or so little content that it cannot stand alone (`同比增长了多少？`). Anything else is
returned unchanged.

Without an LLM, rules carry over what the follow-up leaves out of the previous question:
  year      `那2025年的目标呢？`      -> the previous question with its year replaced
  place     `永乐店呢？`              -> the previous question with its subject replaced
  metric    `税收呢？`                -> the previous question with its metric (产值) replaced
  counted   `社区居委会呢？`          -> `多少个行政村` becomes `多少个社区居委会`
  pronoun   `它一期占地多少？`        -> 它 replaced by the previous subject (`小米汽车`)
  ellipsis  `同比增长了多少？`        -> the previous question's stem + the follow-up
With an LLM (answering.llm.LLMAnswerer), the model rewrites with prompts/followup_*.txt and the
rules are the fallback when it fails or returns something unusable.
Chinese is analysed in simplified form; the rewrite comes back in the asker's script. A rewrite
longer than a question may be (qa_types.MAX_QUESTION_CHARS) is not used: the question is answered
as it was asked.
"""

from __future__ import annotations

import logging
import re

from language.normalize import detect_script, fold_width, has_content_words, to_simplified, to_traditional
from qa_types import MAX_QUESTION_CHARS

log = logging.getLogger(__name__)

LLM_REWRITE_MAX_TOKENS = 80

# ---------------------------------------------------------------- Chinese vocabulary
_HAN = r"\u3400-\u9fff"
_YEAR = re.compile(r"(?:19|20)\d{2}(?=\s*年)")
_TIME_PREFIX = re.compile(r"^(?:(?:19|20)\d{2}年(?:\d{1,2}(?:-\d{1,2})?月)?(?:底|末|初)?|今年|去年|明年)")
# Longest first, so 年产能 wins over 产能.
_METRICS = sorted(
    """产值 总产值 年产值 工业总产值 税收 产能 年产能 营收 营业收入 收入 利润 面积 总面积 占地面积 建筑面积
    投资 总投资 投资额 人口 常住人口 目标 增速 增长率 占比 比重 规模 产量 年产量 户数 就业 地区生产总值 GDP 组建率
    覆盖率 数量 占地""".split(),
    key=len,
    reverse=True,
)
_METRIC = re.compile("|".join(map(re.escape, _METRICS)))
_PLACE_SUFFIX = re.compile(rf"[{_HAN}]{{1,5}}?(?:街道|片区|园区|新城|开发区|经开区|镇|乡|村|县|区|市|省)$")
# Where the subject of a question ends: a function word or common report verb, a metric, a time
# word or the question words.
_SUBJECT_END = re.compile(
    r"的|是|有(?!限)|在|被|以(?!上|下|来|及)|为|将|已|预计|完成|新增|累计|共|"
    r"目前|现在|去年|今年|明年|多少|什么|哪|几|如何|怎样|怎么|何时|" + _METRIC.pattern
)
# `行动计划中…`: the document the question is about, not its subject (`萌蒂(中国)…` is not cut).
_IN_DOCUMENT = re.compile(r"^.*?(?:计划|规划|方案|文件|报告|通知|意见|总结|纲要|[》”」])中(.{2,})$")
# The question phrase of a Chinese question, removed to get its stem (`…完成工业总产值`).
_QUESTION_PHRASE = re.compile(
    r"(?:是|有|为|约|达到?)?(?:多少|几)[个家名项处栋座万亿元人次所条片辆台]?|(?:是|有)?(?:什么|哪些|哪个|哪)|"
    r"如何|怎样|怎么样?|吗|呢"
)
_COUNTED_NOUN = re.compile(r"(多少|几)([个家名项处栋座所条片辆台])([^，,。？?！!]{2,12})[？?]?$")
_ZH_LEADING_MARKER = re.compile(r"^(?:那么|那|还有|另外|此外|而且|而)[，,\s]*")
_ZH_PRONOUN = re.compile(r"它们|它|其(?!他|它|实|余|中)|该(?=[项地园区镇企公工计规])|这类|这些|这个|这项|这里|那里")
_ZH_TRAILING_NE = re.compile(r"呢[？?]?\s*$")
_ELLIPSIS_MAX_CHARS = 5  # content characters left after removing the question phrase

# ---------------------------------------------------------------- English vocabulary
_EN_LEADING_MARKER = re.compile(r"^(?:and\s+what\s+about|what\s+about|how\s+about|and|also|then)\b[\s,]*", re.I)
_EN_PRONOUN = re.compile(r"\b(?:it|its|they|their|them|there|this|these)\b", re.I)
_EN_QUESTION_WORDS = {"What", "Which", "Who", "How", "When", "Where", "Why", "Is", "Are", "Does", "Do", "Did", "And"}
_EN_NAME = re.compile(
    r"\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*(?:\s+(?:town|district|county|city|village|park|port|zone)s?\b)?"
)
_EN_AFTER_VERB = re.compile(r"\b(?:did|does|do|has|have|is|was|will|can)\s+$")
_EN_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")


def previous_question(history: list[dict]) -> str:
    """The last user question of the conversation, itself made standalone by the rules (so a
    follow-up to a follow-up still finds its subject)."""
    standalone = ""
    for turn in history or []:
        content = turn.get("content") if isinstance(turn, dict) and turn.get("role") == "user" else None
        if isinstance(content, str) and has_content_words(content):  # `嗯`, `谢谢`: the subject stays
            question = content.strip()
            if standalone and is_followup(question, standalone):
                standalone = _within_limit(rewrite_by_rules(question, standalone), question)
            else:
                standalone = question
    return standalone


def rewrite_followup(question: str, history: list[dict], llm=None) -> str:
    """The question made standalone using the previous user question; unchanged if it stands alone,
    has no words of its own (`😀`, `？？`, `嗯`, `ok`), or would become longer than a question may be."""
    if not has_content_words(question):
        return question
    previous = previous_question(history)
    if not previous or not is_followup(question, previous):
        return question
    if llm is not None:
        rewritten = _rewrite_with_llm(llm, question, previous)
        if rewritten:
            return _within_limit(rewritten, question)
    return _within_limit(rewrite_by_rules(question, previous), question)


def _within_limit(rewritten: str, question: str) -> str:
    """The rewrite, or the question as asked if the rewrite is longer than a question may be: a
    long earlier turn must not make a short follow-up cost what a long question costs."""
    return rewritten if len(rewritten) <= MAX_QUESTION_CHARS else question


def is_followup(question: str, previous: str) -> bool:
    text = fold_width(question).strip()
    if detect_script(text) == "en":
        words = re.findall(r"[A-Za-z0-9-]+", text)
        return bool(_EN_LEADING_MARKER.match(text) or _EN_PRONOUN.search(text) or len(words) <= 3)
    text = to_simplified(text)
    return bool(
        _ZH_LEADING_MARKER.match(text)
        or _ZH_PRONOUN.search(text)
        or _ZH_TRAILING_NE.search(text)
        or "又" in text
        or _refers_to_subject_tail(text, to_simplified(previous))
        or len(_content(text)) <= _ELLIPSIS_MAX_CHARS
    )


def rewrite_by_rules(question: str, previous: str) -> str:
    if detect_script(question) == "en":
        return _rewrite_en(fold_width(question).strip(), fold_width(previous).strip())
    # Not width-folded: the rewrite keeps the asker's full-width punctuation (\d matches ２０２５ anyway).
    rewritten = _rewrite_zh(to_simplified(question).strip(), to_simplified(previous).strip())
    return _in_askers_characters(rewritten, question, previous) if detect_script(question) == "zh-Hant" else rewritten


def _in_askers_characters(simplified: str, *originals: str) -> str:
    """Back to traditional using the asker's own characters where known (濕, not OpenCC's 溼)."""
    own: dict[str, str] = {}
    for text in originals:
        converted = to_simplified(text)
        if len(converted) == len(text):  # OpenCC converted character by character
            own.update({s: t for s, t in zip(converted, text) if s != t})
    converted = to_traditional(simplified)
    if len(converted) != len(simplified):
        return converted
    return "".join(own.get(s, t) for s, t in zip(simplified, converted))


# ---------------------------------------------------------------- Chinese rules
def _content(text: str) -> str:
    """Han characters, letters and digits left once the question phrase is removed."""
    return re.sub(rf"[^{_HAN}A-Za-z0-9]", "", _QUESTION_PHRASE.sub("", text))


def _split_time(text: str) -> tuple[str, str]:
    match = _TIME_PREFIX.match(text)
    return (match.group(), text[match.end() :]) if match else ("", text)


def subject_of(previous: str) -> str:
    """The noun phrase a question is about: `小米汽车预计年产能是多少？` -> `小米汽车`.

    Leading time words are skipped, and a `…中` context (`行动计划中漷县…`) is cut off."""
    _, rest = _split_time(previous)
    end = _SUBJECT_END.search(rest)
    subject = rest[: end.start()] if end else rest
    subject = re.sub(r"[？?。，,\s]+$", "", subject)
    in_document = _IN_DOCUMENT.match(subject)
    return in_document.group(1) if in_document else subject  # `行动计划中漷县` -> `漷县`


def _stem(previous: str) -> str:
    """The previous question without its question phrase: `…完成工业总产值多少？` -> `…完成工业总产值`."""
    return re.sub(r"[？?。\s]+$", "", _QUESTION_PHRASE.sub("", previous))


def _refers_to_subject_tail(question: str, previous: str) -> bool:
    """`园里…` after a question about `马驹桥湿地公园`: the last character of the subject + 里/内."""
    subject = subject_of(previous)
    return len(subject) >= 2 and bool(re.match(rf"{re.escape(subject[-1])}[里内]", question))


def _is_place(phrase: str) -> bool:
    if _PLACE_SUFFIX.search(phrase):
        return True
    import jieba.posseg  # lazy: loading jieba's dictionary takes ~1 s, needed only here

    return any(flag == "ns" for _, flag in jieba.posseg.cut(phrase))


def _question_tail(previous: str) -> str:
    match = _QUESTION_PHRASE.search(previous)
    return match.group() if match else "是什么"


def _rewrite_zh(question: str, previous: str) -> str:
    subject = subject_of(previous)
    time, _ = _split_time(previous)
    # `那X呢？` / `X呢？`: X fills one slot of the previous question.
    slot = re.fullmatch(r"(?:那么|那|还有|而)?[，,\s]*(.+?)[的]?呢[？?]?", question)
    if slot:
        return _fill_slot(slot.group(1), previous, subject)
    body = _ZH_LEADING_MARKER.sub("", question)
    if _refers_to_subject_tail(body, previous):  # 园里 -> 马驹桥湿地公园里
        return subject + body[1:]
    if _ZH_PRONOUN.search(body) and subject:
        return _ZH_PRONOUN.sub(subject, body, count=1)
    if _ZH_LEADING_MARKER.match(question) and subject and subject not in body:  # 那四个支柱产业是哪些？
        return subject + "的" + body
    if len(_content(body)) <= _ELLIPSIS_MAX_CHARS:  # 同比增长了多少？
        return _stem(previous) + body
    # A marker such as 又 but no subject of its own: carry over time and subject.
    missing = "".join(part for part in (time, subject) if part and part not in body)
    return missing + body


def _last_metric(text: str) -> re.Match | None:
    """The metric asked about: the last one (`全区规模以上…总产值2024年目标` -> 目标, not 规模)."""
    matches = list(_METRIC.finditer(text))
    return matches[-1] if matches else None


def _fill_slot(filler: str, previous: str, subject: str) -> str:
    filler = filler.strip()
    year = _YEAR.search(filler)
    old_year = _YEAR.search(previous)
    if year and old_year:
        rewritten = previous[: old_year.start()] + year.group() + previous[old_year.end() :]
        metric, old_metric = _METRIC.search(filler), _last_metric(rewritten)
        if metric and old_metric and metric.group() not in rewritten:
            rewritten = rewritten[: old_metric.start()] + metric.group() + rewritten[old_metric.end() :]
        return rewritten
    metric, old_metric = _METRIC.search(filler), _last_metric(previous)
    if metric and old_metric:
        return previous[: old_metric.start()] + filler + previous[old_metric.end() :]
    if _is_place(filler) and subject and subject in previous:
        return previous.replace(subject, filler, 1)
    counted = _COUNTED_NOUN.search(previous)
    if counted:
        return previous[: counted.start(3)] + filler + "？"
    base = subject or _stem(previous)
    return f"{base}的{filler}{_question_tail(previous)}？"


# ---------------------------------------------------------------- English rules
def _names(text: str) -> list[str]:
    """Capitalised names in a question (its first word excluded when it is a question word)."""
    names = []
    for match in _EN_NAME.finditer(text):
        words = match.group().split()
        while words and words[0] in _EN_QUESTION_WORDS:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def _subject_en(previous: str, names: list[str]) -> str:
    """The name right after the auxiliary verb ("did Beijing E-Town sign"), else the longest name."""
    for name in names:
        if _EN_AFTER_VERB.search(previous[: previous.find(name)]):
            return name
    return max(names, key=len, default="")


def _rewrite_en(question: str, previous: str) -> str:
    body = _EN_LEADING_MARKER.sub("", question).strip()
    names = _names(previous)
    subject = _subject_en(previous, names)
    year, old_year = _EN_YEAR.search(body), _EN_YEAR.search(previous)
    new_names = _names(body)
    short = len(re.findall(r"[A-Za-z0-9-]+", body)) <= 4
    if short and year and old_year:  # "And the 2025 target?"
        return previous[: old_year.start()] + year.group() + previous[old_year.end() :]
    if short and new_names and subject:  # "What about Tianjin?"
        return previous.replace(subject, new_names[0], 1)
    if short:  # "And the population?"
        return f"What is the {body.rstrip('?').strip()} of {subject}?" if subject else previous
    if subject:
        others = [n for n in names if n != subject and n not in subject]
        body = re.sub(r"\bthere\b", f"in {others[0]}" if others else "there", body, count=1)
        body = re.sub(r"\bits\b", f"{subject}'s", body, count=1)
        body = re.sub(r"\b(?:it|they|them)\b", subject, body, count=1)
    return body[:1].upper() + body[1:]


# ---------------------------------------------------------------- LLM
def _rewrite_with_llm(llm, question: str, previous: str) -> str:
    """The model's rewrite, or "" when it failed or gave something unusable (the rules take over)."""
    lang = detect_script(question)
    try:
        raw = llm.rewrite_question(question, previous, lang, max_tokens=LLM_REWRITE_MAX_TOKENS)
    except Exception as exc:  # any failure of the model falls back to the rules
        log.warning("follow-up rewrite by the LLM failed (%s); using rules", type(exc).__name__)
        return ""
    rewritten = _clean_llm_rewrite(raw)
    if not _usable_rewrite(rewritten, question, previous):
        log.info("follow-up rewrite by the LLM rejected: %r", rewritten[:120])
        return ""
    if lang == "zh-Hant":
        return to_traditional(rewritten)
    return to_simplified(rewritten) if lang == "zh-Hans" else rewritten


def _clean_llm_rewrite(raw: str) -> str:
    lines = [line.strip() for line in (raw or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # A label the model may put first: `改寫後的問題：`, `Rewritten question:`.
    line = re.sub(r"^(?:改写|改寫|独立|獨立|rewritten|standalone)[^:：?？]{0,10}[:：]\s*", "", lines[0], flags=re.I)
    return line.strip().strip("\"'“”「」")


def _usable_rewrite(rewritten: str, question: str, previous: str) -> bool:
    """One question that stands alone: not the old question (alone or glued to the follow-up), not
    itself a follow-up, no markup, and the follow-up's numbers kept."""
    simple = to_simplified(fold_width(rewritten)).strip()
    old, new = to_simplified(fold_width(previous)).strip(), to_simplified(fold_width(question)).strip()
    if not simple or len(simple) > len(old) + len(new) + 10 or re.search(r"[<>]|[:：]$", simple):
        return False
    if old in simple or len(re.findall(r"[?？]", simple)) > 1:  # the old question, or both glued together
        return False
    if is_followup(simple, old):  # still leans on the previous turn (`…永乐店呢？`, `它…`)
        return False
    return all(n in simple for n in re.findall(r"\d+", new))
