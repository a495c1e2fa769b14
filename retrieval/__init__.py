"""Retrieval: embedders, vector and lexical indexes, fusion, sentence-level rerank, answers."""
