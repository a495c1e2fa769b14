"""The chat page's conversation as kept in the visitor's browser, so that it survives a reload.

The page stores a snapshot in localStorage (Gradio's BrowserState) after every answer and empties
it when the conversation is cleared; on load it hands the snapshot back and `restore` rebuilds the
chat from it. A snapshot is plain JSON:

    {"version": 1,
     "messages": [{"role": "user" | "assistant", "content": "<p …>…</p>"}, …],
     "turns": {"1": {"question": …, "answer": …, "citations": […]}, …}}

`messages` are the chat bubbles as server.render made them; `turns` maps an answer's position to
what a 👍/👎 on it stores (and what a follow-up question is understood against). Only finished
turns are saved, the newest MAX_SAVED_TURNS of them.

A snapshot comes back from the browser, so `restore` trusts nothing in it: anything of the wrong
shape or size is dropped (the chatbot sanitises the HTML it shows, as for every message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VERSION = 1
MAX_SAVED_TURNS = 20  # question + answer pairs
MAX_MESSAGE_CHARS = 200_000  # an answer's HTML with its sources is a few kB; this is far above that
MAX_RECORD_CHARS = 20_000  # the question, answer and citation quotes of one turn
ROLES = ("user", "assistant")


def message_text(content: Any) -> str:
    """A chatbot message's content as one string (Gradio hands it back as a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def empty() -> dict:
    return {"version": VERSION, "messages": [], "turns": {}}


def snapshot(messages: list[dict], turns: Mapping[int, dict]) -> dict:
    """What the browser keeps: the last MAX_SAVED_TURNS question/answer pairs, turns renumbered."""
    plain = [
        {"role": m.get("role"), "content": message_text(m.get("content"))}
        for m in messages
        if isinstance(m, dict) and m.get("role") in ROLES
    ]
    drop = max(0, len(plain) - 2 * MAX_SAVED_TURNS)
    while drop < len(plain) and plain[drop]["role"] != "user":  # start on a question
        drop += 1
    return {
        "version": VERSION,
        "messages": plain[drop:],
        "turns": {str(index - drop): record for index, record in turns.items() if index >= drop},
    }


def _record(value: Any) -> dict | None:
    if not isinstance(value, dict):
        return None
    question, answer, citations = value.get("question"), value.get("answer"), value.get("citations")
    if not (isinstance(question, str) and isinstance(answer, str) and isinstance(citations, list)):
        return None
    if not all(isinstance(c, dict) for c in citations):
        return None
    size = len(question) + len(answer) + sum(len(str(c)) for c in citations)
    return {"question": question, "answer": answer, "citations": citations} if size <= MAX_RECORD_CHARS else None


def restore(saved: Any) -> tuple[list[dict], dict[int, dict]]:
    """The messages and turns of a snapshot; an unusable snapshot gives an empty conversation, and
    an unusable turn record only loses its 👍/👎 and follow-up context, not its bubble."""
    if not isinstance(saved, dict) or saved.get("version") != VERSION:
        return [], {}
    raw = saved.get("messages")
    if not isinstance(raw, list):
        return [], {}
    messages = []
    for message in raw[-2 * MAX_SAVED_TURNS :]:
        if not isinstance(message, dict):
            return [], {}
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str) or len(content) > MAX_MESSAGE_CHARS:
            return [], {}
        messages.append({"role": role, "content": content})
    offset = len(raw) - len(messages)
    turns = {}
    raw_turns = saved.get("turns")
    for key, value in raw_turns.items() if isinstance(raw_turns, dict) else ():
        index = int(key) - offset if isinstance(key, str) and key.isdigit() else -1
        record = _record(value)
        if record is not None and 0 <= index < len(messages) and messages[index]["role"] == "assistant":
            turns[index] = record
    return messages, turns
