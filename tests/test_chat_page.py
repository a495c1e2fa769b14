"""The chat page's Python side, without a model or a browser: the conversation kept in the browser
(server.chat_history), one answer at a time per visitor (app.OneAnswerAtATime), the shared link
(`?q=`), how the page is wired (app.build_chat_ui), its time budget per answer and its stop step,
and which host sites may frame the widget (server.security.may_frame_widget).
tests/test_browser.py checks the page itself."""

from __future__ import annotations

import threading
import time
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest

from answering.deadline import AnswerTimeout, Deadline
from app import QUESTION_LABEL, STOP_LABEL, OneAnswerAtATime, asked_in_url, build_chat_ui, pieces_within
from qa_types import Answer
from server import chat_history
from server.api_models import MAX_QUESTION_CHARS
from server.render import answer_html, pending_html, question_html, share_url, stopped_html, timeout_html
from server.security import may_frame_widget

RECORD = {"question": "问题一", "answer": "回答一 [1]", "citations": [{"n": 1, "quote": "原文。"}]}


def conversation(turns: int) -> tuple[list[dict], dict[int, dict]]:
    messages, records = [], {}
    for i in range(turns):
        messages += [
            {"role": "user", "content": [{"type": "text", "text": f'<p class="qa-question">问{i}</p>'}]},
            {"role": "assistant", "content": [{"type": "text", "text": f'<p class="qa-answer">答{i}</p>'}]},
        ]
        records[2 * i + 1] = {**RECORD, "question": f"问{i}"}
    return messages, records


# ---------------------------------------------------------------- the saved conversation


def test_snapshot_is_plain_json_and_restores_the_same_conversation():
    messages, turns = conversation(2)
    saved = chat_history.snapshot(messages, turns)
    assert saved["version"] == chat_history.VERSION
    assert saved["messages"][0] == {"role": "user", "content": '<p class="qa-question">问0</p>'}
    assert saved["turns"] == {"1": turns[1], "3": turns[3]}  # JSON object keys are strings
    restored_messages, restored_turns = chat_history.restore(saved)
    assert [m["content"] for m in restored_messages] == [m["content"] for m in saved["messages"]]
    assert restored_turns == turns


def test_snapshot_keeps_the_newest_turns_and_renumbers_them():
    messages, turns = conversation(chat_history.MAX_SAVED_TURNS + 3)
    saved = chat_history.snapshot(messages, turns)
    assert len(saved["messages"]) == 2 * chat_history.MAX_SAVED_TURNS
    assert saved["messages"][0]["content"] == '<p class="qa-question">问3</p>'
    assert saved["turns"]["1"]["question"] == "问3" and len(saved["turns"]) == chat_history.MAX_SAVED_TURNS
    assert chat_history.restore(saved)[1][1]["question"] == "问3"


@pytest.mark.parametrize(
    "saved",
    [
        None,
        "text",
        [],
        {"version": 99, "messages": [], "turns": {}},
        {"version": 1, "messages": "x", "turns": {}},
        {"version": 1, "messages": [{"role": "system", "content": "x"}], "turns": {}},
        {"version": 1, "messages": [{"role": "user", "content": 7}], "turns": {}},
        {"version": 1, "messages": [{"role": "user", "content": "x" * (chat_history.MAX_MESSAGE_CHARS + 1)}]},
    ],
)
def test_an_unusable_snapshot_gives_an_empty_conversation(saved):
    assert chat_history.restore(saved) == ([], {})


def test_an_unusable_turn_record_loses_only_its_rating_context():
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 2
    saved = {
        "version": 1,
        "messages": messages,
        "turns": {
            "1": RECORD,
            "3": {"question": "q", "answer": 5, "citations": []},  # wrong type
            "0": RECORD,  # a question, not an answer
            "7": RECORD,  # no such message
            "x": RECORD,
        },
    }
    restored, turns = chat_history.restore(saved)
    assert len(restored) == 4 and turns == {1: RECORD}
    too_big = {**RECORD, "answer": "长" * chat_history.MAX_RECORD_CHARS}
    assert chat_history.restore({**saved, "turns": {"1": too_big}})[1] == {}


