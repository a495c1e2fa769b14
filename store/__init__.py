"""The index files: written by ingest, read by retrieval (documents, chunks, manifest, vectors)."""
