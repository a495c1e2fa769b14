"""Answers as HTML for the chat page: the text with its [n] markers, then a sources panel.

Everything that comes from a user or a document goes through `html.escape` before it is placed in
markup, so a question such as `<img src=x onerror=…>` is shown as text. The chatbot renders these
strings as HTML (markdown off), and Gradio's sanitiser runs on top as a second line of defence.

Each `[n]` links to the source viewer (`doc/{id}#s={start}-{end}`, relative so that it works under
a sub-path) with the quote as its title. Each answer ends with two buttons: copy (plain text) and
copy link (`?q=`, the chat page asking the question again). Gradio's own copy button would copy this HTML (and Gradio
puts it in the message's aria-label), so the answer carries its own copy button whose `value` is
the plain text (`answer_plain_text`); server/static/chat.js copies it and gives the message a
plain-text aria-label. The sanitiser keeps `value` and `title` but drops `data-*` and `aria-*`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from qa_types import Answer, Citation, Passage

_MARKER = re.compile(r"\[(\d{1,3})\]")

LABELS = {  # in the answer's language
    "zh-Hans": {
        "sources": "来源",
        "related": "相关段落（未找到答案）",
        "rewritten": "理解为",
        "colon": "：",
        "working": "正在查找…",
        "copy": "复制",
        "copy_link": "复制链接",
        "share_title": "这个问题的链接：打开它会再问一次",
        "stopped": "已停止回答。",
        "timeout": "{seconds:g} 秒内未能给出回答，请稍后再试。",
    },
    "zh-Hant": {
        "sources": "來源",
        "related": "相關段落（未找到答案）",
        "rewritten": "理解為",
        "colon": "：",
        "working": "正在查找…",
        "copy": "複製",
        "copy_link": "複製連結",
        "share_title": "這個問題的連結：打開它會再問一次",
        "stopped": "已停止回答。",
        "timeout": "{seconds:g} 秒內未能給出回答，請稍後再試。",
    },
    "en": {
        "sources": "Sources",
        "related": "Related passages (no answer found)",
        "rewritten": "Understood as",
        "colon": ": ",
        "working": "Searching…",
        "copy": "Copy",
        "copy_link": "Copy link",
        "share_title": "A link to this question: opening it asks it again",
        "stopped": "Stopped.",
        "timeout": "No answer within {seconds:g} s; please try again later.",
    },
}
ERROR_HTML = '<p class="qa-error">出错了，请稍后再试。Something went wrong; please try again.</p>'
# While the answer waits: the server is loading its index and model (cold start), or it is busy and
# the page asks again after the Retry-After the server gave (server/admission.py).
STARTING_HTML = '<p class="qa-working">正在启动…文件和模型正在加载 · Starting… the documents are loading</p>'
BUSY_RETRY_HTML = '<p class="qa-working">正在排队，稍后重试… Busy, trying again…</p>'
BUSY_HTML = '<p class="qa-error">服务器繁忙，请稍后再试。The server is busy; please try again in a moment.</p>'
STILL_STARTING_HTML = '<p class="qa-error">服务仍在启动，请几秒后再试。The server is still starting; please try again in a few seconds.</p>'


def startup_failed_html(message: str) -> str:
    """The index or the model could not be loaded: what the server log says, for whoever runs it."""
    return f'<p class="qa-error">服务无法启动 · The server could not start: {html.escape(message)}</p>'


def timeout_html(seconds: float, lang: str = "zh-Hans") -> str:
    """The chat's answer took longer than its time budget (Config.answer_budget): one line, in the
    asker's language."""
    labels = LABELS.get(lang, LABELS["zh-Hans"])
    return f'<p class="qa-error" lang="{html.escape(lang)}">{labels["timeout"].format(seconds=seconds)}</p>'


def is_finished(content: str) -> bool:
    """Whether a chat bubble holds a finished reply (an answer with its actions, an error, or a
    stopped answer) rather than one still being written."""
    return any(f'class="{name}"' in content for name in ("qa-actions", "qa-error", "qa-stopped"))


def stopped_html(content: str, lang: str = "zh-Hans") -> str:
    """A bubble whose answer the asker stopped: what had streamed in so far (nothing, if it was
    still searching), then a line saying it was stopped."""
    labels = LABELS.get(lang, LABELS["zh-Hans"])
    kept = content if 'class="qa-answer"' in content else ""
    return f'{kept}<p class="qa-stopped" lang="{html.escape(lang)}">{labels["stopped"]}</p>'


def text_html(text: str) -> str:
    """Escaped text with line breaks kept (the chatbot does not turn newlines into breaks itself)."""
    return html.escape(text).replace("\n", "<br>")


def question_html(question: str, lang: str = "") -> str:
    """The question as asked; `lang` (its script) tells a screen reader which voice to read it in."""
    lang_attr = f' lang="{html.escape(lang)}"' if lang else ""
    return f'<p class="qa-question"{lang_attr}>{text_html(question)}</p>'


def pending_html(partial_text: str, lang: str = "zh-Hans") -> str:
    """The answer while it streams in; a placeholder until the first piece arrives."""
    if not partial_text:
        return f'<p class="qa-working">{LABELS[lang]["working"]}</p>'
    return f'<p class="qa-answer">{answer_text_html(partial_text)}</p>'