# ---------------------------------------------------------------- one answer at a time


def test_a_second_question_waits_until_the_first_is_answered():
    gate = OneAnswerAtATime()
    assert gate.start("visitor", "第一个问题")
    assert not gate.start("visitor", "第二个问题")  # refused while the first is unanswered
    assert gate.start("someone else", "别人的问题")  # per visitor
    assert gate.take("visitor") == "第一个问题"
    assert gate.take("visitor") == ""  # taken once: the answer step of a refused submit gets nothing
    assert not gate.start("visitor", "第二个问题")  # still being answered
    gate.finish("visitor")
    assert gate.start("visitor", "第二个问题") and gate.take("visitor") == "第二个问题"


def test_an_answer_that_never_came_stops_blocking_after_the_time_limit():
    gate = OneAnswerAtATime(time_limit_s=0)
    assert gate.start("visitor", "一") and gate.start("visitor", "二")
    assert gate.take("visitor") == "二"


def test_clearing_forgets_an_accepted_question():
    gate = OneAnswerAtATime()
    gate.start("visitor", "问题")
    gate.finish("visitor")
    assert gate.take("visitor") == ""


# ---------------------------------------------------------------- the shared link


def test_share_link_asks_the_question_as_it_stands_on_its_own():
    answer = Answer("它在哪里？", "在马驹桥镇 [1]", False, "zh-Hans", standalone_question="萌蒂公司在哪里？&x=1")
    assert parse_qs(share_url(answer).removeprefix("?")) == {"q": ["萌蒂公司在哪里？&x=1"]}
    plain = Answer("小米汽车 在哪里？", "……", True, "zh-Hans")
    assert parse_qs(share_url(plain).removeprefix("?")) == {"q": ["小米汽车 在哪里？"]}


class Buttons(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "button":
            self.found.append(dict(attrs))


def test_each_answer_offers_its_link_in_its_language():
    answer = Answer('<b>"问"</b>', "答。", False, "zh-Hant")
    parser = Buttons()
    parser.feed(answer_html(answer))
    link = next(b for b in parser.found if b["class"] == "qa-copy-link")
    assert link["value"] == share_url(answer) and link["lang"] == "zh-Hant"
    assert "<b>" not in answer_html(answer)
    assert '<p class="qa-answer" lang="zh-Hant">' in answer_html(answer)
    assert question_html("Where?", "en") == '<p class="qa-question" lang="en">Where?</p>'


@pytest.mark.parametrize(
    "query, asked",
    [
        ({"q": "  小米汽车在哪里？ "}, "小米汽车在哪里？"),
        ({}, ""),
        ({"q": "   "}, ""),
        ({"q": "问" * (MAX_QUESTION_CHARS + 1)}, ""),
        ({"q": "\ud800问"}, ""),
    ],
)
def test_the_question_of_a_shared_link(query, asked):
    assert asked_in_url(SimpleNamespace(query_params=query)) == asked
    assert asked_in_url(None) == ""


# ---------------------------------------------------------------- the page's wiring


def test_the_page_asks_in_two_steps_and_keeps_the_conversation_in_the_browser():
    ui = build_chat_ui(qa=None, feedback=None, documents=SimpleNamespace(dates={}))
    config = ui.get_config_file()
    props = {c.get("props", {}).get("elem_id"): c["props"] for c in config["components"]}
    assert props["chat"]["autoscroll"] is False and props["chat"]["show_label"] is False
    assert props["question"]["label"] == QUESTION_LABEL
    browser_state = next(c for c in config["components"] if c["type"] == "browserstate")["props"]
    assert browser_state["storage_key"] == "govdoc-qa-conversation"
    steps = {d["api_name"]: d for d in config["dependencies"]}
    # The question shows at once: accepting it waits for no answer; a second Enter is heard, not dropped.
    assert ui.fns[steps["accept"]["id"]].concurrency_limit is None and steps["accept"]["trigger_mode"] == "multiple"
    assert steps["answer"]["trigger_after"] == steps["accept"]["id"]
    assert ui.fns[steps["answer"]["id"]].concurrency_limit == "default"  # answers share the answering lanes
    assert ui.fns[steps["stop"]["id"]].fn.__name__ == "stop"
    stop_button = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "stop-answer")
    assert stop_button["props"]["value"] == STOP_LABEL
    # Stopping cancels the answer step, whether a question was typed or came from a shared link
    # (Gradio adds the cancelling as a second listener on the same click).
    on_stop_click = [d for d in config["dependencies"] if d["targets"] == steps["stop"]["targets"]]
    answer_steps = {d["id"] for d in config["dependencies"] if d["api_name"].startswith("answer")}
    assert {i for d in on_stop_click for i in d.get("cancels", [])} == answer_steps and len(answer_steps) == 2


