"""The source viewer: one cleaned document whole as an HTML page, the cited sentence highlighted.

`/doc/{id}#s=120-158` (what each `[n]` of an answer links to) marks characters 120-158 of the
cleaned text, the offsets a Citation carries, and scrolls them into view; a small inline script
reads the fragment, so the server never sees it. `/doc/{id}?s=120-158` marks the same span on the
server, for a reader without JavaScript. Each line of the text is one element whose `data-start`
is its offset, so the script and the server mark the same characters.

Every piece of document text goes through `html.escape`; the script only ever sets textContent.
"""

from __future__ import annotations

import html
import re

from ingest.table import is_table_line
from server.documents import DocumentRecord

LABELS = {  # in the document's language
    "zh-Hans": {
        "original": "原文",
        "back": "返回问答",
        "jump": "跳到引用的句子",
        "issuer": "发文机关",
        "number": "文号",
        "date": "日期",
        "source": "来源",
        "author": "作者",
        "missing": "没有这份文件",
        "missing_text": "索引中没有这份文件。",
    },
    "zh-Hant": {
        "original": "原文",
        "back": "返回問答",
        "jump": "跳到引用的句子",
        "issuer": "發文機關",
        "number": "文號",
        "date": "日期",
        "source": "來源",
        "author": "作者",
        "missing": "沒有這份文件",
        "missing_text": "索引中沒有這份文件。",
    },
    "en": {
        "original": "Source document",
        "back": "Back to the Q&A",
        "jump": "Jump to the cited sentence",
        "issuer": "Issuer",
        "number": "Document number",
        "date": "Date",
        "source": "Source",
        "author": "Author",
        "missing": "No such document",
        "missing_text": "The index holds no document with this id.",
    },
}
META_FIELDS = ("issuer", "number", "date", "source", "author")

# Light and dark; the highlight sets its own text colour so it stays readable in both (≥ 4.5:1).
STYLE = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #57606a; --bg: #fff; --line: #d0d7de;
  --link: #0550ae; --mark-bg: #ffe58a; --mark-fg: #1f2328; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --line: #30363d; --link: #79c0ff;
    --mark-bg: #f2cc60; --mark-fg: #0d1117; }
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.8; font-size: 17px;
  font-family: "Noto Sans CJK SC", "Noto Sans CJK TC", "Source Han Sans SC", "PingFang SC",
    "Microsoft YaHei", system-ui, -apple-system, "Segoe UI", sans-serif; }
.page { max-width: 46rem; margin: 0 auto; padding: 1rem 1.2rem 4rem; }
a { color: var(--link); }
a:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
mark.cited:focus { outline: none; } /* focused for screen readers; the highlight shows where */
.skip { position: absolute; left: 1rem; top: -3rem; background: var(--bg); padding: 0.3rem 0.6rem; }
.skip:focus { top: 0.5rem; }
nav { font-size: 0.9rem; }
h1 { font-size: 1.5rem; line-height: 1.4; margin: 0.6rem 0 0.4rem; }
.meta { margin: 0 0 1.2rem; padding: 0 0 0.8rem; border-bottom: 1px solid var(--line); color: var(--muted);
  font-size: 0.92rem; display: flex; flex-wrap: wrap; gap: 0.2rem 1.4rem; }
.meta div { display: flex; gap: 0.4rem; }
.meta dt { font-weight: 600; }
.meta dd { margin: 0; }
.doc h2, .doc h3, .doc h4, .doc h5, .doc h6 { line-height: 1.5; margin: 1.4rem 0 0.4rem; }
.doc h2 { font-size: 1.25rem; } .doc h3 { font-size: 1.12rem; } .doc h4, .doc h5, .doc h6 { font-size: 1rem; }
.doc p { margin: 0 0 0.7rem; overflow-wrap: anywhere; }
.doc p.row { margin: 0; font-size: 0.92rem; border-bottom: 1px solid var(--line); }
.doc p.title-line { font-weight: 700; font-size: 1.1rem; }
mark.cited { background: var(--mark-bg); color: var(--mark-fg); padding: 0.05em 0.1em; border-radius: 2px;
  scroll-margin: 30vh; }
