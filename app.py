"""`python app.py [--host HOST] [--port PORT]`: the web server (defaults: QA_HOST, QA_PORT).

    /                  the chat page (Gradio): streamed answers, a sources panel, 👍/👎 feedback
    /widget            a compact chat for iframes;   /embed.js   one line to embed it on a site
    /widget/allowed    may the asking page (its Origin) frame the widget? (embed.js asks first)
    /api/ask           question -> answer JSON;      /api/ask/stream   the same as server-sent events
    /api/feedback      store a rating;               /healthz          starting, ready (index and model) or failed
    /doc/{id}          a document whole, `#s=start-end` (or `?s=`) highlights a cited span
    /api/documents     the documents (id, title, issuer, number, date, chunks);
    /api/documents/{id}  one of them with its cleaned text and section headings
    /docs              the API reference (OpenAPI)

The server serves at once; the index and the embedding model load in the background, once for the
life of the process (on first start with no index, the index is built from the seeds folder first).
Meanwhile /healthz says "starting" and the API answers 503 with Retry-After; a load that fails is
logged and reported by /healthz (500) and the chat page. Answers are admitted per process
(server/admission.py): a request that would wait too long is refused at once with 503 and
Retry-After. Configuration: config.Config.
"""

from __future__ import annotations

import os

# Read by gradio and huggingface_hub when they load: without these they phone home at start.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import argparse  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator, Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import Depends, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse  # noqa: E402
from fastapi.sse import EventSourceResponse, ServerSentEvent  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from answering.deadline import AnswerTimeout, Deadline  # noqa: E402
from config import Config  # noqa: E402
from language.normalize import detect_script  # noqa: E402
from qa_types import Answer  # noqa: E402
from server import chat_history  # noqa: E402
from server.admission import Admission, Busy  # noqa: E402
from server.api_models import (  # noqa: E402
    MAX_QUESTION_CHARS,
    AskRequest,
    AskResponse,
    DocumentDetail,
    DocumentSummary,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    answer_payload,
    clean_question,
    fit_history,
)
from server.doc_page import document_html, missing_document_html  # noqa: E402
from server.documents import DocumentCatalog, parse_span  # noqa: E402
from server.errors import add_api_fallback, add_error_handlers, quiet_validation_errors  # noqa: E402
from server.feedback import FeedbackStore, FeedbackUnavailable  # noqa: E402
from server.limits import RequestLimitsMiddleware, require_json, run_within  # noqa: E402
from server.render import (  # noqa: E402
    BUSY_HTML,
    BUSY_RETRY_HTML,
    ERROR_HTML,
    STARTING_HTML,
    STILL_STARTING_HTML,
    answer_html,
    is_finished,
    pending_html,
    question_html,
    startup_failed_html,
    stopped_html,
    timeout_html,
)
from server.security import SecurityHeadersMiddleware, may_frame_widget  # noqa: E402
from server.sse import answer_events_within  # noqa: E402
from server.startup import (  # noqa: E402
    STARTING_RETRY_AFTER_S,
    QAHolder,
    Starting,
    StartupError,
    StartupFailed,
    check_serving_config,
    load_qa,
    warmed_up,
)

log = logging.getLogger("govdoc_qa.server")

