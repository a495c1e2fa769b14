"""The chat page's Python side, without a model or a browser: the conversation kept in the browser
(server.chat_history), one answer at a time per visitor (app.OneAnswerAtATime), the shared link
(`?q=`) and how the page is wired (app.build_chat_ui). tests/test_browser.py checks the page itself."""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest

from app import QUESTION_LABEL, OneAnswerAtATime, asked_in_url, build_chat_ui
from qa_types import Answer
from server import chat_history
from server.api_models import MAX_QUESTION_CHARS
from server.render import answer_html, question_html, share_url

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
