"""Benchmarks: `python -m bench [--quick] [--only ingest,query,http,scale,replicas]` writes bench/RESULTS.md
(`--only` a subset replaces just those sections in it).

Not tests: they measure, they do not assert. Every index they build goes to a temp folder and every
embedding cache they start cold is a temp file, so the live `index/` and the shared model cache's
weights are never written. Each section records the machine's load average, because other jobs
on a shared 2-core machine move every number here.

    ingest  cold (empty embedding cache) and warm (unchanged seeds) builds, both embedders
    query   p50/p95 of QA.retrieve and QA.ask over eval/gold.jsonl, both embedders
    http    the real server (`python app.py`) under 1/8/32 concurrent clients; cold start; 60 s soak
    scale   FAISS flat vs HNSW and the lexical index on 1k/10k/100k synthetic chunks
    replicas  1 and 2 `app.py` replicas behind nginx (docs/deploy.md's config), feedback in PostgreSQL,
            8 clients; one replica directly beside them (nginx's cost); CPU of each part
"""