STATIC_DIR = Path(__file__).resolve().parent / "server" / "static"
CHAT_SCRIPT = STATIC_DIR / "chat.js"  # runs on the chat page: plain-text copy and aria-labels
PAGE_TITLE = "政务文件问答 · Government documents Q&A"
QUESTION_LABEL = "问题 · Question"
STOP_LABEL = "停止 · Stop"  # shown (by chat.js) only while an answer is being produced
WAIT_NOTE = (
    "上一个问题还在回答中，答完后再发送；输入框里的文字会保留。"
    "The previous question is still being answered: send this one when it is done; your text stays in the box."
)
ANSWER_WAIT_LIMIT_S = 300  # past this an unfinished answer (say, refused by a full queue) no longer blocks asking
# The conversation kept in the browser (gr.BrowserState, localStorage). Gradio encrypts it with this
# key in the browser, which is handed the key with the page: it keeps no secret from anyone, but it
# must stay the same across restarts, or a restart would lose every visitor's history.
HISTORY_STORAGE_KEY = "govdoc-qa-conversation"
HISTORY_SECRET = "govdoc-qa-conversation-v1"
# Run once the saved conversation is back. A shared link's q (`/?q=…`) has been asked by then and
# leaves the address bar: a reload must not ask it again. The mark on <html> tells tests the page is ready.
AFTER_RESTORE_JS = """() => {
  const url = new URL(location.href);
  if (url.searchParams.has("q")) {
    url.searchParams.delete("q");
    history.replaceState(history.state, "", url);
  }
  document.documentElement.dataset.conversationRestored = "true";
}"""

EXAMPLE_QUESTIONS = [
    "萌蒂(中国)制药有限公司是由谁共同投资的？",
    "小米汽車一期佔地面積有多大？",
    "How many high-standard warehouses do the two smart logistics centres at Tongzhou Port have?",
    "全区规模以上先进制造业总产值2025年目标是多少？",
    "北京奔馳在京津冀有多少家供應商？",
    "What is the total area of Majuqiao Wetland Park?",
]

# The chat page's answer step runs as many at once as admission control lets in and queues
# (Admission.capacity), so that a visitor meets the same fast refusal as an API client instead of
# a silent wait in Gradio's queue; the answers in progress are bounded there, not here.
QUEUE_MAX_SIZE = 64  # past this, Gradio tells a visitor its queue is full

FONT_STACK = [
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "system-ui",
    "sans-serif",
]  # system fonts only: a web font would mean a request to another host
MONO_FONT_STACK = ["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"]

# Files served as they are; the widget's own URLs are relative, so they work under a sub-path.
STATIC_ROUTES = {
    "/widget": ("widget.html", "text/html; charset=utf-8"),
    "/widget.js": ("widget.js", "text/javascript; charset=utf-8"),
    "/widget.css": ("widget.css", "text/css; charset=utf-8"),
    "/embed.js": ("embed.js", "text/javascript; charset=utf-8"),
}
ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "the body is not JSON"},
    413: {"model": ErrorResponse, "description": "the body is larger than QA_MAX_BODY_BYTES"},
    415: {"model": ErrorResponse, "description": "the body is not declared as application/json"},
    422: {"model": ErrorResponse, "description": "a field is missing, of the wrong type or over a limit"},
}
ANSWER_ERROR_RESPONSES = {
    **ERROR_RESPONSES,
    500: {"model": ErrorResponse, "description": "the index or the model could not be loaded (the message says why)"},
    503: {
        "model": ErrorResponse,
        "description": "busy (too many answers in progress and waiting), starting (the index and the model are "
        "loading), or no answer within the time budget (QA_ANSWER_TIMEOUT); try again after `Retry-After` seconds",
        "headers": {
            "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
        },
    },
}


# ---------------------------------------------------------------- chat page (Gradio)


def feedback_record(answer: Answer) -> dict:
    return {"question": answer.question, "answer": answer.answer, "citations": [c.to_dict() for c in answer.citations]}


def history_from(turns: dict[int, dict]) -> list[dict[str, str]]:
    """The conversation so far as plain text (the chatbot itself holds HTML), newest last, within
    the API's history limits (the newest turns that fit)."""
    history = []
    for index in sorted(turns):
        history += [
            {"role": "user", "content": turns[index]["question"]},
            {"role": "assistant", "content": turns[index]["answer"]},
        ]
    return fit_history(history)


def asked_in_url(request: gr.Request | None) -> str:
    """The question of a shared link (`/?q=…`), or "" when there is none or it cannot be asked."""
    try:
        return clean_question((request.query_params.get("q") or "") if request else "")
    except ValueError:
        return ""