def test_a_stopped_answer_does_not_free_the_next_question_it_did_not_ask():
    gate = OneAnswerAtATime()
    gate.start("visitor", "第一个问题")
    gate.finish("visitor")  # the stop button: the visitor may ask again at once
    assert gate.start("visitor", "第二个问题")
    gate.finish("visitor", "第一个问题")  # the first answer's step ends late: it must not end the second
    assert not gate.start("visitor", "第三个问题")
    assert gate.take("visitor") == "第二个问题"
    gate.finish("visitor", "第二个问题")
    assert gate.start("visitor", "第三个问题")


# ---------------------------------------------------------------- the time budget (issue 13)


class StuckQA:
    """Streams one piece, then hangs inside a stage (as a stuck model or LLM would) until released."""

    index_info = {"embedder": "stub", "documents": 0, "chunks": 0}
    llm = None

    def __init__(self) -> None:
        self.release = threading.Event()
        self.deadlines: list = []

    def ask_stream(self, question, history=None, deadline=None):
        self.deadlines.append(deadline)
        yield "部分回答"
        self.release.wait(30)
        yield Answer(question=question, answer="太晚了。", abstained=True, lang="zh-Hans")


def chat_step(ui, api_name: str):
    steps = {d["api_name"]: d for d in ui.get_config_file()["dependencies"]}
    return ui.fns[steps[api_name]["id"]].fn


def ask_on_the_page(ui, question: str, session: str = "visitor") -> list[str]:
    """The page's two steps for one question; the last bubble after each yield of the answer step."""
    request = SimpleNamespace(session_hash=session, query_params={})
    _, messages = chat_step(ui, "accept")(question, [], request)
    return [shown[-1]["content"] for shown, *_ in chat_step(ui, "answer")(messages, {}, request)]


@pytest.mark.parametrize(
    "question, lang, line",
    [
        ("萌蒂公司在哪里？", "zh-Hans", "0.5 秒内未能给出回答，请稍后再试。"),
        ("萌蒂公司在哪裡？", "zh-Hant", "0.5 秒內未能給出回答，請稍後再試。"),
        ("Where is the company?", "en", "No answer within 0.5 s; please try again later."),
    ],
)
def test_an_answer_past_its_time_budget_ends_with_one_line_in_the_askers_language(question, lang, line):
    qa = StuckQA()
    ui = build_chat_ui(qa, feedback=None, documents=SimpleNamespace(dates={}), answer_budget=lambda llm: 0.5)
    started = time.monotonic()
    shown = ask_on_the_page(ui, question)
    elapsed = time.monotonic() - started
    qa.release.set()
    assert elapsed < 2, f"the chat waited {elapsed:.1f} s for a stage that never ended"
    assert shown[-1] == timeout_html(0.5, lang) == f'<p class="qa-error" lang="{lang}">{line}</p>'
    assert shown[-2] == pending_html("部分回答", lang)  # what had streamed in showed meanwhile
    assert qa.deadlines[0].seconds == 0.5  # the pipeline checks the same deadline between its stages


