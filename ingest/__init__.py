"""Ingest: turn a folder of messy .txt/.md files into clean, structured, citable chunks.

load (bytes -> text, encoding) -> clean (named rules) -> structure (title, metadata, sections,
table rows) -> chunk (sentence-aware, with offsets) -> write (atomic index folder).
"""