def chat_theme() -> gr.themes.Base:
    """Gradio's default theme, its muted text (Examples, placeholders) dark enough to read in light
    mode: #52525b on white is 7.7:1, Gradio's #bbbbc2 was 1.9:1. Dark mode keeps Gradio's (9:1)."""
    return gr.themes.Default(primary_hue="blue", font=FONT_STACK, font_mono=MONO_FONT_STACK).set(
        body_text_color_subdued="*neutral_600"
    )


class OneAnswerAtATime:
    """Per visitor (Gradio's session hash): the question accepted and waiting to be answered, and
    whether an answer is still being written, so that a second question is refused until it is.

    Held on the server under a lock, not in gr.State: the answer step runs after every submit,
    refused ones included, and must take an accepted question exactly once.
    """

    def __init__(self, time_limit_s: float = ANSWER_WAIT_LIMIT_S) -> None:
        self.time_limit_s = time_limit_s
        self._lock = threading.Lock()
        self._waiting: dict[str, str] = {}  # session -> accepted question no answer step has taken
        self._since: dict[str, float] = {}  # session -> when its unfinished question was accepted
        self._asked: dict[str, str] = {}  # session -> its unfinished question

    def start(self, session: str, question: str) -> bool:
        """Accepts `question` unless an answer for this session is unfinished (and not stale)."""
        now = time.monotonic()
        with self._lock:
            since = self._since.get(session)
            if since is not None and now - since < self.time_limit_s:
                return False
            for other, started in list(self._since.items()):  # answers that never ran (a full queue)
                if now - started >= self.time_limit_s:
                    self._forget(other)
            self._since[session] = now
            self._waiting[session] = question
            self._asked[session] = question
            return True

    def take(self, session: str) -> str:
        """The accepted question, once; "" when there is none (the submit was refused)."""
        with self._lock:
            return self._waiting.pop(session, "")

    def finish(self, session: str, question: str | None = None) -> None:
        """The session may ask again. With `question`, only if that is still its unfinished one: an
        answer that was stopped ends late, after its asker may have asked the next question."""
        with self._lock:
            if question is None or self._asked.get(session) == question:
                self._forget(session)

    def _forget(self, session: str) -> None:
        self._since.pop(session, None)
        self._waiting.pop(session, None)
        self._asked.pop(session, None)


def pieces_within(pieces: Iterator, deadline: Deadline) -> Iterator:
    """The items of `pieces`, made in a worker thread; AnswerTimeout as soon as `deadline` passes
    before the next one is ready, even if the worker is stuck inside a stage (it stops at the
    pipeline's next deadline check, as for the API: server/limits.run_within)."""
    ready: queue.Queue = queue.Queue()
    done = object()
    abandoned = threading.Event()  # the reader has gone (stopped, timed out): make no more pieces

    def work() -> None:
        try:
            for item in pieces:
                if abandoned.is_set():
                    break
                ready.put(item)
            ready.put(done)
        except BaseException as exc:  # handed to the reader, which raises it
            ready.put(exc)
        finally:
            if hasattr(pieces, "close"):
                pieces.close()  # an LLM's stream, say, is closed rather than read to its end

    threading.Thread(target=work, name="chat-answer", daemon=True).start()
    try:
        while True:
            try:
                item = ready.get(timeout=deadline.remaining())
            except queue.Empty:
                raise AnswerTimeout(deadline.seconds) from None
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        abandoned.set()


def bubble_lang(content) -> str:
    """The script of a question bubble's text (server.render.question_html), for replies in its language."""
    text = html.unescape(re.sub(r"<[^>]*>", "", chat_history.message_text(content)))
    return detect_script(text) if text.strip() else "zh-Hans"


def _pause(seconds: float) -> None:
    """The chat page's wait before asking again after a refusal (tests replace it)."""
    time.sleep(seconds)


