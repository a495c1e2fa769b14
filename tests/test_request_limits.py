"""Bounded work and storage per request (issue 13, points 1 and 2), in process through FastAPI's
TestClient: history caps, junk follow-ups, markup and language, bodies refused before parsing,
bounded feedback, no uploads, 404/405/415 in the project's error shape, Gradio's 422 without the
input, the per-answer time budget, and feedback rows in the .sqlite3 file itself."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time

import anyio
import pytest
from conftest import sse_events
from fastapi.testclient import TestClient

from answering.deadline import AnswerTimeout, Deadline
from answering.pipeline import QA
from app import create_app
from config import Config
from qa_types import Answer
from server.api_models import (
    MAX_HISTORY_CHARS,
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
    AskRequest,
    fit_history,
)
from server.feedback import FeedbackStore

MB = 1_000_000
PREVIOUS = "小米汽车一期预计什么时候实现量产？"
CITATION = {
    "n": 1,
    "doc": "000.txt",
    "title": "标题",
    "section": "标题 › 一、",
    "text": "段落。",
    "start": 0,
    "end": 3,
    "quote": "段落。",
}


def make_config(index_dir, tmp_path, **settings) -> Config:
    env = {"QA_INDEX_DIR": str(index_dir), "QA_EMBEDDER": "use-m3", "QA_FEEDBACK_DB": str(tmp_path / "fb.sqlite3")}
    return Config.from_env(environ={**env, **settings})


@pytest.fixture(scope="module")
def config(use_m3_index, tmp_path_factory) -> Config:
    return make_config(use_m3_index, tmp_path_factory.mktemp("limits"))


@pytest.fixture(scope="module")
def store(config):
    feedback = FeedbackStore(config.feedback_db)
    yield feedback
    feedback.close()


@pytest.fixture(scope="module")
def client(config, store):
    with TestClient(create_app(config, QA.load(config), store)) as test_client:
        yield test_client


def error_of(response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert set(body) == {"error", "errors"}, body
    return body["error"]


# ---------------------------------------------------------------- history and follow-ups


def test_the_history_bypass_of_issue_13_is_refused_naming_the_field(client):
    long_turn = [{"role": "user", "content": "小米汽车" + "的年产能" * 999}]  # 4,000 characters
    for route in ("/api/ask", "/api/ask/stream"):
        response = client.post(route, json={"question": "它的年产能？", "history": long_turn})
        assert response.status_code == 422
        assert error_of(response) == "history[0].content: has 4000 characters; the limit for a user turn is 1000"


@pytest.mark.parametrize(
    "history, message",
    [
        ([{"role": "assistant", "content": "答" * 4001}], "history[0].content: String should have at most 4000"),
        (
            [{"role": "assistant", "content": "答" * 3000}] * 7,
            "history: has 21000 characters in all; the limit is 20000",
        ),
        ([{"role": "user", "content": "问"}] * 21, "history: has 21 turns; the limit is 20"),
        ([{"role": "user", "content": "\ud800小米"}], "history[0].content: "),  # not valid text
    ],
)
def test_history_over_a_limit_is_refused_naming_the_field(client, history, message):
    body = json.dumps({"question": "它的年产能？", "history": history})  # ASCII escapes carry the lone surrogate
    response = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert error_of(response).startswith(message)


def test_twenty_long_user_turns_make_a_standalone_question_no_longer_than_a_question(client):
    turns = [{"role": "user", "content": "小米汽车一期" * 66}] * MAX_HISTORY_TURNS  # 396 characters each
    body = client.post("/api/ask", json={"question": "它一期占地面积有多大？", "history": turns}).json()
    assert len(body["standalone_question"]) <= MAX_QUESTION_CHARS


@pytest.mark.parametrize("junk", ["😀😀😀", "？？？？", "嗯", "ok"])
def test_a_junk_followup_is_answered_on_its_own(client, junk):
    history = [{"role": "user", "content": PREVIOUS}, {"role": "assistant", "content": "2024年。[1]"}]
    body = client.post("/api/ask", json={"question": junk, "history": history}).json()
    assert body["standalone_question"] == ""  # not rewritten
    assert "小米汽车" not in json.dumps(body, ensure_ascii=False)
    assert body["abstained"] is True and body["citations"] == [] and body["related"] == []


def test_markup_around_a_chinese_question_keeps_it_chinese(client):
    body = client.post("/api/ask", json={"question": "<script>alert(1)</script>小米汽车的年产能？"}).json()
    assert body["lang"] == "zh-Hans"


def test_the_chat_pages_own_history_is_cut_to_what_the_api_accepts():
    turns = [
        {"role": ("user", "assistant")[i % 2], "content": ("问" if i % 2 == 0 else "答") * 5000} for i in range(40)
    ]
    fitted = fit_history(turns)
    AskRequest(question="它呢？", history=fitted)  # valid: no ValidationError
    assert fitted and fitted[-1]["content"] == "答" * 4000  # the newest turns are kept
    assert sum(len(t["content"]) for t in fitted) <= MAX_HISTORY_CHARS


# ---------------------------------------------------------------- request bodies


class CountingQA:
    """Stands in for QA and counts the answers asked of it."""

    index_info = {"embedder": "stub", "documents": 0, "chunks": 0}
    llm = None

    def __init__(self) -> None:
        self.calls = 0

    def ask(self, question, history=None, deadline=None):
        self.calls += 1
        return Answer(question=question, answer="答。", abstained=True, lang="zh-Hans")


def call_asgi(app, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, dict, int]:
    """POST /api/ask straight through ASGI: (status, JSON body, chunks of the body the app read)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/ask",
        "raw_path": b"/api/ask",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


