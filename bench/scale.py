"""Scale: FAISS exact (IndexFlatIP) vs approximate (IndexHNSWFlat) and the lexical index on
1k / 10k / 100k synthetic chunks (see bench/synthetic.py for how they are made and why).

Queries are the gold questions embedded with use-m3 (real query vectors), searched one at a time
as the app does. Recall@k of HNSW is measured against the flat index's exact top k. The HNSW
parameters are the ones store/vectors.build_faiss uses above HNSW_ABOVE chunks.
"""

from __future__ import annotations

import gc
import time

import faiss
import numpy as np

from bench.machine import rss_mb
from bench.query_latency import gold_questions
from bench.report import Section, Table, Target
from bench.synthetic import perturb, recombine, sentence_pool
from bench.timing import Latency, ms, ratio
from bench.workspace import Workspace
from store import vectors as vector_store

SIZES, QUICK_SIZES = (1_000, 10_000, 100_000), (1_000, 10_000)
HNSW_M, EF_CONSTRUCTION, PRODUCTION_EF_SEARCH = (
    vector_store.HNSW_M,
    vector_store.HNSW_EF_CONSTRUCTION,
    vector_store.HNSW_EF_SEARCH,
)  # exactly what store.vectors.build_faiss builds
EF_SEARCH = (16, 32, 64, 128, 256, 512)
DEPTH = 30  # candidates the searcher takes from FAISS (retrieval.search.CANDIDATES_PER_LIST)
RECALL_TARGET, RECALL_SIZE = 0.98, 100_000
PROXY_CHECK_CHUNKS, QUICK_PROXY_CHECK_CHUNKS = 2_000, 300
GEMMA_DIM = 768
FLAT_BUDGET_MS = 30  # a tenth of the 300 ms p95 answer target: within it, exact search costs nothing that matters


def _single_query_latency(index, queries: np.ndarray, k: int, threads: int | None = None) -> Latency:
    """One query at a time, as the app searches. `threads`: OpenMP threads FAISS may use (None:
    its default, one per core, as the app runs it)."""
    default = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads or default)
    try:
        index.search(queries[:1], k)  # warm-up
        samples = []
        for query in queries:
            started = time.perf_counter()
            index.search(query[None, :], k)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        faiss.omp_set_num_threads(default)
    return Latency(samples)


def _recall(exact: np.ndarray, approximate: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(e[:k]) & set(a[:k])) / k for e, a in zip(exact, approximate)]))


def _mb(index) -> float:
    return faiss.serialize_index(index).nbytes / 2**20


def build_flat(vectors: np.ndarray) -> tuple[faiss.Index, float]:
    started = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index, time.perf_counter() - started


def build_hnsw(vectors: np.ndarray) -> tuple[faiss.Index, float]:
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(vectors)
    return index, time.perf_counter() - started


def hnsw_recalls(vectors: np.ndarray, queries: np.ndarray, ef_values=EF_SEARCH) -> dict[int, float]:
    """recall@10 of HNSW against flat for each efSearch, on one set of vectors."""
    flat, _ = build_flat(vectors)
    exact = flat.search(queries, 10)[1]
    hnsw, _ = build_hnsw(vectors)
    recalls = {}
    for ef in ef_values:
        hnsw.hnsw.efSearch = ef
        recalls[ef] = _recall(exact, hnsw.search(queries, 10)[1], 10)
    return recalls