def build_chat_ui(
    qa,
    feedback: FeedbackStore,
    documents: DocumentCatalog | None = None,
    admission: Admission | None = None,
    answer_budget: Callable[[bool], float] | None = None,
) -> gr.Blocks:
    """The chat page. Asking is two steps, so that the question shows before any answer is queued:

    1. `accept` (its own queue lane, no limit: it takes milliseconds) puts the question in the chat
       with a "searching…" bubble and empties the box. While an answer is still being written, or
       if the question is unusable, it refuses with a note and leaves the box as it is.
    2. `answer` (queued with the others, streamed) fills that bubble. It never writes to the box,
       so whatever is typed meanwhile stays. Finished answers are saved in the browser
       (server.chat_history), and a reload restores them. While the server is still loading, the
       bubble says "starting…" and the answer waits for the load (up to the time budget); when
       admission control refuses (busy), it says "busy, trying again", waits the Retry-After the
       server gave and asks once more. Once loaded, the answer has the API's time budget
       (`answer_budget(with_llm)`, Config.answer_budget): past it the bubble says so in one line,
       in the asker's language.
    3. `stop` (the 停止 · Stop button, shown by chat.js while an answer is being produced) cancels
       step 2 and marks the bubble as stopped; the question stays in the conversation (saved with
       it) and the box keeps whatever was typed.

    Opening the page restores the saved conversation, and `/?q=…` asks q through step 2 as well.
    `qa`: the QA object, or a QAHolder still loading (server/startup.py).
    """
    holder = QAHolder.of(qa)
    documents = documents or DocumentCatalog(holder)
    admission = admission or Admission.from_config(Config())
    answer_budget = answer_budget or Config().answer_budget
    gate = OneAnswerAtATime()

    def pending_turn(messages: list, question: str) -> list:
        lang = detect_script(question)
        return [
            *messages,
            {"role": "user", "content": question_html(question, lang)},
            {"role": "assistant", "content": pending_html("", lang)},
        ]

    def accept(message: str, messages: list, request: gr.Request) -> tuple:
        try:
            question = clean_question(message or "")
        except ValueError as exc:
            gr.Warning(f"请修改问题 · The question {exc}")
            return gr.skip(), gr.skip()  # what was typed stays in the box, to be corrected
        if not gate.start(request.session_hash, question):
            gr.Warning(WAIT_NOTE)
            return gr.skip(), gr.skip()
        return "", pending_turn(messages, question)

    def restore_and_ask(saved: dict | None, request: gr.Request) -> tuple:
        messages, turns = chat_history.restore(saved)
        question = asked_in_url(request)
        if question and gate.start(request.session_hash, question):
            messages = pending_turn(messages, question)
        if not messages:  # nothing to show: a question asked meanwhile must not be wiped out
            return gr.skip(), gr.skip()
        return messages, turns

    def answer(messages: list, turns: dict[int, dict], request: gr.Request) -> Iterator[tuple]:
        """Streams the accepted question's answer into the last bubble. Yields (chatbot, turns,
        saved conversation); the last two change only when the answer is finished."""
        question = gate.take(request.session_hash)
        if not question:  # the submit was refused: nothing was accepted
            yield gr.skip(), gr.skip(), gr.skip()
            return
        lang = detect_script(question)
        text = ""
        ticket = None
        failure = ERROR_HTML
        waited = False  # a "starting" or "busy" note replaced the "searching…" bubble

        def showing(content: str) -> tuple:
            messages[-1] = {"role": "assistant", "content": content}
            return messages, gr.skip(), gr.skip()

        try:
            if holder.state == "starting":  # cold start: the answer waits for the index and the model
                waited = True
                yield showing(STARTING_HTML)
                holder.wait(answer_budget(False))
            qa = holder.get()
            deadline = Deadline.after(answer_budget(qa.llm is not None))
            try:
                ticket = admission.enter()
            except Busy as busy:  # say so, wait as long as the server asks, then try once more
                waited = True
                yield showing(BUSY_RETRY_HTML)
                _pause(busy.retry_after)
                ticket = admission.enter()
            if not ticket.wait(deadline.remaining()):
                raise AnswerTimeout(deadline.seconds)
            if waited:
                yield showing(pending_html("", lang))
            for piece in pieces_within(qa.ask_stream(question, history_from(turns), deadline=deadline), deadline):
                if isinstance(piece, Answer):
                    ticket.release()
                    messages[-1] = {"role": "assistant", "content": answer_html(piece, documents.dates)}
                    turns = {**turns, len(messages) - 1: feedback_record(piece)}
                    gate.finish(request.session_hash, question)
                    yield messages, turns, chat_history.snapshot(messages, turns)
                    return
                text += piece
                yield showing(pending_html(text, lang))
            log.error("ask_stream ended without a final answer for %r", question[:80])
        except Starting:
            failure = STILL_STARTING_HTML
        except StartupFailed as exc:
            failure = startup_failed_html(str(exc))
        except Busy:
            failure = BUSY_HTML
        except AnswerTimeout as exc:
            log.warning("chat answer abandoned after %g s for %r", exc.seconds, question[:80])
            failure = timeout_html(exc.seconds, lang)
        except Exception:
            log.exception("answer failed for %r", question[:80])
        finally:
            gate.finish(request.session_hash, question)  # also when the answer is cancelled (stopped, cleared)
            if ticket is not None:
                ticket.release()
        messages[-1] = {"role": "assistant", "content": failure}
        yield messages, turns, chat_history.snapshot(messages, turns)

    def stop(messages: list, turns: dict[int, dict], request: gr.Request) -> tuple:
        """The answer in progress is cancelled (Gradio's `cancels`); its bubble keeps what had
        streamed in, marked as stopped, and the conversation is saved with it."""
        gate.finish(request.session_hash)
        if len(messages) < 2 or messages[-1].get("role") != "assistant":
            return gr.skip(), gr.skip()
        content = chat_history.message_text(messages[-1].get("content"))
        if is_finished(content):  # the answer came before the stop did
            return gr.skip(), gr.skip()
        lang = bubble_lang(messages[-2].get("content"))
        messages[-1] = {"role": "assistant", "content": stopped_html(content, lang)}
        return messages, chat_history.snapshot(messages, turns)

    def clear(request: gr.Request) -> tuple:
        gate.finish(request.session_hash)
        return {}, chat_history.empty()

    def record_feedback(turns: dict[int, dict], like: gr.LikeData) -> None:
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        record = turns.get(index)
        if record is None or not isinstance(like.liked, bool):
            return  # not an answer of ours, or a click that only withdraws an earlier rating
        feedback.add(rating="up" if like.liked else "down", source="chat", **record)

    with gr.Blocks(title=PAGE_TITLE, fill_height=True, analytics_enabled=False) as ui:
        gr.HTML(
            '<h1>政务文件问答</h1><p>每个回答都引用原文出处。<span lang="en">Every answer quotes and cites the '
            "passages it rests on, or says the documents do not answer the question.</span></p>",
            elem_id="qa-header",
        )
        turns = gr.State({})
        saved = gr.BrowserState(chat_history.empty(), storage_key=HISTORY_STORAGE_KEY, secret=HISTORY_SECRET)
        chatbot = gr.Chatbot(
            elem_id="chat",
            label="对话 · Chat",
            show_label=False,  # on a phone the floating label covered the first words of the chat
            scale=1,
            min_height=360,
            layout="bubble",
            autoscroll=False,  # chat.js scrolls to the start of the new question and answer instead
            render_markdown=False,  # messages are HTML we escaped ourselves (server.render)
            latex_delimiters=[],  # "$" in a document is money, not maths
            sanitize_html=True,
            allow_tags=False,
            # No Gradio copy button: it copies a message's HTML. Each answer has its own, which
            # copies plain text (server.render.copy_button_html, server/static/chat.js).
            buttons=[],
            feedback_options=("Like", "Dislike"),
            placeholder="请提出关于文件的问题，或点击下方示例。Ask about the documents, or pick an example below.",
        )
        question = gr.Textbox(
            elem_id="question",
            label=QUESTION_LABEL,  # chat.js also puts it in aria-label: Gradio's <label> holds the send button
            show_label=False,
            max_length=MAX_QUESTION_CHARS,
            submit_btn="发送 Send",
            autofocus=True,
            placeholder="输入问题，按回车发送 · Type a question and press Enter",
        )
        stop_button = gr.Button(STOP_LABEL, elem_id="stop-answer", variant="stop", size="sm")
        gr.Examples(
            [[q] for q in EXAMPLE_QUESTIONS],
            inputs=[question],
            label="示例问题 · Examples",
            examples_per_page=len(EXAMPLE_QUESTIONS),
        )
        answer_step = dict(
            fn=answer,
            inputs=[chatbot, turns],
            outputs=[chatbot, turns, saved],
            api_visibility="private",
            show_progress="hidden",
        )
        asked = question.submit(
            accept,
            [question, chatbot],
            [question, chatbot],
            api_name="accept",
            api_visibility="private",
            concurrency_limit=None,
            concurrency_id="accept",
            trigger_mode="multiple",  # a second Enter while answering gets the note, not silence
            show_progress="hidden",
        ).then(api_name="answer", **answer_step)
        restored = ui.load(restore_and_ask, [saved], [chatbot, turns], api_visibility="private", queue=False)
        restored.then(None, js=AFTER_RESTORE_JS)
        loaded = restored.then(**answer_step)
        chatbot.like(record_feedback, [turns], None, api_visibility="private", queue=False)
        chatbot.clear(clear, None, [turns, saved], api_visibility="private", queue=False, cancels=[asked, loaded])
        stop_button.click(
            stop,
            [chatbot, turns],
            [chatbot, saved],
            api_name="stop",
            api_visibility="private",
            queue=False,
            cancels=[asked, loaded],
        )
    ui.queue(default_concurrency_limit=admission.capacity, max_size=QUEUE_MAX_SIZE)
    return ui