@pytest.fixture(scope="module")
def counting(config, store):
    qa = CountingQA()
    return qa, create_app(config, qa, store)


def test_a_10_mb_body_is_refused_before_a_byte_of_it_is_read(counting):
    qa, app = counting
    chunks = [b" " * 65536] * 160  # 10.5 MB
    status, body, read = call_asgi(app, {"content-type": "application/json", "content-length": "10485760"}, chunks)
    assert status == 413 and body["error"] == f"the request body is larger than {MB} bytes"
    assert read == 0, "the body was read"
    assert qa.calls == 0


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(counting):
    qa, app = counting
    chunks = [b" " * 65536] * 160  # no Content-Length: counted as it arrives
    status, body, read = call_asgi(app, {"content-type": "application/json"}, chunks)
    assert status == 413 and "larger than" in body["error"]
    assert read <= MB // 65536 + 1, f"{read} chunks read"
    assert qa.calls == 0


def test_a_body_within_the_limit_reaches_the_handler_whole(counting):
    qa, app = counting
    payload = json.dumps({"question": "小米汽车在哪里？"}).encode() + b" " * 900_000  # JSON allows the padding
    chunks = [payload[i : i + 65536] for i in range(0, len(payload), 65536)]
    status, body, read = call_asgi(app, {"content-type": "application/json"}, chunks)
    assert status == 200 and body["answer"] == "答。"
    assert read == len(chunks) and qa.calls == 1


