"""Answers from retrieved passages: extractive composer, follow-ups, LLM answers, citation check, the QA pipeline."""
