"""Shared text helpers for ingest and retrieval: search form, script detection, simplified/traditional."""
