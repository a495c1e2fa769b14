"""`python app.py [--host HOST] [--port PORT]`: the web server (defaults: QA_HOST, QA_PORT).

    /                  the chat page (Gradio): streamed answers, a sources panel, 👍/👎 feedback
    /widget            a compact chat for iframes;   /embed.js   one line to embed it on a site
    /api/ask           question -> answer JSON;      /api/ask/stream   the same as server-sent events
    /api/feedback      store a rating;               /healthz          index and model status
    /doc/{id}          a document whole, `#s=start-end` (or `?s=`) highlights a cited span
    /api/documents     the documents (id, title, issuer, number, date, chunks);
    /api/documents/{id}  one of them with its cleaned text and section headings
    /docs              the API reference (OpenAPI)

On first start with no index, the index is built from the seeds folder; the index and the
embedding model then load once for the life of the process. Configuration: config.Config.
"""

from __future__ import annotations

import os

# Read by gradio and huggingface_hub when they load: without these they phone home at start.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import FileResponse, HTMLResponse  # noqa: E402
from fastapi.sse import EventSourceResponse, ServerSentEvent  # noqa: E402

from config import Config  # noqa: E402
from language.normalize import detect_script  # noqa: E402
from qa_types import Answer  # noqa: E402
from server.api_models import (  # noqa: E402
    MAX_HISTORY_TURNS,
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
)
from server.doc_page import document_html, missing_document_html  # noqa: E402
from server.documents import DocumentCatalog, parse_span  # noqa: E402
from server.errors import add_error_handlers  # noqa: E402
from server.feedback import FeedbackStore  # noqa: E402
from server.render import ERROR_HTML, answer_html, pending_html, question_html  # noqa: E402
from server.security import SecurityHeadersMiddleware  # noqa: E402
from server.sse import answer_events  # noqa: E402
from server.startup import StartupError, check_serving_config, load_qa  # noqa: E402

log = logging.getLogger("govdoc_qa.server")

STATIC_DIR = Path(__file__).resolve().parent / "server" / "static"
CHAT_SCRIPT = STATIC_DIR / "chat.js"  # runs on the chat page: plain-text copy and aria-labels
PAGE_TITLE = "政务文件问答 · Government documents Q&A"

EXAMPLE_QUESTIONS = [
    "萌蒂(中国)制药有限公司是由谁共同投资的？",
    "小米汽車一期佔地面積有多大？",
    "How many high-standard warehouses do the two smart logistics centres at Tongzhou Port have?",
    "全区规模以上先进制造业总产值2025年目标是多少？",
    "北京奔馳在京津冀有多少家供應商？",
    "What is the total area of Majuqiao Wetland Park?",
]

# Most of an answer's time is spent waiting (on the LLM server when one is configured), and QA
# already serialises the CPU-heavy query embedding; a few answers per core keep both cores busy
# without one slow answer holding up everyone (Gradio's default is one at a time per event).
ANSWERS_PER_CORE = 2
QUEUE_MAX_SIZE = 64  # past this, a visitor is told the queue is full instead of waiting for minutes

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
    422: {"model": ErrorResponse, "description": "a field is missing, of the wrong type or over a limit"},
}


# ---------------------------------------------------------------- chat page (Gradio)


def feedback_record(answer: Answer) -> dict:
    return {"question": answer.question, "answer": answer.answer, "citations": [c.to_dict() for c in answer.citations]}


def encodable(text: str) -> str:
    """`text` with unpaired surrogates replaced by U+FFFD, so that it can be encoded as UTF-8."""
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def history_from(turns: dict[int, dict]) -> list[dict[str, str]]:
    """The conversation so far as plain text (the chatbot itself holds HTML), newest last."""
    history = []
    for index in sorted(turns):
        history += [
            {"role": "user", "content": turns[index]["question"]},
            {"role": "assistant", "content": turns[index]["answer"]},
        ]
    return history[-MAX_HISTORY_TURNS:]