def proxy_check(pool, embedder, queries: np.ndarray, n: int) -> tuple[float, Table]:
    """Real embeddings of `n` synthetic chunks against both proxies: the cosine of a real embedding
    to the "mean" vector (which calibrates "mean+noise"), and HNSW recall@10 on each."""
    texts, mean_vectors = recombine(pool, n, seed=7)
    started = time.perf_counter()
    real = embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    cosines = (real * mean_vectors).sum(axis=1)
    cosine = float(cosines.mean())
    ef_values = (16, 32, 128)
    rows = []
    for name, vectors in (
        ("real use-m3 embeddings", real),
        ("mean (optimistic)", mean_vectors),
        ("mean+noise (pessimistic)", perturb(mean_vectors, cosine)),
    ):
        recalls = hnsw_recalls(vectors, queries, ef_values)
        top = build_flat(vectors)[0].search(queries, 10)[0]
        rows.append(
            [name, f"{top[:, 0].mean():.3f}", f"{top[:, 9].mean():.3f}", *(f"{recalls[ef]:.3f}" for ef in ef_values)]
        )
    caption = (
        f"Proxy check on {n} synthetic chunks embedded for real with use-m3 ({n / seconds:.0f} texts/s): "
        f"cosine(real embedding, mean of its sentence vectors) = {cosine:.3f} on average "
        f"(min {cosines.min():.3f}). The rows show where real vectors fall between the two proxies."
    )
    return cosine, Table(
        ["vectors", "mean top-1 cosine", "mean 10th cosine", *(f"HNSW recall@10, efSearch={ef}" for ef in ef_values)],
        rows,
        caption,
    )


def dense_rows(
    n: int, variant: str, vectors: np.ndarray, queries: np.ndarray, ef_values=EF_SEARCH
) -> tuple[list[list[str]], dict[int, float]]:
    """Rows for flat and each HNSW efSearch, and recall@10 per efSearch."""
    flat, flat_build = build_flat(vectors)
    flat_latency = _single_query_latency(flat, queries, DEPTH)
    flat_one_thread = _single_query_latency(flat, queries, DEPTH, threads=1)
    exact = flat.search(queries, DEPTH)[1]
    rows = [
        [
            f"{n:,}",
            variant,
            "flat (exact)",
            f"{flat_build:.2f}",
            f"{_mb(flat):.0f}",
            ms(flat_latency.p50),
            ms(flat_latency.p95),
            "1.000",
            "1.000",
            "1.0×",
        ],
        [
            f"{n:,}",
            variant,
            "flat (exact), 1 thread",
            f"{flat_build:.2f}",
            f"{_mb(flat):.0f}",
            ms(flat_one_thread.p50),
            ms(flat_one_thread.p95),
            "1.000",
            "1.000",
            ratio(flat_latency.p50, flat_one_thread.p50),
        ],
    ]
    del flat
    hnsw, hnsw_build = build_hnsw(vectors)
    recalls, deep_recalls = {}, {}
    for ef in ef_values:
        hnsw.hnsw.efSearch = ef
        latency = _single_query_latency(hnsw, queries, DEPTH)
        found = hnsw.search(queries, DEPTH)[1]
        recalls[ef], deep_recalls[ef] = _recall(exact, found, 10), _recall(exact, found, DEPTH)
        rows.append(
            [
                f"{n:,}",
                variant,
                f"HNSW efSearch={ef}",
                f"{hnsw_build:.1f}",
                f"{_mb(hnsw):.0f}",
                ms(latency.p50),
                ms(latency.p95),
                f"{recalls[ef]:.3f}",
                f"{deep_recalls[ef]:.3f}",
                ratio(flat_latency.p50, latency.p50),
            ]
        )
    hnsw.hnsw.efSearch = PRODUCTION_EF_SEARCH
    latency = _single_query_latency(hnsw, queries, DEPTH, threads=1)
    rows.append(
        [
            f"{n:,}",
            variant,
            f"HNSW efSearch={PRODUCTION_EF_SEARCH}, 1 thread",
            f"{hnsw_build:.1f}",
            f"{_mb(hnsw):.0f}",
            ms(latency.p50),
            ms(latency.p95),
            f"{recalls[PRODUCTION_EF_SEARCH]:.3f}",
            f"{deep_recalls[PRODUCTION_EF_SEARCH]:.3f}",
            ratio(flat_latency.p50, latency.p50),
        ]
    )
    return rows, recalls


def flat_768_latency(vectors: np.ndarray, queries: np.ndarray) -> tuple[Latency, Latency]:
    """Exact search cost at EmbeddingGemma's 768 dimensions (zero-padding changes no result, only
    the work), with FAISS's default threads and with one."""
    pad = GEMMA_DIM - vectors.shape[1]
    index, _ = build_flat(np.ascontiguousarray(np.pad(vectors, ((0, 0), (0, pad)))))
    padded = np.ascontiguousarray(np.pad(queries, ((0, 0), (0, pad))))
    return _single_query_latency(index, padded, DEPTH), _single_query_latency(index, padded, DEPTH, threads=1)


