"""The HTTP API of app.py, in process through FastAPI's TestClient with a real index (use-m3):
answers and abstentions, every input limit, the SSE stream, errors without tracebacks, CORS and
CSP headers, feedback storage, the sub-path setting, and how `python app.py` starts and fails."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import httpx
import pytest
from conftest import REPO, env_without_qa_settings
from fastapi.testclient import TestClient

from answering.pipeline import QA
from app import create_app
from config import Config
from qa_types import Answer, Chunk, Passage
from server.feedback import FeedbackStore
from server.render import answer_html, highlighted_passage_html

ALLOWED_ORIGIN = "https://portal.example.gov.cn"
OTHER_ORIGIN = "https://elsewhere.example.com"
ANSWERABLE = "萌蒂(中国)制药有限公司是由谁共同投资的？"
UNANSWERABLE = "火星上有多少只猫？"
ANSWER_FIELDS = {"answer", "abstained", "lang", "citations", "related", "standalone_question", "notice"}
CITATION_FIELDS = {"n", "doc", "title", "section", "text", "start", "end", "quote"}


def make_config(index_dir, tmp_path, **settings) -> Config:
    env = {
        "QA_INDEX_DIR": str(index_dir),
        "QA_EMBEDDER": "use-m3",
        "QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
        "QA_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
    }
    return Config.from_env(environ={**env, **settings})


@pytest.fixture(scope="module")
def config(use_m3_index, tmp_path_factory) -> Config:
    return make_config(use_m3_index, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def qa(config):
    return QA.load(config)


@pytest.fixture(scope="module")
def store(config):
    feedback = FeedbackStore(config.feedback_db)
    yield feedback
    feedback.close()


@pytest.fixture(scope="module")
def client(config, qa, store):
    with TestClient(create_app(config, qa, store)) as test_client:
        yield test_client


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


# ---------------------------------------------------------------- answers


def test_ask_answers_with_citations(client):
    response = client.post("/api/ask", json={"question": ANSWERABLE})
    assert response.status_code == 200
    body = response.json()
    assert ANSWER_FIELDS <= set(body)
    assert body["abstained"] is False and body["lang"] == "zh-Hans"
    assert body["citations"], "an answered question must cite"
    for citation in body["citations"]:
        assert CITATION_FIELDS <= set(citation)
        assert citation["quote"] in citation["text"]
        assert f"[{citation['n']}]" in body["answer"]
    assert "北京制药厂" in body["answer"]


def test_ask_accepts_history(client):
    history = [{"role": "user", "content": "小米汽车落户在哪里？"}, {"role": "assistant", "content": "马驹桥。[1]"}]
    response = client.post("/api/ask", json={"question": "一期占地面积有多大？", "history": history})
    assert response.status_code == 200
    assert ANSWER_FIELDS <= set(response.json())


def test_unanswerable_question_abstains_with_related_passages(client):
    body = client.post("/api/ask", json={"question": UNANSWERABLE}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert body["related"], "an abstention lists the closest passages"
    assert {"doc", "title", "section", "text"} <= set(body["related"][0])


@pytest.mark.parametrize(
    "payload, status, message",
    [
        ({"question": ""}, 422, "question: must not be empty"),
        ({"question": "   \n\t "}, 422, "question: must not be empty"),
        ({"question": "问" * 1001}, 422, "question: has 1001 characters; the limit is 1000"),
        (
            {"question": "问题", "history": [{"role": "user", "content": "x"}] * 21},
            422,
            "history: has 21 turns; the limit is 20",
        ),
        (
            {"question": "它的年产能？", "history": [{"role": "user", "content": "小" * 1001}]},
            422,
            "history[0].content: has 1001 characters; the limit for a user turn is 1000",
        ),
        (
            {"question": "问题", "history": [{"role": "assistant", "content": "答" * 4000}] * 6},
            422,
            "history: has 24000 characters in all; the limit is 20000",
        ),
        ({"question": 42}, 422, "question: Input should be a valid string"),
        ({"question": ["a"]}, 422, "question: Input should be a valid string"),
        ({"question": "问题", "history": "earlier"}, 422, "history: Input should be a valid list"),
        ({"question": "问题", "history": [{"role": "system", "content": "x"}]}, 422, "history[0].role"),
        ({"question": "问题", "history": [{"role": "user"}]}, 422, "history[0].content: Field required"),
        ({"questoin": "问题"}, 422, "question: Field required"),
        (["问题"], 422, "must be a JSON object"),
    ],
)
def test_bad_input_gets_a_clear_4xx(client, payload, status, message):
    response = client.post("/api/ask", json=payload)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_a_question_of_exactly_the_limit_is_accepted(client):
    assert client.post("/api/ask", json={"question": "问" * 1000}).status_code == 200


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"question": "问题"', "not valid JSON"),
        ("", "body is missing"),
    ],
)
def test_malformed_body_gets_400(client, body, message):
    response = client.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]


# ---------------------------------------------------------------- streaming


def test_stream_sends_deltas_then_the_answer(client):
    response = client.post("/api/ask/stream", json={"question": ANSWERABLE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "delta" and names[-1] == "answer" and set(names[:-1]) == {"delta"}
    final = events[-1][1]
    assert ANSWER_FIELDS <= set(final) and final["citations"]
    assert "".join(data["text"] for name, data in events[:-1]) == final["answer"]


def test_stream_validates_like_ask(client):
    response = client.post("/api/ask/stream", json={"question": " "})
    assert response.status_code == 422
    assert "must not be empty" in response.json()["error"]


class FailingQA:
    """Stands in for QA when the answering machinery breaks."""

    index_info = {"embedder": "stub", "documents": 0, "chunks": 0}
    llm = None

    def ask(self, question, history=None, deadline=None):
        raise RuntimeError("secret internal detail")

    def ask_stream(self, question, history=None, deadline=None):
        yield "partial "
        raise RuntimeError("secret internal detail")


@pytest.fixture(scope="module")
def failing_client(config, store):
    with TestClient(create_app(config, FailingQA(), store), raise_server_exceptions=False) as test_client:
        yield test_client


def test_failure_mid_stream_sends_an_error_event(failing_client):
    response = failing_client.post("/api/ask/stream", json={"question": ANSWERABLE})
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["delta", "error"]
    assert "secret" not in response.text


def test_unexpected_error_is_a_short_json_500(failing_client):
    response = failing_client.post("/api/ask", json={"question": ANSWERABLE})
    assert response.status_code == 500
    assert set(response.json()) == {"error", "errors"}
    assert "secret" not in response.text and "Traceback" not in response.text


# ---------------------------------------------------------------- status, docs, pages


def test_healthz_reports_the_index(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["index_loaded"] is True
    assert body["embedder"] == "use-m3"
    assert body["documents"] == 5 and body["chunks"] > 0


def test_openapi_docs_are_served_without_a_cdn(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert not re.search(r'(?:src|href)="https?://', docs.text)
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/feedback", "/healthz"} <= set(paths)


def test_chat_page_loads_nothing_from_other_hosts(client):
    page = client.get("/")
    assert page.status_code == 200
    # Meta tags name outside image URLs that browsers never fetch; scripts, styles and links count.
    loaded = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]*)"', page.text)
    assert loaded and not [url for url in loaded if re.match(r"(?:https?:)?//", url)]
    assert "fonts.googleapis" not in client.get("/theme.css").text


def test_widget_and_embed_script_are_served(client):
    widget = client.get("/widget")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/html")
    assert not re.search(r"<script(?![^>]*\bsrc=)", widget.text), "the widget's CSP forbids inline scripts"
    embed = client.get("/embed.js")
    assert embed.status_code == 200 and "javascript" in embed.headers["content-type"]


# ---------------------------------------------------------------- CORS and CSP


def test_cors_preflight_allows_only_listed_origins(client):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/api/ask", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = client.options("/api/ask", headers={"Origin": OTHER_ORIGIN, **preflight})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_cors_headers_on_answers_only_for_listed_origins(client):
    allowed = client.post("/api/ask", json={"question": ANSWERABLE}, headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = client.post("/api/ask", json={"question": ANSWERABLE}, headers={"Origin": OTHER_ORIGIN})
    assert "access-control-allow-origin" not in other.headers


def test_gradio_routes_do_not_echo_foreign_origins(client):
    response = client.get("/config", headers={"Origin": OTHER_ORIGIN, "Host": "qa.example.gov.cn"})
    assert "access-control-allow-origin" not in response.headers


def test_widget_may_be_framed_by_listed_origins_only(client):
    policy = client.get("/widget").headers["content-security-policy"]
    assert f"frame-ancestors 'self' {ALLOWED_ORIGIN}" in policy
    assert "connect-src 'self'" in policy and "script-src 'self'" in policy


def test_chat_page_may_be_framed_by_itself_only(client):
    policy = client.get("/").headers["content-security-policy"]
    assert re.search(r"frame-ancestors 'self'(;|$)", policy)
    assert ALLOWED_ORIGIN not in policy


# ---------------------------------------------------------------- feedback


def test_feedback_is_stored(client, store):
    answer = client.post("/api/ask", json={"question": ANSWERABLE}).json()
    response = client.post(
        "/api/feedback",
        json={
            "rating": "up",
            "question": ANSWERABLE,
            "answer": answer["answer"],
            "citations": answer["citations"],
            "source": "widget",
        },
    )
    assert response.status_code == 200
    row_id = response.json()["id"]
    row = next(r for r in store.rows() if r["id"] == row_id)
    assert row["rating"] == "up" and row["source"] == "widget" and row["question"] == ANSWERABLE
    assert row["answer"] == answer["answer"]
    assert row["citations"][0]["quote"] == answer["citations"][0]["quote"]
    assert row["created_at"]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"rating": "meh", "question": "问题", "answer": "答"}, "rating"),
        ({"rating": "up", "question": "", "answer": "答"}, "question: must not be empty"),
        ({"rating": "up", "question": "问题", "answer": ""}, "answer"),
    ],
)
def test_bad_feedback_gets_a_clear_4xx(client, payload, message):
    response = client.post("/api/feedback", json=payload)
    assert response.status_code == 422
    assert message in response.json()["error"]


# ---------------------------------------------------------------- chat page HTML (server.render)


def test_passage_html_marks_the_cited_sentence_and_escapes_the_rest():
    passage = "第一句<b>。被引用的一句。最后"
    html_text = highlighted_passage_html(passage, passage_start=100, start=107, end=114, quote="被引用的一句。")
    assert html_text == "第一句&lt;b&gt;。<mark>被引用的一句。</mark>最后"


def test_passage_html_finds_the_quote_when_offsets_do_not_fit():
    html_text = highlighted_passage_html("甲。乙丙。", passage_start=0, start=40, end=44, quote="乙丙。")
    assert html_text == "甲。<mark>乙丙。</mark>"
    assert "<mark>" not in highlighted_passage_html("甲。", passage_start=0, start=40, end=44, quote="不在这里")


def test_answer_html_escapes_documents_and_shows_notice_rewrite_and_related():
    chunk = Chunk(
        id="c1",
        doc="d.txt",
        title="<script>x</script>标题",
        section="<script>x</script>标题 › 一、总则",
        text="正文 <img src=x onerror=alert(1)>",
        search_text="",
        start=0,
        end=10,
    )
    answer = Answer(
        question="q",
        answer="没有找到。",
        abstained=True,
        lang="zh-Hans",
        related=[Passage(chunk=chunk, score=0.3)],
        standalone_question="它<是>什么？",
        notice="LLM unavailable",
    )
    html_text = answer_html(answer)
    assert "<script>" not in html_text and "<img" not in html_text
    assert "&lt;script&gt;x&lt;/script&gt;标题" in html_text and "一、总则" in html_text
    assert "相关段落" in html_text and "它&lt;是&gt;什么？" in html_text and "LLM unavailable" in html_text


# ---------------------------------------------------------------- behind a proxy under /qa


def test_sub_path_urls_carry_the_root_path(use_m3_index, qa, tmp_path):
    config = make_config(use_m3_index, tmp_path, QA_ROOT_PATH="/qa")
    feedback = FeedbackStore(config.feedback_db)
    try:
        # What uvicorn --root-path does behind a proxy that strips /qa: scope root_path="/qa".
        with TestClient(create_app(config, qa, feedback), root_path="/qa") as client:
            assert client.get("/qa/healthz").status_code == 200
            assert (
                "frame-ancestors 'self' " + ALLOWED_ORIGIN
                in client.get("/qa/widget").headers["content-security-policy"]
            )
            assert client.get("/qa/config").json()["root"].endswith("/qa")
            assert client.get("/qa/openapi.json").json()["servers"] == [{"url": "/qa"}]
            assert 'src="/qa/docs-static/swagger-ui-bundle.js"' in client.get("/qa/docs").text
    finally:
        feedback.close()


# ---------------------------------------------------------------- python app.py


def run_app(tmp_path, settings: dict[str, str]) -> subprocess.CompletedProcess:
    """`python app.py` expected to stop at start; its feedback database stays in tmp_path."""
    settings = {"QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"), **settings}
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env_without_qa_settings(**settings),
    )


def assert_load_failure_reported(app, message: str) -> None:
    """The server is up, says why it cannot answer (/healthz 500, the API 500, the log) and shows no traceback."""
    try:
        health = app.health(timeout=120)
        assert health.status_code == 500 and health.json()["status"] == "failed"
        assert message in health.json()["error"]
        answer = httpx.post(app.url + "/api/ask", json={"question": ANSWERABLE}, timeout=30)
        assert answer.status_code == 500 and message in answer.json()["error"]
        assert httpx.get(app.url + "/", timeout=30).status_code == 200, "the chat page is served to show it"
        assert "error:" in app.log() and message in app.log()
        assert "Traceback" not in app.log()
    finally:
        app.stop()


def test_a_damaged_index_is_reported_by_healthz_and_the_log_not_a_traceback(use_m3_index, launch_app, tmp_path):
    damaged = tmp_path / "index"
    shutil.copytree(use_m3_index.resolve(), damaged)
    with (damaged / "chunks.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("tampered\n")
    settings = {"QA_INDEX_DIR": str(damaged), "QA_EMBEDDER": "use-m3", "QA_FEEDBACK_DB": str(tmp_path / "fb.sqlite3")}
    assert_load_failure_reported(launch_app(settings, wait=False), "damaged")


def test_an_index_built_with_another_embedder_is_reported_by_healthz(use_m3_index, launch_app, tmp_path):
    settings = {
        "QA_INDEX_DIR": str(use_m3_index),
        "QA_EMBEDDER": "embeddinggemma",
        "QA_FEEDBACK_DB": str(tmp_path / "fb.sqlite3"),
    }
    assert_load_failure_reported(launch_app(settings, wait=False), "built with embedder 'use-m3'")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"QA_ROOT_PATH": "qa/"}, "QA_ROOT_PATH"),
        ({"QA_ALLOWED_ORIGINS": "https://ok.example.gov.cn,*"}, "QA_ALLOWED_ORIGINS"),
        ({"QA_PORT": "http"}, "QA_PORT"),
    ],
)
def test_bad_server_settings_exit_with_a_message(settings, message, tmp_path):
    result = run_app(tmp_path, {"QA_INDEX_DIR": str(tmp_path / "never-built"), **settings})
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "never-built").exists(), "settings are checked before any index is built"


@pytest.mark.slow
def test_first_start_builds_the_index_then_serves(launch_app, tmp_path):
    index_dir = tmp_path / "index"
    app = launch_app(
        {"QA_INDEX_DIR": str(index_dir), "QA_EMBEDDER": "use-m3", "QA_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3")}
    )
    try:
        assert (index_dir / "manifest.json").is_file()
        assert "building it from" in app.log()
        assert httpx.get(app.url + "/healthz").json()["documents"] == 5
    finally:
        app.stop()


def test_unusable_feedback_database_exits_with_a_message(use_m3_index, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    result = run_app(
        tmp_path,
        {
            "QA_INDEX_DIR": str(use_m3_index),
            "QA_EMBEDDER": "use-m3",
            "QA_FEEDBACK_DB": str(not_a_folder / "feedback.sqlite3"),
        },
    )
    assert result.returncode == 2
    assert "feedback database" in result.stderr and "Traceback" not in result.stderr
