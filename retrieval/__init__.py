"""Retrieval: lexical index, query features, fusion, sentence-level rerank over the stored index."""
