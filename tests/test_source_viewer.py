"""The source viewer and the document API (`/doc/{id}`, `/api/documents`), the `[n]` links and
dates in answers, and the plain text the chat's copy button copies; in process through FastAPI's
TestClient with a real index (use-m3), and with a stand-in QA holding a hostile document."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from answering.pipeline import QA
from app import create_app
from config import Config
from qa_types import Answer, Chunk, Citation, Passage
from server.documents import DocumentCatalog, parse_span
from server.feedback import FeedbackStore
from server.render import answer_html, answer_plain_text
from store.index_files import read_index

PLAN = "002_87a0a851a7cdb68f.txt"  # the plan with a document number, issuer and date in its header
NEWS = "004_24c4d525af6cbe55.txt"  # traditional Chinese
QUESTION = "萌蒂(中国)制药有限公司是由谁共同投资的？"
PLAN_QUESTION = "全区规模以上先进制造业总产值2025年目标是多少？"
SUMMARY_FIELDS = {"id", "title", "issuer", "number", "date", "chunks"}


@pytest.fixture(scope="module")
def config(use_m3_index, tmp_path_factory) -> Config:
    folder = tmp_path_factory.mktemp("viewer")
    return Config.from_env(
        environ={
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(folder / "feedback.sqlite3"),
        }
    )


@pytest.fixture(scope="module")
def qa(config):
    return QA.load(config)


@pytest.fixture(scope="module")
def client(config, qa):
    feedback = FeedbackStore(config.feedback_db)
    with TestClient(create_app(config, qa, feedback)) as test_client:
        yield test_client
    feedback.close()


@pytest.fixture(scope="module")
def stored(use_m3_index):
    return read_index(use_m3_index)


class Attributes(HTMLParser):
    """The attributes of every element of one tag in a piece of HTML, decoded as a browser would."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag, self.found = tag, []

    def handle_starttag(self, tag, attrs):
        if tag == self.tag:
            self.found.append(dict(attrs))

    @classmethod
    def of(cls, markup: str, tag: str) -> list[dict[str, str]]:
        parser = cls(tag)
        parser.feed(markup)
        return parser.found


def marked(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<mark class="cited"[^>]*>(.*?)</mark>', page, re.S)]


# ---------------------------------------------------------------- JSON


def test_documents_lists_the_seeds_with_their_parsed_header_fields(client, stored):
    response = client.get("/api/documents")
    assert response.status_code == 200
    documents = {d["id"]: d for d in response.json()}
    assert set(documents) == {d.doc_id for d in stored.documents}
    assert all(set(d) == SUMMARY_FIELDS for d in documents.values())
    plan = documents[PLAN]
    assert (plan["issuer"], plan["number"], plan["date"]) == (
        "北京市通州区人民政府办公室",
        "通政办发〔2022〕23号",
        "2022年10月28日",
    )
    assert documents[NEWS]["date"] == "2月25日"
    assert sum(d["chunks"] for d in documents.values()) == len(stored.chunks)
    assert documents[PLAN]["chunks"] == sum(1 for c in stored.chunks if c.doc == PLAN)


def test_one_document_has_its_cleaned_text_and_section_headings(client, stored):
    body = client.get(f"/api/documents/{PLAN}").json()
    source = next(d for d in stored.documents if d.doc_id == PLAN)
    assert body["text"] == source.text and body["title"] == source.title
    assert SUMMARY_FIELDS <= set(body) and body["lang"] == "zh-Hans"
    general = next(s for s in body["sections"] if s["title"] == "一、总体要求")
    assert general["level"] == 1
    assert body["text"][general["start"] : general["end"]] == "一、总体要求"
    assert client.get(f"/api/documents/{NEWS}").json()["lang"] == "zh-Hant"


def test_unknown_document_is_a_one_line_json_404(client):
    response = client.get("/api/documents/no-such-file.txt")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "errors"} and body["errors"] == []
    assert "no-such-file.txt" in body["error"] and "\n" not in body["error"]


def test_answers_in_the_api_carry_their_documents_dates(client):
    body = client.post("/api/ask", json={"question": PLAN_QUESTION}).json()
    plan_citations = [c for c in body["citations"] if c["doc"] == PLAN]
    assert plan_citations, "the plan's target is cited from the plan"
    assert {c["date"] for c in plan_citations} == {"2022年10月28日"}
    undated = client.post("/api/ask", json={"question": QUESTION}).json()["citations"]
    assert undated and all(c["date"] == "" for c in undated)  # 000 states no date