def test_the_budget_with_an_llm_is_the_apis():
    qa = StuckQA()
    qa.llm = object()
    asked = []

    def budget(with_llm: bool) -> float:
        asked.append(with_llm)
        return 0.3

    ui = build_chat_ui(qa, feedback=None, documents=SimpleNamespace(dates={}), answer_budget=budget)
    shown = ask_on_the_page(ui, "萌蒂公司在哪里？")
    qa.release.set()
    assert asked == [True] and "0.3 秒内未能给出回答" in shown[-1]


def test_pieces_within_passes_items_and_errors_through():
    assert list(pieces_within(iter(["一", "二"]), Deadline.after(5))) == ["一", "二"]

    def failing():
        yield "一"
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        list(pieces_within(failing(), Deadline.after(5)))

    def slow():
        time.sleep(5)
        yield "晚"

    started = time.monotonic()
    with pytest.raises(AnswerTimeout):
        list(pieces_within(slow(), Deadline.after(0.2)))
    assert time.monotonic() - started < 1


# ---------------------------------------------------------------- stopping an answer


def test_stop_marks_the_answer_stopped_keeps_what_streamed_and_saves_it():
    ui = build_chat_ui(qa=None, feedback=None, documents=SimpleNamespace(dates={}))
    stop = chat_step(ui, "stop")
    request = SimpleNamespace(session_hash="visitor")
    finished = [
        {"role": "user", "content": question_html("问题一", "zh-Hans")},
        {"role": "assistant", "content": answer_html(Answer("问题一", "回答一。", False, "zh-Hans"))},
    ]
    streaming = [
        *finished,
        {"role": "user", "content": [{"type": "text", "text": question_html("Where is it?", "en")}]},
        {"role": "assistant", "content": [{"type": "text", "text": pending_html("It is in", "en")}]},
    ]
    messages, saved = stop(streaming, {1: RECORD}, request)
    assert messages[-1]["content"] == stopped_html(pending_html("It is in", "en"), "en")
    assert 'It is in</p><p class="qa-stopped" lang="en">Stopped.</p>' in messages[-1]["content"]
    assert [m["content"] for m in saved["messages"]][2:] == [
        question_html("Where is it?", "en"),
        messages[-1]["content"],
    ]
    assert saved["turns"] == {"1": RECORD}  # the stopped answer takes no rating

    searching = [
        *finished,
        {"role": "user", "content": question_html("问题二")},
        {"role": "assistant", "content": pending_html("")},
    ]
    messages, _ = stop(searching, {}, request)
    assert messages[-1]["content"] == '<p class="qa-stopped" lang="zh-Hans">已停止回答。</p>'

    skipped = stop(finished, {}, request)  # the answer came before the stop did: left as it is
    assert skipped == ({"__type__": "update"}, {"__type__": "update"})  # gr.skip(): nothing changes


# ---------------------------------------------------------------- who may frame the widget


@pytest.mark.parametrize(
    "origin, host, allowed",
    [
        ("", "qa.example.gov.cn", True),  # no Origin: the widget's own site, or not a browser
        ("https://www.example.gov.cn", "qa.example.gov.cn", True),
        ("https://www.example.gov.cn/", "qa.example.gov.cn", True),
        ("https://qa.example.gov.cn", "qa.example.gov.cn", True),  # the widget's own site
        ("https://elsewhere.example.com", "qa.example.gov.cn", False),
        ("http://www.example.gov.cn", "qa.example.gov.cn", False),  # another scheme is another origin
        ("null", "qa.example.gov.cn", False),
    ],
)
def test_which_sites_may_frame_the_widget(origin, host, allowed):
    assert may_frame_widget(origin, host, ("https://www.example.gov.cn",)) is allowed