# ---------------------------------------------------------------- the application


def new_fastapi() -> FastAPI:
    settings = dict(
        title="Government documents Q&A",
        version="0.1.0",
        description="Citation-first answers over the indexed documents. The chat page is at `/`.",
    )
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # then /docs loads Swagger UI from a CDN, which offline sites cannot reach
        log.warning("fastapi-offline is not installed: /docs will fetch Swagger UI from a CDN")
        return FastAPI(**settings)
    return FastAPIOffline(static_url="/docs-static", **settings)  # Swagger UI served from this server


@dataclass(frozen=True)
class AnswerJob:
    """A question let in to be answered: the loaded QA, the question and history, the time budget."""

    qa: object
    question: str
    history: list[dict]
    deadline: Deadline


def create_app(config: Config, qa, feedback: FeedbackStore, admission: Admission | None = None) -> FastAPI:
    """`qa`: the QA object, or a QAHolder that a background load makes ready (see main).
    `admission`: shared by the API and the chat page; by default sized from `config`."""
    app = new_fastapi()
    holder = QAHolder.of(qa)
    admission = admission or Admission.from_config(config)
    documents = DocumentCatalog(holder)
    add_error_handlers(app)
    # Innermost of the three: a refused body still gets the CORS and security headers.
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=config.max_body_bytes)
    # Exactly the configured origins may call /api from a browser. Having our own CORSMiddleware
    # also stops Gradio from adding its permissive one to the routes it serves.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.allowed_origins),
        allow_credentials=False,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, allowed_origins=config.allowed_origins)

    json_body = [Depends(require_json)]

    async def admitted(request: AskRequest) -> AsyncIterator[AnswerJob]:
        """Before an answer starts (and before a stream sends its headers): Starting (503) while
        the index and the model load, Busy (503) at once when the wait would be too long; else a
        slot, held until the answer (or the stream) ends. Waiting for the slot counts in the budget."""
        qa = holder.get()
        deadline = Deadline.after(config.answer_budget(with_llm=qa.llm is not None))
        ticket = admission.enter()
        try:
            if not await ticket.wait_async(deadline.remaining()):
                raise AnswerTimeout(deadline.seconds)
            yield AnswerJob(qa, request.question, request.history_dicts(), deadline)
        finally:
            ticket.release()

    admitted_job = Depends(admitted)

    @app.post(
        "/api/ask",
        response_model=AskResponse,
        responses=ANSWER_ERROR_RESPONSES,
        dependencies=json_body,
        tags=["answers"],
    )
    async def ask(job: AnswerJob = admitted_job) -> dict:
        """Answer a question with citations, or abstain and list the closest passages as `related`."""
        answer = await run_within(job.deadline, job.qa.ask, job.question, job.history, deadline=job.deadline)
        return answer_payload(answer, documents.dates)

    @app.post(
        "/api/ask/stream",
        response_class=EventSourceResponse,
        responses=ANSWER_ERROR_RESPONSES,
        dependencies=json_body,
        tags=["answers"],
    )
    async def ask_stream(job: AnswerJob = admitted_job) -> AsyncIterator[ServerSentEvent]:
        """The answer as server-sent events: `delta` (`{"text": piece}`) while it is written, then
        `answer` (the same JSON as /api/ask), or `error` (`{"error": message}`) if it fails or
        takes longer than the time budget. A refusal (busy or starting) comes before the stream:
        503 with Retry-After."""
        events = answer_events_within(job.qa, job.question, job.history, documents.dates, job.deadline)
        async for item in events:
            yield item

    @app.post(
        "/api/feedback",
        response_model=FeedbackResponse,
        responses=ERROR_RESPONSES,
        dependencies=json_body,
        tags=["feedback"],
    )
    def post_feedback(request: FeedbackRequest) -> dict:
        """Store a 👍 (`up`) or 👎 (`down`) on an answer, with its question and citations."""
        row_id = feedback.add(
            rating=request.rating,
            question=request.question,
            answer=request.answer,
            citations=[c.model_dump() for c in request.citations],
            source=request.source,
        )
        return {"id": row_id}

    @app.get(
        "/healthz",
        response_model=HealthResponse,
        responses={
            500: {
                "description": '`{"status": "failed", "error": message}`: the index or the model could not be loaded'
            },
            503: {"description": '`{"status": "starting"}` (with Retry-After): the index and the model are loading'},
        },
        tags=["status"],
    )
    def healthz() -> dict | JSONResponse:
        """`ok` with the index's figures once the server can answer; `starting` (503) while it loads."""
        if holder.state == "starting":
            return JSONResponse(
                {"status": "starting"}, status_code=503, headers={"Retry-After": str(STARTING_RETRY_AFTER_S)}
            )
        if holder.state == "failed":
            return JSONResponse({"status": "failed", "error": holder.error}, status_code=500)
        qa = holder.get()
        info = qa.index_info
        return {
            "status": "ok",
            "index_loaded": True,
            "embedder": info["embedder"],
            "documents": info["documents"],
            "chunks": info["chunks"],
            "llm": qa.llm is not None,
        }

    @app.get("/api/documents", response_model=list[DocumentSummary], tags=["documents"])
    def list_documents() -> list[dict]:
        """The indexed documents with the header fields parsed at ingest (empty where the text states none)."""
        return [doc.summary() for doc in documents.all()]

    @app.get(
        "/api/documents/{doc_id:path}",
        response_model=DocumentDetail,
        responses={404: {"model": ErrorResponse, "description": "no document with this id"}},
        tags=["documents"],
    )
    def get_document(doc_id: str) -> dict:
        """One document: its cleaned text (citation offsets index into it), header fields and section headings."""
        doc = documents.get(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document with id {doc_id!r}; GET /api/documents lists them")
        return doc.detail()

    @app.get("/doc/{doc_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def view_document(doc_id: str, s: str | None = None) -> HTMLResponse:
        doc = documents.get(doc_id)
        if doc is None:
            return HTMLResponse(missing_document_html(), status_code=404)
        return HTMLResponse(document_html(doc, parse_span(s, len(doc.text))))

    @app.get("/widget/allowed", include_in_schema=False)
    def widget_allowed(request: Request) -> JSONResponse:
        """Asked by embed.js before it loads the widget: may the page asking (its Origin) frame it?
        Readable from any origin, so that a site not on the list can be told so in words."""
        origin = request.headers.get("origin", "")
        allowed = may_frame_widget(origin, request.headers.get("host", ""), config.allowed_origins)
        return JSONResponse(
            {"allowed": allowed, "origin": origin, "setting": "QA_ALLOWED_ORIGINS"},
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store", "Vary": "Origin"},
        )

    for route, (file_name, media_type) in STATIC_ROUTES.items():
        app.add_api_route(
            route, _static_file(STATIC_DIR / file_name, media_type), methods=["GET"], include_in_schema=False
        )
    add_api_fallback(app)  # after every /api route: 404/405 for the rest of /api

    # Mounted last: a route declared after the mount at "/" would never be reached.
    app = gr.mount_gradio_app(
        app,
        build_chat_ui(holder, feedback, documents, admission, config.answer_budget),
        path="/",
        root_path=config.root_path or None,
        theme=chat_theme(),
        css_paths=[STATIC_DIR / "chat.css"],
        js=CHAT_SCRIPT.read_text(encoding="utf-8"),
        footer_links=[],
        run_history=False,
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        show_error=False,
        max_file_size="1mb",
    )  # the chat takes no files; server/limits.py refuses Gradio's upload routes, this caps them all the same
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):  # Gradio's own app
            quiet_validation_errors(route.app)
    return app


def _static_file(path: Path, media_type: str):
    def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the chat page, widget and API.")
    parser.add_argument("--host", help="interface to listen on (default: QA_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: QA_PORT or 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        flags = {"host": args.host, "port": args.port}
        # Only flags actually given: passing None would hide QA_HOST / QA_PORT from Config.from_env.
        config = Config.from_env(**{name: value for name, value in flags.items() if value is not None})
        check_serving_config(config)
    except (ValueError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # opened first: a wrong path should not wait for the model to load before it is reported
        feedback = FeedbackStore.from_config(config)  # PostgreSQL at QA_DATABASE_URL, else SQLite at QA_FEEDBACK_DB
    except FeedbackUnavailable as exc:  # names the database (password hidden) and says why
        print(f"error: {exc}", file=sys.stderr)
        return 2
    holder = QAHolder()
    try:
        # root_path: the proxy strips the sub-path (see docs/deploy.md); uvicorn puts it back in
        # each request's scope, so every URL the app builds carries it.
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config, holder, feedback),
                host=config.host,
                port=config.port,
                root_path=config.root_path,
                log_level="info",
            )
        )
        load_once_serving(server, holder, lambda: warmed_up(load_qa(config)))
        try:
            server.run()
        except KeyboardInterrupt:  # Ctrl+C, as uvicorn.run takes it
            pass
    except (ValueError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        feedback.close()
        if holder.loading:  # stopped while loading: the loader thread may be inside the ONNX runtime,
            sys.stdout.flush()  # which aborts the process if the interpreter shuts down around it;
            sys.stderr.flush()  # end at once instead (nothing it holds needs saving)
            os._exit(0)
    return 0


def load_once_serving(server: uvicorn.Server, holder: QAHolder, load) -> None:
    """Served at once, loaded in the background: `holder.start(load)` as soon as uvicorn listens
    (/healthz says "starting" until the load ends; a failure is logged, printed as `error: …` and
    reported by /healthz). Not earlier: the load's Python work would compete with starting the
    server for the interpreter lock, and the page would be served later."""

    def wait_then_load() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.01)
        holder.start(load)

    threading.Thread(target=wait_then_load, name="load-when-serving", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