# ---------------------------------------------------------------- the viewer page


def test_viewer_marks_the_cited_sentence_given_by_query(client, qa):
    citation = qa.ask(QUESTION).citations[0]
    page = client.get(f"/doc/{citation.doc}?s={citation.start}-{citation.end}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-Hans">' in page.text
    assert marked(page.text) == [citation.quote]
    assert '<mark class="cited" id="cited"' in page.text
    assert "location.hash" in page.text  # the client-side highlight for #s=start-end


def test_viewer_shows_title_header_fields_and_headings(client):
    page = client.get(f"/doc/{PLAN}").text
    assert "<h1>城市副中心先进制造业三年行动计划（2022-2024年）</h1>" in page
    assert "<dt>发文机关</dt><dd>北京市通州区人民政府办公室</dd>" in page
    assert "<dt>文号</dt><dd>通政办发〔2022〕23号</dd>" in page and "<dt>日期</dt><dd>2022年10月28日</dd>" in page
    assert re.search(r'<h2 data-start="\d+">一、总体要求</h2>', page)
    assert re.search(r'<h3 data-start="\d+">（一）指导思想</h3>', page)
    assert marked(page) == []


def test_viewer_lines_carry_their_offsets(client, stored):
    """The client-side highlight relies on each element's data-start being the offset of its text."""
    page = client.get(f"/doc/{NEWS}").text
    text = next(d.text for d in stored.documents if d.doc_id == NEWS)
    blocks = re.findall(r'<(h\d|p)[^>]*data-start="(\d+)"[^>]*>(.*?)</\1>', page, re.S)
    assert len(blocks) > 10
    for _, start, inner in blocks:
        line = html.unescape(inner)
        assert text[int(start) : int(start) + len(line)] == line
    assert '<html lang="zh-Hant">' in page


@pytest.mark.parametrize("span", ["abc", "50-10", "0-999999", "-1-5", "１-２", "10-10"])
def test_viewer_ignores_a_span_it_cannot_use(client, span):
    page = client.get(f"/doc/{PLAN}", params={"s": span})
    assert page.status_code == 200 and marked(page.text) == []


def test_viewer_of_an_unknown_document_is_a_404_page(client):
    page = client.get("/doc/no-such-file.txt")
    assert page.status_code == 404 and "没有这份文件" in page.text


class OneDocumentQA:
    """A stand-in QA whose only document is hostile markup."""

    def __init__(self, doc_id: str, title: str, text: str, metadata: dict[str, str]) -> None:
        chunk = Chunk("c0", doc_id, title, title, text, text, 0, len(text))
        self.searcher = SimpleNamespace(documents_text={doc_id: text}, chunks=[chunk])
        self.index_info = {"embedder": "stub", "documents": 1, "chunks": 1, "titles": {doc_id: title}}
        self.documents_metadata = {doc_id: metadata}
        self.llm = None


def test_viewer_and_api_escape_hostile_document_text(config, tmp_path):
    title = '<img src=x onerror="alert(1)">标题'
    text = f'{title}\n\n正文<script>alert("x")</script>一句。被引用的"一句"。\n'
    quote = '被引用的"一句"。'
    start = text.index(quote)
    stub = OneDocumentQA("evil<b>.txt", title, text, {"date": "<i>2024年1月1日</i>"})
    feedback = FeedbackStore(tmp_path / "feedback.sqlite3")
    try:
        with TestClient(create_app(config, stub, feedback)) as client:
            page = client.get("/doc/evil%3Cb%3E.txt", params={"s": f"{start}-{start + len(quote)}"})
            assert page.status_code == 200
            assert "<script>alert" not in page.text and "<img" not in page.text and "<i>" not in page.text
            assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
            assert "&lt;i&gt;2024年1月1日&lt;/i&gt;" in page.text
            assert marked(page.text) == [quote]
            assert client.get("/api/documents/evil<b>.txt").json()["text"] == text
    finally:
        feedback.close()


def test_parse_span_accepts_only_a_span_inside_the_text():
    assert parse_span("3-7", 10) == (3, 7)
    assert parse_span("0-10", 10) == (0, 10)
    assert [parse_span(v, 10) for v in (None, "", "7-3", "3-11", "3", "a-b", "3-7-9")] == [None] * 7


# ---------------------------------------------------------------- answers: links, dates, copy

CITED = Citation(
    n=1,
    doc="文件 1.txt",
    title="标题<甲>",
    section="标题<甲> › 一、总则",
    text="前文。被引用的 <b>句子</b>。后文。",
    start=103,
    end=117,
    quote="被引用的 <b>句子</b>。",
    passage_start=100,
    passage_end=120,
)


def cited_answer(**fields) -> Answer:
    return Answer(
        question="问题", answer="回答在此 [1]，另见[2]。", abstained=False, lang="zh-Hans", citations=[CITED], **fields
    )


def test_each_marker_links_to_the_cited_sentence_with_the_quote_as_title():
    markup = answer_html(cited_answer(), {"文件 1.txt": "2024年1月1日"})
    links = Attributes.of(markup, "a")
    assert len(links) == 2  # [1] in the answer and in the sources panel; [2] has no citation
    for link in links:
        assert link["href"] == "doc/%E6%96%87%E4%BB%B6%201.txt#s=103-117"
        assert link["title"] == "被引用的 <b>句子</b>。" and link["target"] == "_blank"
    assert '<span class="qa-cite">[2]</span>' in markup and "<b>" not in markup
    assert '<span class="qa-date">· 2024年1月1日</span>' in markup


def test_the_real_answer_links_open_its_quote_in_the_viewer(client, qa, config):
    answer = qa.ask(QUESTION)
    markup = answer_html(answer, DocumentCatalog(qa).dates)
    href = Attributes.of(markup, "a")[0]["href"]
    path, _, fragment = href.partition("#")
    start, end = parse_span(fragment.removeprefix("s="), 10**9)
    text = client.get(f"/api/documents/{path.removeprefix('doc/')}").json()["text"]
    assert text[start:end] == answer.citations[0].quote
    assert client.get("/" + path).status_code == 200


def test_copy_text_is_the_answer_then_numbered_sources_in_plain_text():
    text = answer_plain_text(cited_answer(notice="LLM 不可用"), {"文件 1.txt": "2024年1月1日"})
    assert text == (
        "LLM 不可用\n\n回答在此 [1]，另见[2]。\n\n来源：\n[1] 标题<甲> · 2024年1月1日\n    被引用的 <b>句子</b>。"
    )
    undated = answer_plain_text(cited_answer())
    assert "[1] 标题<甲>\n" in undated and "·" not in undated


def test_copy_text_of_an_abstention_lists_the_related_documents():
    chunk = Chunk("c", "d.txt", "相关文件", "相关文件", "段落", "段落", 0, 2)
    answer = Answer("q", "文件中没有找到答案。", True, "zh-Hans", related=[Passage(chunk, 0.2)])
    assert (
        answer_plain_text(answer, {"d.txt": "2月25日"})
        == "文件中没有找到答案。\n\n相关段落（未找到答案）：\n1. 相关文件 · 2月25日"
    )
    english = Answer("q", "Not found.", True, "en", related=[Passage(chunk, 0.2)])
    assert answer_plain_text(english).endswith("Related passages (no answer found):\n1. 相关文件")


def test_copy_button_holds_the_plain_text_and_chat_copies_nothing_else(client):
    answer = cited_answer()
    buttons = Attributes.of(answer_html(answer), "button")
    assert [b["class"] for b in buttons] == ["qa-copy", "qa-copy-link"]
    assert buttons[0]["value"] == answer_plain_text(answer)  # decoded: exactly the plain text
    config = client.get("/config").json()
    chatbot = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "chat")
    assert "copy" not in chatbot["props"]["buttons"], "Gradio's copy button would copy the HTML"
    assert "button.qa-copy" in config["js"] and "aria-label" in config["js"]


def test_viewer_and_document_api_work_under_a_sub_path(use_m3_index, qa, tmp_path):
    config = Config.from_env(
        environ={
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
            "QA_ROOT_PATH": "/qa",
        }
    )
    feedback = FeedbackStore(config.feedback_db)
    try:
        with TestClient(create_app(config, qa, feedback), root_path="/qa") as client:
            page = client.get(f"/qa/doc/{PLAN}")
            assert page.status_code == 200 and '<a href="../">' in page.text  # back to /qa/, the chat
            assert len(client.get("/qa/api/documents").json()) == 5
    finally:
        feedback.close()