def source_url(doc: str, start: int, end: int) -> str:
    """The source viewer with the cited span marked, relative to the chat page."""
    return f"doc/{quote(doc, safe='')}#s={start}-{end}"


def cite_html(citation: Citation) -> str:
    """`[n]` as a link to the cited sentence in its document, the quote shown on hover and focus."""
    return (
        f'<a class="qa-cite" href="{html.escape(source_url(citation.doc, citation.start, citation.end))}" '
        f'title="{html.escape(citation.quote)}" target="_blank" rel="noopener">[{citation.n}]</a>'
    )


def answer_text_html(text: str, citations: list[Citation] | None = None) -> str:
    """Escaped answer text with each [n] marker styled as a citation reference, and a link to the
    source where a citation numbered n is given."""
    by_n = {c.n: c for c in citations or []}

    def marker(match: re.Match) -> str:
        citation = by_n.get(int(match.group(1)))
        return cite_html(citation) if citation else f'<span class="qa-cite">[{match.group(1)}]</span>'

    return _MARKER.sub(marker, text_html(text))


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


def _source_item(label: str, title: str, section: str, passage_html: str, date: str = "") -> str:
    section_text = section_path(title, section)
    section_line = f'<div class="qa-section">{html.escape(section_text)}</div>' if section_text else ""
    date_html = f' <span class="qa-date">· {html.escape(date)}</span>' if date else ""
    return (
        f'<li class="qa-source"><div class="qa-title">{label}{html.escape(title)}{date_html}</div>{section_line}'
        f'<blockquote class="qa-passage">{passage_html}</blockquote></li>'
    )


def citation_item(citation: Citation, date: str = "") -> str:
    passage = highlighted_passage_html(
        citation.text, citation.passage_start, citation.start, citation.end, citation.quote
    )
    return _source_item(f"{cite_html(citation)} ", citation.title, citation.section, passage, date)


def related_item(passage: Passage, date: str = "") -> str:
    return _source_item("", passage.chunk.title, passage.chunk.section, text_html(passage.chunk.text), date)


def _with_date(title: str, date: str) -> str:
    return f"{title} · {date}" if date else title


def answer_plain_text(answer: Answer, dates: Mapping[str, str] | None = None) -> str:
    """What the copy button copies: the answer with its [n] markers, then the numbered sources
    (title, date, quote), or the titles of the related passages when the answer abstains."""
    dates = dates or {}
    labels = LABELS.get(answer.lang, LABELS["zh-Hans"])
    parts = [answer.notice] if answer.notice else []
    parts.append(answer.answer)
    if answer.citations:
        lines = [f"{labels['sources']}{labels['colon'].rstrip()}"]
        for c in answer.citations:
            lines += [f"[{c.n}] {_with_date(c.title, dates.get(c.doc, ''))}", f"    {c.quote}"]
        parts.append("\n".join(lines))
    elif answer.related:
        lines = [f"{labels['related']}{labels['colon'].rstrip()}"]
        lines += [
            f"{i}. {_with_date(p.chunk.title, dates.get(p.chunk.doc, ''))}" for i, p in enumerate(answer.related, 1)
        ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def share_url(answer: Answer) -> str:
    """The chat page asking this question again (`?q=`), relative to the chat page. A follow-up
    is shared as the question it was understood as, which stands on its own."""
    return "?" + urlencode({"q": answer.standalone_question or answer.question})


def copy_button_html(answer: Answer, dates: Mapping[str, str] | None = None) -> str:
    """The answer's actions: a copy button holding the plain text in `value`, and a button that
    copies the link asking the question again (server/static/chat.js does the copying)."""
    labels = LABELS.get(answer.lang, LABELS["zh-Hans"])
    lang = html.escape(answer.lang)
    return (
        f'<div class="qa-actions"><button type="button" class="qa-copy" lang="{lang}" '
        f'value="{html.escape(answer_plain_text(answer, dates))}">{labels["copy"]}</button>'
        f'<button type="button" class="qa-copy-link" lang="{lang}" value="{html.escape(share_url(answer))}" '
        f'title="{labels["share_title"]}">{labels["copy_link"]}</button>'
        '<span class="qa-copy-status" role="status"></span></div>'
    )


def answer_html(answer: Answer, dates: Mapping[str, str] | None = None) -> str:
    """The finished answer: notice, text, then the sources (or related passages when abstaining),
    each with its document's date when `dates` (doc id -> date) knows it, then a copy button."""
    dates = dates or {}
    labels = LABELS.get(answer.lang, LABELS["zh-Hans"])
    parts = []
    if answer.notice:
        parts.append(f'<p class="qa-notice">{text_html(answer.notice)}</p>')
    parts.append(
        f'<p class="qa-answer" lang="{html.escape(answer.lang)}">{answer_text_html(answer.answer, answer.citations)}</p>'
    )
    if answer.citations:
        items = [citation_item(c, dates.get(c.doc, "")) for c in answer.citations]
        heading = labels["sources"]
    elif answer.related:
        items = [related_item(p, dates.get(p.chunk.doc, "")) for p in answer.related]
        heading = labels["related"]
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
    parts.append(copy_button_html(answer, dates))
    return "".join(parts)