def lexical_row(n: int, texts: list[str], query_forms: list[str]) -> list[str]:
    """The lexical side as HybridSearcher holds it: build, memory, BM25 ranking and the first-time
    query analysis, whose doc_freq calls scan every chunk's text once per new token."""
    from retrieval.features import analyse_query
    from retrieval.lexical import LexicalIndex, tokenize

    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    lexical = LexicalIndex(texts)
    token_sets = [set(tokens) for tokens in lexical.doc_tokens]  # HybridSearcher keeps these too
    build = time.perf_counter() - started
    memory = rss_mb() - before
    query_tokens = [tokenize(q) for q in query_forms]
    rank = Latency([])
    for tokens in query_tokens:
        started = time.perf_counter()
        scores = lexical.scores(tokens)
        np.argsort(-scores)[:DEPTH]
        rank.samples.append((time.perf_counter() - started) * 1000)
    analysis, per_token = Latency([]), Latency([])
    for question in query_forms:  # uncached: as for a question whose words the server has not seen
        started = time.perf_counter()
        analyse_query(question, lexical.idf, lexical.doc_freq, n, "zh-Hans")
        analysis.samples.append((time.perf_counter() - started) * 1000)
    for token in {t for tokens in query_tokens for t in tokens}:
        started = time.perf_counter()
        lexical.doc_freq(token)
        per_token.samples.append((time.perf_counter() - started) * 1000)
    del lexical, token_sets
    return [
        f"{n:,}",
        f"{build:.1f}",
        f"{memory:.0f}",
        ms(rank.p50),
        ms(rank.p95),
        ms(per_token.mean),
        ms(analysis.p50),
        ms(analysis.p95),
    ]


def smallest_ef(recalls: dict[int, float]) -> int | None:
    return min((ef for ef, recall in recalls.items() if recall >= RECALL_TARGET), default=None)


def recommendation(n: int, flat_p95: tuple[float, float], recalls: dict[str, dict[int, float]]) -> list[str]:
    """Flat while exact search at 768-d stays within FLAT_BUDGET_MS at p95 (with FAISS on one thread
    if that is what it takes); past that, HNSW with the smallest efSearch that keeps recall@10 on
    the pessimistic proxy."""
    default_p95, one_thread_p95 = flat_p95
    optimistic, pessimistic = smallest_ef(recalls["mean"]), smallest_ef(recalls["mean+noise"])
    if default_p95 <= FLAT_BUDGET_MS:
        choice = "flat (exact)"
    elif one_thread_p95 <= FLAT_BUDGET_MS:
        choice = "flat (exact), FAISS on 1 thread"
    elif pessimistic is not None:
        choice = f"HNSW M={HNSW_M}, efSearch={pessimistic}"
    else:
        choice = f"flat: no efSearch tried keeps recall@10 ≥ {RECALL_TARGET}"
    return [
        f"{n:,}",
        f"{ms(default_p95)} / {ms(one_thread_p95)}",
        str(optimistic or f"> {EF_SEARCH[-1]}"),
        str(pessimistic or f"> {EF_SEARCH[-1]}"),
        choice,
    ]


def recall_target(recalls: dict[str, dict[int, float]]) -> Target:
    optimistic, pessimistic = recalls["mean"][PRODUCTION_EF_SEARCH], recalls["mean+noise"][PRODUCTION_EF_SEARCH]
    needed = smallest_ef(recalls["mean"])
    return Target(
        f"flat-to-approximate switch keeps recall@10 ≥ {RECALL_TARGET} at 100k chunks "
        f"(HNSW M={HNSW_M}, efSearch={PRODUCTION_EF_SEARCH}, as store/vectors.build_faiss builds it)",
        f"{optimistic:.3f} optimistic proxy, {pessimistic:.3f} pessimistic",
        min(optimistic, pessimistic) >= RECALL_TARGET,
        ""
        if min(optimistic, pessimistic) >= RECALL_TARGET
        else f"efSearch={PRODUCTION_EF_SEARCH} is too small at 100k; the optimistic proxy needs efSearch ≥ "
        f"{needed or f'more than {EF_SEARCH[-1]}'} (see the recommendation table)",
    )


