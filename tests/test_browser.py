"""The chat page and the embedded widget in a real Chromium (Debian's /usr/bin/chromium) against a
real `python app.py` on a free loopback port.

Host pages for embedding are served by small in-process HTTP servers on other ports, i.e. other
origins: one on the allow-list (QA_ALLOWED_ORIGINS) and one not. Screenshots go to
test-artifacts/screenshots/ for a person to look at (Chinese must render as glyphs, not boxes):
the chat page, source viewer and widget in light and dark mode, and the chat at 390×844.

Accessibility is checked with axe-core (tests/axe_core.py: fetched once from the npm registry by
scripts/setup.sh, injected into each page from that local copy) and by measuring in the page.

Stopping an answer needs an answer slow enough to stop: a second app gets a stand-in LLM (an
OpenAI-compatible endpoint in this process that streams a piece every 0.3 s). The chat's time
budget is checked against a third app whose budget is 1 ms.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import axe_core
import httpx
import pytest
from conftest import REPO, RunningApp, free_port

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Any lookup of an outside host fails at once: the pages must not need one.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
EXAMPLE_APP_URL = "http://127.0.0.1:7860"  # what examples/embed.html points at
EMBED_HOST_ID = "govdoc-qa-embed-7f3c"
QUESTION = "萌蒂(中国)制药有限公司是由谁共同投资的？"
CITED_WORDS = "北京制药厂"
HOSTILE_QUESTION = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2;alert(1)"> 马驹桥镇'
FOLLOW_UP = "它位于哪个镇？"  # after QUESTION: answered with a "理解为…" line
NOT_IN_THE_DOCUMENTS = "北京市的人口是多少？"  # an abstention listing related passages
LONG_ANSWER_QUESTION = "全区规模以上先进制造业总产值2025年目标是多少？"
ANSWER_TIMEOUT_MS = 60_000
DESKTOP = {"width": 1100, "height": 860}
PHONE = {"width": 390, "height": 844}


# ---------------------------------------------------------------- servers


class HostSite:
    """A stand-in for a website that embeds the assistant: serves one page on its own origin."""

    def __init__(self) -> None:
        self.page = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
                body = site.page.encode("utf-8") if self.path == "/" else b"not found"
                self.send_response(200 if self.path == "/" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SubPathProxy:
    """What an nginx `location /qa/ { proxy_pass http://app/; }` does: strips /qa and streams the
    response through unbuffered (Gradio and the widget both stream answers)."""

    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}

    def __init__(self, prefix: str, upstream_port: int) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one response per connection, ended by closing it

            def forward(self) -> None:
                if not self.path.startswith(prefix + "/"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP_BY_HOP}
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                upstream.request(self.command, self.path[len(prefix) :], body=body, headers=headers)
                response = upstream.getresponse()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in proxy.HOP_BY_HOP:
                        self.send_header(name, value)
                self.end_headers()
                while chunk := response.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                upstream.close()

            do_GET = do_POST = do_OPTIONS = forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{prefix}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Setup:
    app: RunningApp
    allowed_site: HostSite
    other_site: HostSite
    feedback_db: Path


@pytest.fixture(scope="module")
def setup(use_m3_index, launch_app, tmp_path_factory):
    allowed_site, other_site = HostSite(), HostSite()
    feedback_db = tmp_path_factory.mktemp("browser") / "feedback.sqlite3"
    app = launch_app(
        {
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(feedback_db),
            "QA_ALLOWED_ORIGINS": allowed_site.origin,
        }
    )
    example = (REPO / "examples" / "embed.html").read_text(encoding="utf-8")
    assert EXAMPLE_APP_URL + "/embed.js" in example
    allowed_site.page = other_site.page = example.replace(EXAMPLE_APP_URL, app.url)
    yield Setup(app, allowed_site, other_site, feedback_db)
    app.stop()
    allowed_site.close()
    other_site.close()


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Recorder:
    """Every request, console message and dialog of a browser context."""

    def __init__(self, context) -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("console", lambda message: self.console.append(message.text))
        context.on("dialog", self._dismiss)

    def _dismiss(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def off_origin(self, *origins: str) -> list[str]:
        local = tuple(origin + "/" for origin in origins) + ("data:", "blob:", "about:")
        return [url for url in self.requests if not url.startswith(local)]

    def wait_for_console(self, page, fragment: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [text for text in self.console if fragment in text]
            if found:
                return found[0]
            page.wait_for_timeout(200)  # not time.sleep: playwright delivers events while it waits
        raise AssertionError(f"no console message containing {fragment!r}; got {self.console}")


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield context
    context.close()


@pytest.fixture
def recorder(context) -> Recorder:
    return Recorder(context)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def feedback_rows(db: Path, source: str, timeout: float = 10, rating: str = "%") -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT rating, question, answer, citations FROM feedback WHERE source = ? AND rating LIKE ?",
                    (source, rating),
                ).fetchall()
            if rows:
                return rows
        time.sleep(0.2)
    return []


def wait_for_chat(page):
    """The question box, once the page has restored any saved conversation."""
    textbox = page.locator("#question textarea")
    textbox.wait_for(timeout=60_000)
    page.wait_for_function("document.documentElement.dataset.conversationRestored === 'true'", timeout=30_000)
    return textbox


def open_chat(context, url: str):
    page = context.new_page()
    page.goto(url + "/", wait_until="load")  # networkidle never comes: Gradio keeps a heartbeat open
    return page, wait_for_chat(page)


def ask_in_chat(page, textbox, question: str) -> None:
    answers_before = page.locator("#chat .qa-answer").count()
    textbox.fill(question)
    textbox.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .qa-answer').length > n && !document.querySelector('#chat .qa-working')",
        arg=answers_before,
        timeout=ANSWER_TIMEOUT_MS,
    )


def fetch_status(page, url: str) -> str:
    """POST /api/ask from the page's own origin, as a script on that site would."""
    return page.evaluate(
        """async (url) => {
        try {
            const response = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                               body: JSON.stringify({question: '小米汽车'})});
            return 'status ' + response.status;
        } catch (error) { return 'blocked'; }
    }""",
        url,
    )