def build_chat_ui(qa, feedback: FeedbackStore, documents: DocumentCatalog | None = None) -> gr.Blocks:
    documents = documents or DocumentCatalog(qa)

    def respond(message: str, messages: list, turns: dict[int, dict]) -> Iterator[tuple]:
        """Streams one answer into the chat. `turns` maps each answer's message index to what
        a 👍/👎 on it should store."""
        try:
            question = clean_question(message or "")
        except ValueError as exc:
            gr.Warning(f"请修改问题 · The question {exc}")
            # The text goes back into the box so nothing typed is lost; Gradio cannot send a lone
            # surrogate to the browser (the stream would drop), so those become U+FFFD.
            yield encodable(message or ""), messages, turns
            return
        lang = detect_script(question)
        messages = [
            *messages,
            {"role": "user", "content": question_html(question)},
            {"role": "assistant", "content": pending_html("", lang)},
        ]
        yield "", messages, turns
        text = ""
        try:
            for piece in qa.ask_stream(question, history_from(turns)):
                if isinstance(piece, Answer):
                    messages[-1] = {"role": "assistant", "content": answer_html(piece, documents.dates)}
                    yield "", messages, {**turns, len(messages) - 1: feedback_record(piece)}
                    return
                text += piece
                messages[-1] = {"role": "assistant", "content": pending_html(text, lang)}
                yield "", messages, turns
            log.error("ask_stream ended without a final answer for %r", question[:80])
        except Exception:
            log.exception("answer failed for %r", question[:80])
        messages[-1] = {"role": "assistant", "content": ERROR_HTML}
        yield "", messages, turns

    def record_feedback(turns: dict[int, dict], like: gr.LikeData) -> None:
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        record = turns.get(index)
        if record is None or not isinstance(like.liked, bool):
            return  # not an answer of ours, or a click that only withdraws an earlier rating
        feedback.add(rating="up" if like.liked else "down", source="chat", **record)

    with gr.Blocks(title=PAGE_TITLE, fill_height=True, analytics_enabled=False) as ui:
        gr.HTML(
            "<h1>政务文件问答</h1><p>每个回答都引用原文出处。Every answer quotes and cites the passages it "
            "rests on, or says the documents do not answer the question.</p>",
            elem_id="qa-header",
        )
        turns = gr.State({})
        chatbot = gr.Chatbot(
            elem_id="chat",
            label="对话 · Chat",
            scale=1,
            min_height=360,
            layout="bubble",
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
            show_label=False,
            max_length=MAX_QUESTION_CHARS,
            submit_btn="发送 Send",
            autofocus=True,
            placeholder="输入问题，按回车发送 · Type a question and press Enter",
        )
        gr.Examples(
            [[q] for q in EXAMPLE_QUESTIONS],
            inputs=[question],
            label="示例问题 · Examples",
            examples_per_page=len(EXAMPLE_QUESTIONS),
        )
        question.submit(
            respond,
            [question, chatbot, turns],
            [question, chatbot, turns],
            api_visibility="private",
            show_progress="hidden",
        )
        chatbot.like(record_feedback, [turns], None, api_visibility="private", queue=False)
        chatbot.clear(lambda: {}, None, turns, api_visibility="private", queue=False)
    ui.queue(default_concurrency_limit=ANSWERS_PER_CORE * (os.cpu_count() or 1), max_size=QUEUE_MAX_SIZE)
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


def create_app(config: Config, qa, feedback: FeedbackStore) -> FastAPI:
    app = new_fastapi()
    documents = DocumentCatalog(qa)
    add_error_handlers(app)
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

    @app.post("/api/ask", response_model=AskResponse, responses=ERROR_RESPONSES, tags=["answers"])
    def ask(request: AskRequest) -> dict:
        """Answer a question with citations, or abstain and list the closest passages as `related`."""
        return answer_payload(qa.ask(request.question, request.history_dicts()), documents.dates)

    @app.post("/api/ask/stream", response_class=EventSourceResponse, responses=ERROR_RESPONSES, tags=["answers"])
    def ask_stream(request: AskRequest) -> Iterator[ServerSentEvent]:
        """The answer as server-sent events: `delta` (`{"text": piece}`) while it is written, then
        `answer` (the same JSON as /api/ask), or `error` (`{"error": message}`) if it fails."""
        yield from answer_events(qa, request.question, request.history_dicts(), documents.dates)

    @app.post("/api/feedback", response_model=FeedbackResponse, responses=ERROR_RESPONSES, tags=["feedback"])
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

    @app.get("/healthz", response_model=HealthResponse, tags=["status"])
    def healthz() -> dict:
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

    for route, (file_name, media_type) in STATIC_ROUTES.items():
        app.add_api_route(
            route, _static_file(STATIC_DIR / file_name, media_type), methods=["GET"], include_in_schema=False
        )

    # Mounted last: a route declared after the mount at "/" would never be reached.
    return gr.mount_gradio_app(
        app,
        build_chat_ui(qa, feedback, documents),
        path="/",
        root_path=config.root_path or None,
        theme=gr.themes.Default(primary_hue="blue", font=FONT_STACK, font_mono=MONO_FONT_STACK),
        css_paths=[STATIC_DIR / "chat.css"],
        js=CHAT_SCRIPT.read_text(encoding="utf-8"),
        footer_links=[],
        run_history=False,
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        show_error=False,
        max_file_size="1mb",
    )  # the chat takes no files; this caps Gradio's upload route all the same


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
        feedback = FeedbackStore(config.feedback_db)
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot open the feedback database {config.feedback_db}: {exc}", file=sys.stderr)
        return 2
    try:
        qa = load_qa(config)
        # root_path: the proxy strips the sub-path (see docs/deploy.md); uvicorn puts it back in
        # each request's scope, so every URL the app builds carries it.
        uvicorn.run(
            create_app(config, qa, feedback),
            host=config.host,
            port=config.port,
            root_path=config.root_path,
            log_level="info",
        )
    except (ValueError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        feedback.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