def run(ws: Workspace, quick: bool = False) -> Section:
    from embedding.embedders import load_embedder
    from language.normalize import search_form

    section = Section("Scale: FAISS flat vs HNSW, and the lexical index, on synthetic chunks")
    pool = sentence_pool(ws.index_for("use-m3"))
    embedder = load_embedder("use-m3", ws.shared_model_cache)
    query_forms = [search_form(q) for q in gold_questions()]
    queries = embedder.embed_queries(query_forms)
    cosine, check = proxy_check(pool, embedder, queries, QUICK_PROXY_CHECK_CHUNKS if quick else PROXY_CHECK_CHUNKS)
    section.tables.append(check)
    dense, lexical, flat768, recommended = [], [], [], []
    sizes = QUICK_SIZES if quick else SIZES
    for n in sizes:
        texts, mean_vectors = recombine(pool, n)
        by_variant = {}
        for variant, vectors in (("mean", mean_vectors), ("mean+noise", perturb(mean_vectors, cosine))):
            rows, by_variant[variant] = dense_rows(n, variant, vectors, queries)
            dense += rows
            gc.collect()
        default_threads, one_thread = flat_768_latency(mean_vectors, queries)
        flat768.append(
            [f"{n:,}", ms(default_threads.p50), ms(default_threads.p95), ms(one_thread.p50), ms(one_thread.p95)]
        )
        recommended.append(recommendation(n, (default_threads.p95, one_thread.p95), by_variant))
        if n == RECALL_SIZE:
            section.targets.append(recall_target(by_variant))
        lexical.append(lexical_row(n, texts, query_forms))
        gc.collect()
    section.tables.append(
        Table(
            [
                "chunks",
                "vectors",
                "index",
                "build s",
                "size MB",
                "query p50 ms",
                "query p95 ms",
                "recall@10",
                f"recall@{DEPTH}",
                "speedup vs flat (p50)",
            ],
            dense,
            f"Dense search, one query at a time, top {DEPTH} (what the searcher asks FAISS for); use-m3 512-d; "
            f"HNSW M={HNSW_M}, efConstruction={EF_CONSTRUCTION}.",
        )
    )
    section.tables.append(
        Table(
            ["chunks", "flat p50 ms", "flat p95 ms", "flat p50 ms, 1 thread", "flat p95 ms, 1 thread"],
            flat768,
            f"Exact search at {GEMMA_DIM} dimensions (EmbeddingGemma, the default embedder).",
        )
    )
    section.tables.append(
        Table(
            [
                "chunks",
                "build s (jieba + bm25s + token sets)",
                "memory MB (RSS growth)",
                "BM25 rank p50 ms",
                "BM25 rank p95 ms",
                "doc_freq per token ms",
                "query analysis p50 ms (uncached doc_freq)",
                "query analysis p95 ms",
            ],
            lexical,
            "Lexical side: LexicalIndex over the synthetic texts. BM25 rank = scores of every chunk + argsort, as "
            "HybridSearcher.search does; query analysis = retrieval.features.analyse_query with uncached "
            "idf/doc_freq (each new token scans every chunk's text).",
        )
    )
    section.tables.append(
        Table(
            [
                "chunks",
                "flat p95 ms at 768-d (default threads / 1 thread)",
                f"smallest efSearch for recall@10 ≥ {RECALL_TARGET}, optimistic",
                "same, pessimistic",
                "recommended",
            ],
            recommended,
            f"Recommendation by corpus size (the code switches to HNSW above store/vectors.HNSW_ABOVE = "
            f"{vector_store.HNSW_ABOVE:,} chunks): flat while its p95 at 768-d stays ≤ {FLAT_BUDGET_MS} ms, a tenth of the answer's "
            "p95 target; else HNSW tuned on the pessimistic proxy.",
        )
    )
    if RECALL_SIZE not in sizes:
        section.targets.append(Target(f"recall@10 ≥ {RECALL_TARGET} at 100k chunks", "not run (--quick)", None))
    return section