# ---------------------------------------------------------------- the chat page


def test_chat_page_answers_with_a_citation_and_a_highlighted_sentence(setup, context, recorder):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    answer = page.locator("#chat .qa-answer").last
    assert CITED_WORDS in answer.inner_text() and "[1]" in answer.inner_text()
    assert "马驹桥镇" in page.locator("#chat .qa-source .qa-title").first.inner_text()
    assert CITED_WORDS in page.locator("#chat .qa-passage mark").first.inner_text()
    screenshot(page, "chat-page.png")


def test_chat_page_requests_nothing_from_other_hosts(setup, context, recorder):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    assert recorder.requests, "the recorder saw no requests at all"
    assert recorder.off_origin(setup.app.url) == []
    assert not [text for text in recorder.console if "Content Security Policy" in text]


def test_chat_page_shows_markup_in_a_question_as_text(setup, context, recorder):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, HOSTILE_QUESTION)
    assert page.locator("#chat .qa-question").last.inner_text() == HOSTILE_QUESTION
    assert page.evaluate("window.__xss") is None
    assert recorder.dialogs == []
    assert not [url for url in recorder.requests if url.endswith("/x")], "the <img> must not exist"


def test_chat_thumbs_up_is_stored(setup, context):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    # Gradio labels the button in the browser's language (赞 in zh-CN); chat.js makes it bilingual.
    page.locator("#chat").get_by_role("button", name="赞 · Like", exact=True).last.click()
    rows = feedback_rows(setup.feedback_db, "chat")
    assert rows and rows[0][0] == "up" and rows[0][1] == QUESTION
    assert CITED_WORDS in rows[0][2] and CITED_WORDS in rows[0][3]