"""

# Marks the span named by `#s=start-end` (or leaves the server's `?s=` marks) and scrolls to it.
SCRIPT = r"""
(function () {
  "use strict";
  var blocks = Array.prototype.slice.call(document.querySelectorAll("[data-start]"));
  var jump = document.getElementById("jump");

  function mark(lo, hi) {
    var first = null;
    blocks.forEach(function (block) {
      var text = block.textContent;  // marks never change the text, only wrap parts of it
      if (block.querySelector("mark")) block.textContent = text;
      var start = Number(block.getAttribute("data-start"));
      var a = Math.max(lo, start) - start, b = Math.min(hi, start + text.length) - start;
      if (a >= b) return;
      var node = document.createElement("mark");
      node.className = "cited";
      node.textContent = text.slice(a, b);
      block.textContent = "";
      block.append(text.slice(0, a), node, text.slice(b));
      first = first || node;
    });
    return first;
  }

  function show() {
    var found = /(?:^#|&)s=(\d+)-(\d+)(?:&|$)/.exec(location.hash);
    var first = found ? mark(Number(found[1]), Number(found[2])) : document.querySelector("mark.cited");
    if (!first) return;
    document.querySelectorAll("#cited").forEach(function (node) { node.removeAttribute("id"); });
    first.id = "cited";
    first.tabIndex = -1;
    if (jump) jump.hidden = false;
    first.scrollIntoView({ block: "center" });
    first.focus({ preventScroll: true });
  }

  window.addEventListener("hashchange", show);
  show();
})();
"""


def _marked(text: str, start: int, span: tuple[int, int] | None, first: bool) -> tuple[str, bool]:
    """`text` (found at `start` in the document) escaped, with its part inside `span` in <mark>.
    Returns the HTML and whether a mark was placed."""
    if span is not None:
        a, b = max(span[0], start) - start, min(span[1], start + len(text)) - start
        if a < b:
            attrs = ' id="cited" tabindex="-1"' if first else ""
            return (
                f'{html.escape(text[:a])}<mark class="cited"{attrs}>{html.escape(text[a:b])}</mark>'
                f"{html.escape(text[b:])}",
                True,
            )
    return html.escape(text), False


def _heading_tags(levels: set[int]) -> dict[int, str]:
    """Heading level -> tag: the highest level present is h2 (h1 is the title), the next h3, …"""
    return {level: f"h{min(2 + rank, 6)}" for rank, level in enumerate(sorted(levels))}


def document_html(doc: DocumentRecord, span: tuple[int, int] | None = None) -> str:
    """The whole page; `span` (offsets already checked against the text) is marked on the server."""
    labels = LABELS.get(doc.lang, LABELS["zh-Hans"])
    sections = {s.start: s.level for s in doc.sections()}
    tags = _heading_tags(set(sections.values()))
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", doc.text) if m.group().strip()]

    title_html = f"<h1>{html.escape(doc.title)}</h1>"
    marked_any = False
    if lines and lines[0][1].strip() == doc.title:  # the headline opens the text: it is the h1
        start, line = lines.pop(0)
        inner, marked_any = _marked(line, start, span, True)
        title_html = f'<h1 data-start="{start}">{inner}</h1>'

    body = []
    for start, line in lines:
        inner, marked = _marked(line, start, span, not marked_any)
        marked_any = marked_any or marked
        if start in sections:
            tag = tags[sections[start]]
            body.append(f'<{tag} data-start="{start}">{inner}</{tag}>')
        elif line.strip() == doc.title:
            body.append(f'<p class="title-line" data-start="{start}">{inner}</p>')
        elif is_table_line(line):
            body.append(f'<p class="row" data-start="{start}">{inner}</p>')
        else:
            body.append(f'<p data-start="{start}">{inner}</p>')

    meta = "".join(
        f"<div><dt>{labels[name]}</dt><dd>{html.escape(getattr(doc, name))}</dd></div>"
        for name in META_FIELDS
        if getattr(doc, name)
    )
    return _page(
        doc.lang,
        f"{doc.title} · {labels['original']}",
        f'<a class="skip" id="jump" href="#cited"{"" if marked_any else " hidden"}>{labels["jump"]}</a>'
        f'<div class="page"><header><nav><a href="../">← {labels["back"]}</a></nav>{title_html}'
        f"{f'<dl class=meta>{meta}</dl>' if meta else ''}</header>"
        f'<main id="doc" class="doc">{"".join(body)}</main></div>',
        script=True,
    )


def missing_document_html() -> str:
    """The 404 page of the viewer (bilingual: there is no document to take the language from)."""
    zh, en = LABELS["zh-Hans"], LABELS["en"]
    return _page(
        "zh-Hans",
        f"{zh['missing']} · {en['missing']}",
        f'<div class="page"><nav><a href="../">← {zh["back"]} · <span lang="en">{en["back"]}</span></a></nav>'
        f'<main><h1>{zh["missing"]} · <span lang="en">{en["missing"]}</span></h1>'
        f'<p>{zh["missing_text"]} <span lang="en">{en["missing_text"]}</span></p></main></div>',
    )


def _page(lang: str, title: str, body: str, script: bool = False) -> str:
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"{f'<script>{SCRIPT}</script>' if script else ''}\n</body>\n</html>\n"
    )
