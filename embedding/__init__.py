"""Embedding models: loading (EmbeddingGemma, use-m3), fetching the weights, batching queries."""