def test_clicking_a_citation_opens_the_source_with_the_sentence_highlighted(setup, context, recorder):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    cite = page.locator("#chat .qa-answer a.qa-cite").first
    quote = cite.get_attribute("title")
    assert CITED_WORDS in quote and cite.inner_text() == "[1]"
    with context.expect_page() as opened:  # a new tab: the conversation stays where it was
        cite.click()
    viewer = opened.value
    viewer.wait_for_load_state("load")
    viewer.locator("mark.cited").first.wait_for(timeout=10_000)
    assert viewer.url.startswith(setup.app.url + "/doc/") and "#s=" in viewer.url
    assert "".join(viewer.locator("mark.cited").all_inner_texts()) == quote
    assert viewer.evaluate("document.documentElement.lang") == "zh-Hans"
    assert viewer.evaluate("window.scrollY") > 0, "the cited sentence lies below the first screen"
    assert viewer.locator("mark.cited").first.evaluate(
        "m => { const r = m.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    ), "the highlighted sentence is scrolled into view"
    screenshot(viewer, "source-viewer.png")
    assert recorder.off_origin(setup.app.url) == []


def test_chat_copy_gives_plain_text_and_plain_aria_labels(setup, context):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=setup.app.url)
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    page.locator("#chat button.qa-copy").last.click()
    page.locator("#chat .qa-copy-status", has_text="已复制").wait_for(timeout=5_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    answer_text, _, sources = copied.partition("\n\n来源：\n")
    assert CITED_WORDS in answer_text and "[1]" in answer_text and "<" not in copied
    assert sources.startswith("[1] 马驹桥镇") and CITED_WORDS in sources
    page.wait_for_function(
        "() => !document.querySelector('#chat [data-testid=\"bot\"]').getAttribute('aria-label').includes('<')",
        timeout=5_000,
    )
    for role in ("user", "bot"):
        label = page.locator(f'#chat [data-testid="{role}"]').last.get_attribute("aria-label")
        assert "<" not in label and (QUESTION if role == "user" else CITED_WORDS) in label


# ---------------------------------------------------------------- readable and accessible


SERIOUS = ("serious", "critical")
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' ')),
}))"""
# WCAG's contrast ratio of an element's text colour on its own (opaque) background colour.
CONTRAST = """(el) => {
    const channels = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = c => {
        const [r, g, b] = channels(c).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const style = getComputedStyle(el);
    const [light, dark] = [luminance(style.color), luminance(style.backgroundColor)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
}"""
# Where the keyboard focus is, and whether it can be seen (an outline, or a ring drawn as a shadow).
FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    const text = (el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 30);
    return {what: el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '') + ' ' + text,
            visible: outline || style.boxShadow !== 'none'};
}"""
# Whether the top of an element is within the part of its scrolling box (and the window) one sees.
IN_SIGHT = """(el) => {
    let box = el.parentElement;
    while (box && !(['auto', 'scroll'].includes(getComputedStyle(box).overflowY) && box.scrollHeight > box.clientHeight)) {
        box = box.parentElement;
    }
    const top = el.getBoundingClientRect().top;
    const view = box ? box.getBoundingClientRect() : {top: 0, bottom: innerHeight};
    return top >= Math.max(view.top, 0) - 1 && top + 24 <= Math.min(view.bottom, innerHeight);
}"""
# Whether the first character of an element's text is what one sees there (nothing drawn over it).
FIRST_WORD_UNCOVERED = """(el) => {
    const text = document.createTreeWalker(el, NodeFilter.SHOW_TEXT).nextNode();
    const range = document.createRange();
    range.setStart(text, 0);
    range.setEnd(text, 1);
    const r = range.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return el.contains(hit);
}"""


@pytest.fixture(scope="module")
def axe_script() -> str:
    path = axe_core.script_path()
    if not path.is_file():
        pytest.fail(f"axe-core is not at {path}: `bash scripts/setup.sh` (or `python tests/axe_core.py`) fetches it")
    return path.read_text(encoding="utf-8")


def axe_problems(target, axe_script: str) -> list[str]:
    """The serious and critical axe-core violations on a page or frame, one line per element. The
    script is injected from the local copy (the context bypasses CSP: the widget allows no inline script)."""
    if not target.evaluate("typeof window.axe !== 'undefined'"):
        target.add_script_tag(content=axe_script)
    return [
        f"{v['id']} ({v['impact']}) {node}"
        for v in target.evaluate(AXE_RUN)
        if v["impact"] in SERIOUS
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe_and_the_highlight_is_readable(setup, browser, axe_script, scheme):
    """axe-core on the chat page (empty, then with an answer, a follow-up and an abstention), the
    source viewer and the widget, in light and dark mode: no serious or critical violation; the
    highlighted sentence has a contrast of at least 4.5:1 on each (it was 1.14:1 in dark mode)."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", color_scheme=scheme, bypass_csp=True)
    problems, highlight = {}, {}
    try:
        page, textbox = open_chat(context, setup.app.url)
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        problems["chat page"] = axe_problems(page, axe_script)
        for question in (QUESTION, FOLLOW_UP, NOT_IN_THE_DOCUMENTS):
            ask_in_chat(page, textbox, question)
        assert page.locator("#chat .qa-rewritten").count() == 1, "the follow-up shows what it was understood as"
        assert page.locator("#chat .qa-section").count() > 0
        problems["chat page with answers"] = axe_problems(page, axe_script)
        highlight["chat"] = page.locator("#chat .qa-passage mark").first.evaluate(CONTRAST)
        screenshot(page, f"chat-page-{scheme}.png")

        viewer = context.new_page()
        viewer.goto(setup.app.url + "/" + page.locator("#chat a.qa-cite").first.get_attribute("href"))
        viewer.locator("mark.cited").first.wait_for(timeout=10_000)
        problems["source viewer"] = axe_problems(viewer, axe_script)
        highlight["source viewer"] = viewer.locator("mark.cited").first.evaluate(CONTRAST)
        screenshot(viewer, f"source-viewer-{scheme}.png")

        widget = context.new_page()
        widget.goto(setup.app.url + "/widget", wait_until="load")
        problems["widget"] = axe_problems(widget, axe_script)
        widget.locator("#question").fill(QUESTION)
        widget.locator("#question").press("Enter")
        widget.locator(".bubble.assistant:not(.pending) .feedback").wait_for(timeout=ANSWER_TIMEOUT_MS)
        problems["widget with an answer"] = axe_problems(widget, axe_script)
        highlight["widget"] = widget.locator(".passage mark").first.evaluate(CONTRAST)
        screenshot(widget, f"widget-{scheme}.png")
    finally:
        context.close()
    assert problems == {name: [] for name in problems}
    assert all(ratio >= 4.5 for ratio in highlight.values()), highlight


def test_chat_page_language_names_and_visible_focus(setup, browser):
    """In an English browser too: <html lang> is the page's (Gradio would set "en"), the question
    box is named as a question, the chatbot's buttons are labelled in Chinese and English, and
    every control the Tab key reaches shows that it has the focus."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page, textbox = open_chat(context, setup.app.url)
        ask_in_chat(page, textbox, QUESTION)
        assert page.evaluate("document.documentElement.lang") == "zh-Hans"
        assert page.get_by_role("textbox", name="问题 · Question", exact=True).count() == 1
        chat = page.locator("#chat")
        for name in ("赞 · Like", "踩 · Dislike", "清空对话 · Clear", "复制", "复制链接"):
            button = chat.get_by_role("button", name=name, exact=True)
            button.first.wait_for(timeout=5_000)  # chat.js labels Gradio's buttons once they render
            assert button.count() == 1, name
        chat.get_by_role("button", name="赞 · Like", exact=True).click()
        chat.get_by_role("button", name="已赞 · Liked", exact=True).wait_for(timeout=5_000)
        assert page.get_by_role("log", name="对话 · Conversation", exact=True).count() == 1
        question_label = chat.locator('[data-testid="user"]').last.get_attribute("aria-label")
        assert question_label == f"问题 · Question: {QUESTION}"

        page.locator("#qa-header h1").click()  # Tab starts from the top of the page
        reached, hidden = [], []
        for _ in range(80):
            page.keyboard.press("Tab")
            focus = page.evaluate(FOCUS)
            if focus is None or (reached and focus["what"] == reached[0]):
                break  # out of the page, or back at the start
            reached.append(focus["what"])
            if not focus["visible"]:
                hidden.append(focus["what"])
        assert len(reached) >= 10, reached  # the box, send, [n] links, copy buttons, 👍/👎, clear, examples
        assert any(what.startswith("textarea") for what in reached) and any("qa-cite" in w for w in reached)
        assert hidden == [], f"focus cannot be seen on: {hidden}"
    finally:
        context.close()


# ---------------------------------------------------------------- nothing lost while waiting


def hold_answers(page, url: str) -> tuple[list, list]:
    """Holds back every answer the page asks the server for (Gradio's queue) until released, so
    that the page can be looked at while an answer is loading. Returns (held requests, switch)."""
    config = page.request.get(url + "/config").json()
    accept = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "accept")
    held, holding = [], [True]

    def route(request_route) -> None:
        if holding[0] and (request_route.request.post_data_json or {}).get("fn_index") != accept:
            held.append(request_route)
        else:
            request_route.continue_()

    page.route("**/gradio_api/queue/join*", route)
    return held, holding


def release(held: list, holding: list) -> None:
    holding[0] = False
    for request_route in held:
        request_route.continue_()


def test_question_shows_at_once_and_text_typed_while_waiting_is_kept(setup, context):
    page, textbox = open_chat(context, setup.app.url)
    held, holding = hold_answers(page, setup.app.url)
    textbox.fill(QUESTION)
    textbox.press("Enter")
    # Before any answer has started: the question and a "searching" bubble are there already.
    page.locator("#chat .qa-question", has_text=QUESTION).wait_for(timeout=5_000)
    page.locator("#chat .qa-working", has_text="正在查找").wait_for(timeout=5_000)
    assert textbox.input_value() == ""

    textbox.type("下一个问题：小米汽车一期占地面积有多大？")
    textbox.press("Enter")  # while the answer is loading: refused, with a note, and the text stays
    page.get_by_text("上一个问题还在回答中").first.wait_for(timeout=5_000)
    assert held, "the answer was held back"
    release(held, holding)
    page.locator("#chat .qa-copy").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(500)  # any late update from the server would land here
    assert textbox.input_value() == "下一个问题：小米汽车一期占地面积有多大？"
    assert page.locator("#chat .qa-question").all_inner_texts() == [QUESTION]

    textbox.press("Enter")  # now it is asked
    page.wait_for_function("document.querySelectorAll('#chat .qa-copy').length === 2", timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#chat .qa-question").count() == 2 and textbox.input_value() == ""


def test_phone_view_shows_the_new_answer_from_its_start(setup, browser):
    """390×844: after a long answer the view is at the start of the question and its answer (not
    at the end of the sources), and nothing (the chat's label was) covers their first words."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    try:
        page, textbox = open_chat(context, setup.app.url)
        page.wait_for_timeout(300)  # chat.js sizes the chat box once the page has settled
        chat_box = page.locator("#chat").bounding_box()
        question_box = page.locator("#question").bounding_box()
        # The chat box takes the height the screen has left (it was 400 of 844 px), and the
        # question box is still on the first screen, right under it.
        assert chat_box["height"] >= 0.6 * PHONE["height"], chat_box
        assert question_box["y"] + question_box["height"] <= PHONE["height"], question_box
        ask_in_chat(page, textbox, QUESTION)
        ask_in_chat(page, textbox, LONG_ANSWER_QUESTION)
        question, answer = page.locator("#chat .qa-question").last, page.locator("#chat .qa-answer").last
        screenshot(page, "chat-phone.png")
        assert answer.evaluate(IN_SIGHT), "the start of the answer is in sight"
        assert question.evaluate(IN_SIGHT) and question.evaluate(FIRST_WORD_UNCOVERED)
        assert answer.evaluate(FIRST_WORD_UNCOVERED)
    finally:
        context.close()


# ---------------------------------------------------------------- history and sharing


def wait_until_saved(page, conversation: bool = True) -> None:
    """Until the page has written a conversation (or, `conversation=False`, an empty one) to
    localStorage. Gradio stores it encrypted: an empty one is ~100 characters, one answer a few kB."""
    size = "> 1000" if conversation else "< 500"
    page.wait_for_function(f"(localStorage.getItem('govdoc-qa-conversation') || '').length {size}", timeout=10_000)


def test_conversation_survives_a_reload_and_clear_forgets_it(setup, context):
    page, textbox = open_chat(context, setup.app.url)
    ask_in_chat(page, textbox, QUESTION)
    wait_until_saved(page)
    page.reload(wait_until="load")
    wait_for_chat(page)
    assert page.locator("#chat .qa-question").all_inner_texts() == [QUESTION]
    assert CITED_WORDS in page.locator("#chat .qa-answer").first.inner_text()
    assert CITED_WORDS in page.locator("#chat .qa-passage mark").first.inner_text()
    # The restored answer still takes a rating, with its question and citations.
    page.locator("#chat").get_by_role("button", name="踩 · Dislike", exact=True).click()
    rows = feedback_rows(setup.feedback_db, "chat", rating="down")
    assert rows and rows[0][1] == QUESTION and CITED_WORDS in rows[0][3]

    page.locator("#chat").get_by_role("button", name="清空对话 · Clear", exact=True).click()
    page.wait_for_function("!document.querySelector('#chat .qa-question')", timeout=5_000)
    wait_until_saved(page, conversation=False)
    page.reload(wait_until="load")
    wait_for_chat(page)
    assert page.locator("#chat .qa-question").count() == 0


def test_a_shared_link_asks_its_question_and_each_answer_offers_it(setup, context):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=setup.app.url)
    link = setup.app.url + "/?" + urlencode({"q": QUESTION})
    page = context.new_page()
    page.goto(link, wait_until="load")
    wait_for_chat(page)
    page.locator("#chat .qa-copy").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#chat .qa-question").all_inner_texts() == [QUESTION]
    assert CITED_WORDS in page.locator("#chat .qa-answer").last.inner_text()
    page.wait_for_function("!new URLSearchParams(location.search).has('q')", timeout=5_000)

    page.locator("#chat button.qa-copy-link").last.click()
    page.locator("#chat .qa-copy-status", has_text="已复制链接").wait_for(timeout=5_000)
    assert page.evaluate("navigator.clipboard.readText()") == link

    wait_until_saved(page)
    page.reload(wait_until="load")  # the link has left the address bar: the question is not asked twice
    wait_for_chat(page)
    page.wait_for_timeout(1_000)  # an answer asked again would have its bubble by now
    assert page.locator("#chat .qa-question").all_inner_texts() == [QUESTION]


# ---------------------------------------------------------------- the embedded widget


def launcher_of(page):
    return page.locator(f"#{EMBED_HOST_ID} button.launcher")  # playwright's CSS pierces the shadow root


def open_widget_by_keyboard(page):
    launcher = launcher_of(page)
    launcher.wait_for(timeout=15_000)
    assert launcher.get_attribute("aria-expanded") == "false"
    launcher.focus()
    page.keyboard.press("Enter")
    assert launcher.get_attribute("aria-expanded") == "true"
    return launcher


def test_embedded_widget_answers_on_an_allowed_site(setup, context, recorder):
    page = context.new_page()
    page.goto(setup.allowed_site.origin + "/", wait_until="load")
    open_widget_by_keyboard(page)
    widget = page.frame_locator(f"#{EMBED_HOST_ID} iframe")
    widget.locator("#question").wait_for(timeout=15_000)
    frame = next(f for f in page.frames if "/widget" in f.url)
    # expect() polls from Playwright's own script: a polled wait_for_function is eval, which the widget's CSP refuses.
    sync_api.expect(widget.locator("#question")).to_be_focused(timeout=10_000)

    page.keyboard.type(QUESTION)  # the keyboard focus is inside the iframe, in the question box
    page.keyboard.press("Enter")
    widget.locator(".passage mark").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert CITED_WORDS in widget.locator(".bubble.assistant .answer").last.inner_text()
    assert "[1]" in widget.locator(".bubble.assistant .answer").last.inner_text()
    assert CITED_WORDS in widget.locator(".passage mark").first.inner_text()
    panel = page.locator(f"#{EMBED_HOST_ID} .panel").bounding_box()
    assert panel["width"] <= 380 and panel["height"] <= 600
    assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), (
        "the widget must fit its 380 px frame without sideways scrolling"
    )
    screenshot(page, "widget-embedded.png")

    page.keyboard.press("Escape")  # pressed inside the widget; it asks the host page to close
    page.wait_for_function(
        f"document.getElementById('{EMBED_HOST_ID}').shadowRoot"
        ".querySelector('.launcher').getAttribute('aria-expanded') === 'false'",
        timeout=5_000,
    )
    assert page.evaluate(f"document.getElementById('{EMBED_HOST_ID}').shadowRoot.activeElement.className") == "launcher"
    assert recorder.off_origin(setup.app.url, setup.allowed_site.origin) == []
    assert fetch_status(page, setup.app.url + "/api/ask") == "status 200"


def test_embedded_widget_feedback_is_stored(setup, context):
    page = context.new_page()
    page.goto(setup.allowed_site.origin + "/", wait_until="load")
    launcher_of(page).click()
    widget = page.frame_locator(f"#{EMBED_HOST_ID} iframe")
    widget.locator("#question").fill(QUESTION)
    widget.locator("#question").press("Enter")
    widget.locator(".feedback-button.up").wait_for(timeout=ANSWER_TIMEOUT_MS)
    widget.locator(".feedback-button.up").click()
    widget.locator(".feedback-status", has_text="谢谢").wait_for(timeout=10_000)
    rows = feedback_rows(setup.feedback_db, "widget")
    assert rows and rows[0][0] == "up" and rows[0][1] == QUESTION


def panel_is_open(page) -> bool:
    return (
        launcher_of(page).get_attribute("aria-expanded") == "true"
        and page.locator(f"#{EMBED_HOST_ID} .panel").is_visible()
    )


def wait_until_closed(page) -> None:
    page.wait_for_function(
        f"document.getElementById('{EMBED_HOST_ID}').shadowRoot"
        ".querySelector('.launcher').getAttribute('aria-expanded') === 'false'",
        timeout=5_000,
    )
    assert not page.locator(f"#{EMBED_HOST_ID} .panel").is_visible()


def test_site_not_on_the_allow_list_is_told_so_and_can_neither_frame_nor_call(setup, context, recorder):
    """The panel says in words what to set instead of showing Chromium's broken frame; Escape and ×
    close it; the server's frame-ancestors policy still refuses a frame the page makes itself."""
    page = context.new_page()
    page.goto(setup.other_site.origin + "/", wait_until="load")
    launcher = open_widget_by_keyboard(page)
    message = page.locator(f"#{EMBED_HOST_ID} .message")
    message.get_by_text("QA_ALLOWED_ORIGINS").first.wait_for(timeout=10_000)
    text = message.inner_text()
    assert f"本网站（{setup.other_site.origin}）未获准嵌入问答助手" in text
    assert f"This site ({setup.other_site.origin}) may not embed the assistant" in text
    assert message.get_by_role("alert").count() == 1
    assert message.get_by_role("link").get_attribute("href") == setup.app.url + "/"
    assert not page.locator(f"#{EMBED_HOST_ID} iframe").is_visible()
    assert not [f for f in page.frames if f.url.startswith(setup.app.url + "/widget")], "no broken frame"
    screenshot(page, "widget-blocked.png")

    page.keyboard.press("Escape")  # the focus is on the message, in the panel
    wait_until_closed(page)
    launcher.click()
    assert panel_is_open(page) and "QA_ALLOWED_ORIGINS" in message.inner_text()
    page.locator(f"#{EMBED_HOST_ID} button.close").click()
    wait_until_closed(page)

    page.evaluate(f"document.body.insertAdjacentHTML('beforeend', '<iframe src=\"{setup.app.url}/widget\"></iframe>')")
    assert "violates" in recorder.wait_for_console(page, "frame-ancestors")
    assert fetch_status(page, setup.app.url + "/api/ask") == "blocked"


def test_widget_allow_list_check_answers_any_origin(setup):
    for origin, allowed in ((setup.allowed_site.origin, True), (setup.other_site.origin, False), (None, True)):
        headers = {"Origin": origin} if origin else {}
        response = httpx.get(setup.app.url + "/widget/allowed", headers=headers, timeout=10)
        assert response.status_code == 200 and response.json()["allowed"] is allowed, origin
        assert response.headers["access-control-allow-origin"] in ("*", origin)  # readable by the page asking


def test_widget_shows_markup_in_a_question_as_text(setup, context, recorder):
    page = context.new_page()
    page.goto(setup.app.url + "/widget", wait_until="load")
    page.locator("#question").fill(HOSTILE_QUESTION)
    page.locator("#question").press("Enter")
    page.locator(".bubble.assistant:not(.pending) .feedback").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator(".bubble.user").last.inner_text() == HOSTILE_QUESTION
    assert page.evaluate("window.__xss") is None
    assert recorder.dialogs == []
    assert not [url for url in recorder.requests if url.endswith("/x")]
    assert recorder.off_origin(setup.app.url) == []


# ---------------------------------------------------------------- starting and busy (issues 13 and 14)

BUSY_ERROR = "the server is busy (4 answers in progress, 16 waiting); please try again in 1 s"
LOAD_FAILED = "the index at /srv/qa/index was built with embedder 'use-m3', but 'embeddinggemma' is configured"


def json_reply(route, status: int, body: dict, **headers: str) -> None:
    route.fulfill(status=status, headers=headers, content_type="application/json", body=json.dumps(body))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_page_shows_starting_until_ready_and_a_failed_load(setup, browser, axe_script, scheme):
    """/healthz is answered by the test: "starting" (503), then the server's own (ready), then
    "failed" (500) on a new page. The banner is readable (axe) in both schemes."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", color_scheme=scheme, bypass_csp=True)
    state = {"health": "starting"}

    def health(route) -> None:
        if state["health"] == "starting":
            json_reply(route, 503, {"status": "starting"}, **{"Retry-After": "3"})
        elif state["health"] == "failed":
            json_reply(route, 500, {"status": "failed", "error": LOAD_FAILED})
        else:
            route.continue_()

    context.route("**/healthz", health)
    try:
        page, _ = open_chat(context, setup.app.url)
        banner = page.locator("#qa-status.qa-starting")
        banner.wait_for(timeout=15_000)
        assert banner.inner_text().startswith("正在启动…文件和模型正在加载")
        assert banner.get_attribute("role") == "status"
        assert axe_problems(page, axe_script) == []
        screenshot(page, f"chat-page-starting-{scheme}.png")
        state["health"] = "ready"
        page.locator("#qa-status").wait_for(state="detached", timeout=15_000)

        state["health"] = "failed"
        failed, _ = open_chat(context, setup.app.url)
        banner = failed.locator("#qa-status.qa-failed")
        banner.wait_for(timeout=15_000)
        assert banner.inner_text() == "服务无法启动 · The server could not start: " + LOAD_FAILED
        assert axe_problems(failed, axe_script) == []
    finally:
        context.close()


def test_widget_says_busy_and_asks_once_more_after_retry_after(setup, context):
    """The first /api/ask/stream of a question is refused by the test (503, Retry-After: 1): the
    widget says so, waits, and asks again (the server answers). Refused twice, it shows the refusal."""
    refusals, calls = {"left": 1}, []

    def stream(route) -> None:
        calls.append(route.request.url)
        if refusals["left"] > 0:
            refusals["left"] -= 1
            json_reply(route, 503, {"error": BUSY_ERROR, "errors": []}, **{"Retry-After": "1"})
        else:
            route.continue_()

    page = context.new_page()
    page.route("**/api/ask/stream", stream)
    page.goto(setup.app.url + "/widget", wait_until="load")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    page.locator(".bubble.assistant .answer", has_text="正在排队，稍后重试… Busy, trying again…").wait_for(
        timeout=10_000
    )
    page.locator(".bubble.assistant:not(.pending) .feedback").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert CITED_WORDS in page.locator(".bubble.assistant .answer").last.inner_text()
    assert len(calls) == 2

    refusals["left"] = 2
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    page.locator(".bubble.assistant .error", has_text=BUSY_ERROR).wait_for(timeout=15_000)
    assert len(calls) == 4, "asked once more, not again and again"


# ---------------------------------------------------------------- behind a proxy, under /qa


def test_chat_and_widget_work_under_a_sub_path(use_m3_index, launch_app, tmp_path, context, recorder):
    app = launch_app(
        {
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_ROOT_PATH": "/qa",
            "QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
        }
    )
    proxy = SubPathProxy("/qa", app.port)
    try:
        page, textbox = open_chat(context, proxy.url)
        ask_in_chat(page, textbox, QUESTION)
        assert CITED_WORDS in page.locator("#chat .qa-passage mark").first.inner_text()

        widget = context.new_page()
        widget.goto(proxy.url + "/widget", wait_until="load")
        widget.locator("#question").fill(QUESTION)
        widget.locator("#question").press("Enter")
        widget.locator(".passage mark").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert CITED_WORDS in widget.locator(".passage mark").first.inner_text()
        # Every request stays under the sub-path: nothing assumes the app owns the site's root.
        assert [url for url in recorder.requests if not url.startswith((proxy.url + "/", "data:", "blob:"))] == []
    finally:
        proxy.close()
        app.stop()


# ---------------------------------------------------------------- the widget: sources, copy, clear, dark mode

# For each passage box: whether it shows its first line whole (at the top, or scrolled by whole
# lines) and the highlighted sentence inside what it shows.
PASSAGE_BOXES = """() => [...document.querySelectorAll('.passage')].map(p => {
    const style = getComputedStyle(p), line = parseFloat(style.lineHeight), pad = parseFloat(style.paddingTop);
    const mark = p.querySelector('mark');
    return {top: p.scrollTop,
            wholeLine: p.scrollTop === 0 || Math.abs(((p.scrollTop - pad) / line) - Math.round((p.scrollTop - pad) / line)) < 0.05,
            markShown: !mark || (mark.offsetTop >= p.scrollTop && mark.offsetTop + 10 <= p.scrollTop + p.clientHeight)};
})"""


def test_widget_source_box_opens_at_the_top_with_the_sentence_in_sight(setup, context):
    page = context.new_page()
    page.goto(setup.app.url + "/widget", wait_until="load")
    for question in (QUESTION, LONG_ANSWER_QUESTION):
        page.locator("#question").fill(question)
        page.locator("#question").press("Enter")
        page.locator(".bubble.assistant:not(.pending) .feedback").last.wait_for(timeout=ANSWER_TIMEOUT_MS)
    boxes = page.evaluate(PASSAGE_BOXES)
    assert boxes and all(box["wholeLine"] and box["markShown"] for box in boxes), boxes
    assert all(box["top"] == 0 for box in boxes), "each source box starts at the top of its passage"


def copied_text(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_widget_copy_matches_the_chat_page_and_clear_forgets_the_conversation(setup, context):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=setup.app.url)
    chat, textbox = open_chat(context, setup.app.url)
    ask_in_chat(chat, textbox, QUESTION)
    chat.locator("#chat button.qa-copy").last.click()
    chat.locator("#chat .qa-copy-status", has_text="已复制").wait_for(timeout=5_000)
    from_chat = copied_text(chat)

    page = context.new_page()
    page.goto(setup.app.url + "/widget", wait_until="load")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    copy = page.get_by_role("button", name="复制", exact=True)
    copy.wait_for(timeout=ANSWER_TIMEOUT_MS)
    copy.click()
    page.locator(".feedback-status", has_text="已复制").wait_for(timeout=5_000)
    assert copied_text(page) == from_chat, "the widget copies what the chat page copies"
    assert "<" not in from_chat and from_chat.count("[1]") >= 2

    page.reload(wait_until="load")  # the conversation is kept in the browser
    page.locator(".passage mark").first.wait_for(timeout=10_000)
    assert page.locator(".bubble.user").all_inner_texts() == [QUESTION]
    assert CITED_WORDS in page.locator(".bubble.assistant .answer").first.inner_text()
    assert page.evaluate("localStorage.getItem('govdoc-qa-widget')")

    page.get_by_role("button", name="清空对话 Clear", exact=True).click()
    assert page.locator(".bubble").count() == 0 and page.locator(".hint").is_visible()
    assert page.evaluate("localStorage.getItem('govdoc-qa-widget')") is None
    assert page.evaluate("document.activeElement.id") == "question"
    page.reload(wait_until="load")
    page.locator("#question").wait_for()
    assert page.locator(".bubble").count() == 0


def open_embedded_widget(page, site: HostSite):
    page.goto(site.origin + "/", wait_until="load")
    open_widget_by_keyboard(page)
    widget = page.frame_locator(f"#{EMBED_HOST_ID} iframe")
    widget.locator("#question").wait_for(timeout=15_000)
    return widget, next(f for f in page.frames if "/widget" in f.url)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_host_page_with_the_widget_open_passes_axe(setup, browser, axe_script, scheme):
    """axe-core on a host site with the widget's panel open (the host page, and the widget's frame
    with an answer in it), and on a site not on the allow-list with its message: no serious or
    critical violation, light and dark. The widget follows dark mode."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", color_scheme=scheme, bypass_csp=True)
    problems = {}
    try:
        page = context.new_page()
        widget, frame = open_embedded_widget(page, setup.allowed_site)
        widget.locator("#question").fill(QUESTION)
        widget.locator("#question").press("Enter")
        widget.locator(".bubble.assistant:not(.pending) .feedback").wait_for(timeout=ANSWER_TIMEOUT_MS)
        problems["host page, widget open"] = axe_problems(page, axe_script)
        problems["widget frame"] = axe_problems(frame, axe_script)
        background = frame.evaluate("getComputedStyle(document.querySelector('.bubble.assistant')).backgroundColor")
        assert (background == "rgb(22, 27, 34)") == (scheme == "dark"), background
        screenshot(page, f"widget-embedded-{scheme}.png")

        blocked = context.new_page()
        blocked.goto(setup.other_site.origin + "/", wait_until="load")
        launcher_of(blocked).click()
        blocked.locator(f"#{EMBED_HOST_ID} .message").get_by_text("QA_ALLOWED_ORIGINS").first.wait_for(timeout=10_000)
        problems["host page, not allowed"] = axe_problems(blocked, axe_script)
        screenshot(blocked, f"widget-blocked-{scheme}.png")
    finally:
        context.close()
    assert problems == {name: [] for name in problems}


# ---------------------------------------------------------------- stopping an answer, a slow LLM


class SlowLLM:
    """A stand-in for an OpenAI-compatible LLM server: every chat completion streams PIECES, one
    every DELAY_S seconds (slow enough to stop an answer while it is being written)."""

    PIECES = ["萌蒂公司", "由北京", "制药厂", "等共同", "投资", "设立", "。"] * 5
    DELAY_S = 0.3

    def __init__(self) -> None:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in llm.PIECES:
                        self.chunk({"role": "assistant", "content": piece}, None)
                        time.sleep(llm.DELAY_S)
                    self.chunk({}, "stop")
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):  # the answer was stopped
                    pass

            def chunk(self, delta: dict, finish: str | None) -> None:
                body = {
                    "id": "slow",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "slow",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                self.wfile.write(f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class SlowSetup:
    app: RunningApp
    site: HostSite  # on this app's allow-list, embedding it


@pytest.fixture(scope="module")
def slow(use_m3_index, launch_app, tmp_path_factory):
    llm, site = SlowLLM(), HostSite()
    app = launch_app(
        {
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(tmp_path_factory.mktemp("slow") / "feedback.sqlite3"),
            "QA_LLM_BASE_URL": llm.url,
            "QA_LLM_MODEL": "slow",
            "QA_ALLOWED_ORIGINS": site.origin,
        }
    )
    site.page = (REPO / "examples" / "embed.html").read_text(encoding="utf-8").replace(EXAMPLE_APP_URL, app.url)
    yield SlowSetup(app, site)
    app.stop()
    site.close()
    llm.close()


def test_chat_stop_button_stops_the_answer_and_keeps_the_question_and_the_typing(slow, context):
    page, textbox = open_chat(context, slow.app.url)
    stop = page.get_by_role("button", name="停止 · Stop", exact=True)
    assert not stop.is_visible(), "no stop button while nothing is being answered"
    textbox.fill(QUESTION)
    textbox.press("Enter")
    page.locator("#chat .qa-answer", has_text="萌蒂公司").wait_for(timeout=ANSWER_TIMEOUT_MS)  # streaming
    textbox.type("下一个问题")
    stop.click()
    stopped = page.locator("#chat .qa-stopped")
    stopped.wait_for(timeout=10_000)
    assert stopped.inner_text() == "已停止回答。"
    streamed = page.locator("#chat .qa-answer").last.inner_text()
    assert streamed.startswith("萌蒂公司")
    stop.wait_for(state="hidden", timeout=5_000)
    page.wait_for_timeout(2 * SlowLLM.DELAY_S * 1000)  # a piece streamed after the stop would land here
    assert page.locator("#chat .qa-answer").last.inner_text() == streamed, "the answer stopped"
    assert page.locator("#chat .qa-stopped").count() == 1 and page.locator("#chat .qa-copy").count() == 0
    assert textbox.input_value() == "下一个问题" and page.evaluate("document.activeElement.tagName") == "TEXTAREA"

    # The stopped question is in the saved conversation, marked as stopped (an empty one is ~100 characters).
    page.wait_for_function("(localStorage.getItem('govdoc-qa-conversation') || '').length > 250", timeout=10_000)
    page.reload(wait_until="load")
    textbox = wait_for_chat(page)
    assert page.locator("#chat .qa-question").all_inner_texts() == [QUESTION]
    assert page.locator("#chat .qa-stopped").inner_text() == "已停止回答。"

    textbox.fill("What is the total area of Majuqiao Wetland Park?")  # asking again works at once
    textbox.press("Enter")
    page.locator("#chat .qa-answer").nth(1).wait_for(timeout=ANSWER_TIMEOUT_MS)
    stop.click()
    page.locator("#chat .qa-stopped").nth(1).wait_for(timeout=10_000)
    assert page.locator("#chat .qa-stopped").nth(1).inner_text() == "Stopped."  # in the asker's language
    assert page.locator("#chat .qa-question").count() == 2


def test_widget_stop_button_keeps_the_question_and_the_typing(slow, context):
    page = context.new_page()
    page.goto(slow.app.url + "/widget", wait_until="load")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    page.locator(".bubble.assistant .answer", has_text="萌蒂公司").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator("#question").type("下一个问题")
    assert not page.locator("#send").is_visible()
    page.get_by_role("button", name="停止 Stop", exact=True).click()
    page.locator(".bubble.assistant .stopped").wait_for(timeout=5_000)
    assert page.locator(".bubble.assistant .stopped").inner_text() == "已停止 · Stopped"
    streamed = page.locator(".bubble.assistant .answer").last.inner_text()
    assert streamed.startswith("萌蒂公司")
    page.wait_for_timeout(2 * SlowLLM.DELAY_S * 1000)
    assert page.locator(".bubble.assistant .answer").last.inner_text() == streamed, "the answer stopped"
    assert page.locator("#question").input_value() == "下一个问题"
    assert page.locator("#send").is_visible() and not page.locator("#stop").is_visible()
    page.reload(wait_until="load")  # kept, marked as stopped
    page.locator(".bubble.assistant .stopped").wait_for(timeout=5_000)
    assert page.locator(".bubble.user").all_inner_texts() == [QUESTION]


def test_escape_closes_the_widget_in_every_state(slow, context):
    """Escape with the focus in the question box, on the stop button while an answer streams, on a
    [n] link of a finished answer (all inside the widget's frame) and on the host page's ×."""
    page = context.new_page()
    widget, _ = open_embedded_widget(page, slow.site)
    launcher = launcher_of(page)
    sync_api.expect(widget.locator("#question")).to_be_focused(timeout=10_000)
    page.keyboard.press("Escape")
    wait_until_closed(page)

    launcher.click()
    widget.locator("#question").fill(QUESTION)
    widget.locator("#question").press("Enter")
    widget.locator(".bubble.assistant .answer", has_text="萌蒂公司").wait_for(timeout=ANSWER_TIMEOUT_MS)
    widget.locator("#stop").focus()
    page.keyboard.press("Escape")
    wait_until_closed(page)
    assert page.evaluate(f"document.getElementById('{EMBED_HOST_ID}').shadowRoot.activeElement.className") == "launcher"

    launcher.click()  # closing did not stop the answer: it finishes meanwhile
    widget.locator(".bubble.assistant:not(.pending) .feedback").wait_for(timeout=ANSWER_TIMEOUT_MS)
    widget.locator("a.cite").first.focus()
    page.keyboard.press("Escape")
    wait_until_closed(page)

    launcher.click()
    page.locator(f"#{EMBED_HOST_ID} button.close").focus()
    page.keyboard.press("Escape")
    wait_until_closed(page)


# ---------------------------------------------------------------- the chat's time budget (issue 13)


def test_chat_page_ends_an_answer_past_its_time_budget_with_one_line(use_m3_index, launch_app, tmp_path, context):
    """QA_ANSWER_TIMEOUT=0.001: no answer can be ready in time, so every question ends with the
    budget's message, in the asker's language, instead of a chat that waits for ever."""
    app = launch_app(
        {
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
            "QA_ANSWER_TIMEOUT": "0.001",
        }
    )
    try:
        page, textbox = open_chat(context, app.url)
        for question, line in (
            (QUESTION, "0.001 秒内未能给出回答，请稍后再试。"),
            ("What is the total area of Majuqiao Wetland Park?", "No answer within 0.001 s; please try again later."),
        ):
            errors = page.locator("#chat .qa-error").count()
            textbox.fill(question)
            textbox.press("Enter")
            page.locator("#chat .qa-error").nth(errors).wait_for(timeout=15_000)
            assert page.locator("#chat .qa-error").last.inner_text() == line
            assert page.locator("#chat .qa-working").count() == 0
            page.get_by_role("button", name="停止 · Stop", exact=True).wait_for(state="hidden", timeout=5_000)
        screenshot(page, "chat-page-timeout.png")
    finally:
        app.stop()
