"""Reciprocal rank fusion of ranked lists: score(d) = sum_i w_i / (k + rank_i(d)).

RRF needs no score calibration between BM25 and cosine, which live on different scales; k = 60 is
the usual constant (Cormack et al. 2009). The weights let one list count more than another.
"""

from __future__ import annotations

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K
) -> dict[int, float]:
    """rankings: lists of item ids, best first. Returns id -> fused score."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused
