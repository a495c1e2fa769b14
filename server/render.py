"""Answers as HTML for the chat page: the text with its [n] markers, then a sources panel.

Everything that comes from a user or a document goes through `html.escape` before it is placed in
markup, so a question such as `<img src=x onerror=…>` is shown as text. The chatbot renders these
strings as HTML (markdown off), and Gradio's sanitiser runs on top as a second line of defence.
"""

from __future__ import annotations

import html
import re

from qa_types import Answer, Citation, Passage

_MARKER = re.compile(r"\[(\d{1,3})\]")

LABELS = {  # in the answer's language
    "zh-Hans": {
        "sources": "来源",
        "related": "相关段落（未找到答案）",
        "rewritten": "理解为",
        "colon": "：",
        "working": "正在查找…",
    },
    "zh-Hant": {
        "sources": "來源",
        "related": "相關段落（未找到答案）",
        "rewritten": "理解為",
        "colon": "：",
        "working": "正在查找…",
    },
    "en": {
        "sources": "Sources",
        "related": "Related passages (no answer found)",
        "rewritten": "Understood as",
        "colon": ": ",
        "working": "Searching…",
    },
}
ERROR_HTML = '<p class="qa-error">出错了，请稍后再试。Something went wrong; please try again.</p>'


def text_html(text: str) -> str:
    """Escaped text with line breaks kept (the chatbot does not turn newlines into breaks itself)."""
    return html.escape(text).replace("\n", "<br>")


def question_html(question: str) -> str:
    return f'<p class="qa-question">{text_html(question)}</p>'


def pending_html(partial_text: str, lang: str = "zh-Hans") -> str:
    """The answer while it streams in; a placeholder until the first piece arrives."""
    if not partial_text:
        return f'<p class="qa-working">{LABELS[lang]["working"]}</p>'
    return f'<p class="qa-answer">{answer_text_html(partial_text)}</p>'


def answer_text_html(text: str) -> str:
    """Escaped answer text with each [n] marker styled as a citation reference."""
    return _MARKER.sub(r'<span class="qa-cite">[\1]</span>', text_html(text))


def highlighted_passage_html(passage: str, passage_start: int, start: int, end: int, quote: str = "") -> str:
    """The passage, escaped, with the cited sentence wrapped in <mark>.

    The offsets are document offsets; if they do not land inside the passage (or no longer match
    the quote), the quote is looked up in the passage instead, and failing that nothing is marked.
    """
    lo, hi = start - passage_start, end - passage_start
    if not (0 <= lo < hi <= len(passage)) or (quote and passage[lo:hi] != quote):
        found = passage.find(quote) if quote else -1
        if found < 0:
            return text_html(passage)
        lo, hi = found, found + len(quote)
    return f"{text_html(passage[:lo])}<mark>{text_html(passage[lo:hi])}</mark>{text_html(passage[hi:])}"


def section_path(title: str, section: str) -> str:
    """The section path without the document title it usually starts with (the title is shown above)."""
    head, _, rest = section.partition(" › ")
    return rest if head == title and rest else ("" if section == title else section)


def _source_item(label: str, title: str, section: str, passage_html: str) -> str:
    section_text = section_path(title, section)
    section_line = f'<div class="qa-section">{html.escape(section_text)}</div>' if section_text else ""
    return (
        f'<li class="qa-source"><div class="qa-title">{label}{html.escape(title)}</div>{section_line}'
        f'<blockquote class="qa-passage">{passage_html}</blockquote></li>'
    )


def citation_item(citation: Citation) -> str:
    passage = highlighted_passage_html(
        citation.text, citation.passage_start, citation.start, citation.end, citation.quote
    )
    return _source_item(f'<span class="qa-cite">[{citation.n}]</span> ', citation.title, citation.section, passage)


def related_item(passage: Passage) -> str:
    return _source_item("", passage.chunk.title, passage.chunk.section, text_html(passage.chunk.text))


def answer_html(answer: Answer) -> str:
    """The finished answer: notice, text, then the sources (or related passages when abstaining)."""
    labels = LABELS.get(answer.lang, LABELS["zh-Hans"])
    parts = []
    if answer.notice:
        parts.append(f'<p class="qa-notice">{text_html(answer.notice)}</p>')
    parts.append(f'<p class="qa-answer">{answer_text_html(answer.answer)}</p>')
    if answer.citations:
        items, heading = [citation_item(c) for c in answer.citations], labels["sources"]
    elif answer.related:
        items, heading = [related_item(p) for p in answer.related], labels["related"]
    else:
        items, heading = [], ""
    rewritten = (
        f'<p class="qa-rewritten">{labels["rewritten"]}{labels["colon"]}{html.escape(answer.standalone_question)}</p>'
        if answer.standalone_question
        else ""
    )
    if items or rewritten:
        summary = f"{heading} ({len(items)})" if items else labels["rewritten"]
        listing = f'<ol class="qa-source-list">{"".join(items)}</ol>' if items else ""
        parts.append(f'<details class="qa-sources" open><summary>{summary}</summary>{rewritten}{listing}</details>')
    return "".join(parts)