def test_oversize_bodies_get_413_through_http(client):
    big = json.dumps({"question": "问", "padding": "x" * (10 * MB)})
    response = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in error_of(response)

    def chunked():
        for _ in range(20):
            yield b" " * 65536

    response = client.post("/api/feedback", content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in error_of(response)


# ---------------------------------------------------------------- feedback


def feedback(**fields) -> dict:
    return {"rating": "up", "question": "问题？", "answer": "答。[1]", "citations": [CITATION], **fields}


@pytest.mark.parametrize(
    "payload, message",
    [
        # 500,000 characters of ASCII fit in the 1 MB body limit; as many Chinese ones get a 413 instead.
        (feedback(citations=[{**CITATION, "text": "x" * 500_000}]), "citations[0].text: String should have at most"),
        (feedback(citations=[{**CITATION, "quote": "文" * 4001}]), "citations[0].quote: String should have at most"),
        (feedback(citations=[{**CITATION, "title": "题" * 1001}]), "citations[0].title: String should have at most"),
        (feedback(citations=[CITATION] * 21), "citations: List should have at most 20 items"),
        (feedback(question="问" * 1001), "question: has 1001 characters; the limit is 1000"),
        (feedback(answer="答" * 20_001), "answer: String should have at most 20000"),
    ],
)
def test_every_feedback_field_is_bounded(client, store, payload, message):
    before = store.count()
    response = client.post("/api/feedback", json=payload)
    assert response.status_code == 422
    assert error_of(response).startswith(message)
    assert store.count() == before


def test_a_feedback_of_500000_chinese_characters_is_refused_before_parsing(client, store):
    before = store.count()
    response = client.post("/api/feedback", json=feedback(citations=[{**CITATION, "text": "文" * 500_000}]))
    assert response.status_code == 413 and store.count() == before


def test_a_feedback_row_is_in_a_copy_of_the_database_file_alone(client, config, tmp_path):
    response = client.post("/api/feedback", json=feedback(question="备份里有这一行吗？"))
    assert response.status_code == 200
    copy = tmp_path / "feedback.sqlite3"
    shutil.copyfile(config.feedback_db, copy)  # the -wal file left behind, as a naive backup would
    with sqlite3.connect(copy) as conn:
        rows = conn.execute("SELECT id FROM feedback WHERE question = '备份里有这一行吗？'").fetchall()
    assert rows == [(response.json()["id"],)]


# ---------------------------------------------------------------- routes, methods, content types


@pytest.mark.parametrize("path", ["/gradio_api/upload", "/gradio_api/upload/", "/gradio_api/process_recording"])
def test_gradios_upload_routes_are_refused(client, path):
    response = client.post(path, files={"files": ("x.txt", b"anything")})
    assert response.status_code == 403
    assert error_of(response) == "this server accepts no file uploads"


def test_a_multipart_body_is_refused_anywhere(client):
    response = client.post("/gradio_api/component_server", files={"data": ("x.bin", b"\x00" * 10)})
    assert response.status_code == 415 and "no file uploads" in error_of(response)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/api/ask", "POST"),
        ("GET", "/api/ask/stream", "POST"),
        ("DELETE", "/api/feedback", "POST"),
        ("PUT", "/api/feedback", "POST"),
        ("POST", "/api/documents", "GET"),
        ("DELETE", "/api/documents/000.txt", "GET"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(client, method, path, allow):
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert error_of(response).startswith(f"{method} is not allowed on {path}")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_api_route_is_a_json_404(client, method):
    response = client.request(method, "/api/x")
    assert response.status_code == 404
    assert "no API route /api/x" in error_of(response)


@pytest.mark.parametrize("route", ["/api/ask", "/api/ask/stream", "/api/feedback"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_json_sent_as_another_content_type_is_a_415(client, route, content_type):
    body = json.dumps(feedback() if route == "/api/feedback" else {"question": "小米汽车在哪里？"})
    response = client.post(route, content=body, headers={"content-type": content_type})
    assert response.status_code == 415
    assert error_of(response).endswith(f"application/json, not {content_type}")


def test_json_with_a_charset_is_accepted(client):
    response = client.post(
        "/api/ask",
        content=json.dumps({"question": "小米汽车在哪里？"}),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_gradios_422_does_not_echo_the_input(client):
    secret = "ECHO-ME-" + "x" * 50
    response = client.post("/gradio_api/queue/join", json={"data": secret, "fn_index": secret})
    assert response.status_code == 422
    assert secret not in response.text
    assert error_of(response).startswith("data: Input should be a valid list")


# ---------------------------------------------------------------- the time budget


class SlowQA:
    """An answer that takes `seconds`, checking the deadline every 50 ms like the pipeline's stages."""

    index_info = {"embedder": "stub", "documents": 0, "chunks": 0}
    llm = None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stopped = threading.Event()

    def _work(self, deadline: Deadline | None) -> None:
        end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < end:
                time.sleep(0.05)
                if deadline is not None:
                    deadline.check()
        finally:
            self.stopped.set()

    def ask(self, question, history=None, deadline=None):
        self._work(deadline)
        return Answer(question=question, answer="答。", abstained=True, lang="zh-Hans")

    def ask_stream(self, question, history=None, deadline=None):
        yield "先写一句。"
        self._work(deadline)
        yield self.ask(question)


@pytest.fixture
def slow_client(use_m3_index, store, tmp_path):
    qa = SlowQA(seconds=5)
    config = make_config(use_m3_index, tmp_path, QA_ANSWER_TIMEOUT="0.5")
    with TestClient(create_app(config, qa, store)) as test_client:
        yield qa, test_client


def test_an_answer_past_its_budget_is_a_503_and_its_work_stops(slow_client):
    qa, client = slow_client
    started = time.monotonic()
    response = client.post("/api/ask", json={"question": "小米汽车在哪里？"})
    assert time.monotonic() - started < 2.5
    assert response.status_code == 503 and response.headers["retry-after"]
    assert error_of(response).startswith("no answer within 0.5 s")
    assert qa.stopped.wait(2), "the abandoned answer kept running"


def test_a_stream_past_its_budget_ends_with_an_error_event(slow_client):
    qa, client = slow_client
    started = time.monotonic()
    response = client.post("/api/ask/stream", json={"question": "小米汽车在哪里？"})
    assert time.monotonic() - started < 2.5
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["delta", "error"]
    assert events[-1][1]["error"].startswith("no answer within 0.5 s")


def test_the_pipeline_stops_at_a_spent_deadline(config):
    qa = QA.load(config)
    with pytest.raises(AnswerTimeout):
        qa.ask("小米汽车在哪里？", deadline=Deadline(seconds=1, at=time.monotonic() - 1))
    assert qa.ask("小米汽车在哪里？", deadline=Deadline.after(60)).answer
