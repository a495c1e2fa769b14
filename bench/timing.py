"""Latency summaries: percentiles of a list of durations, formatted in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Latency:
    """Durations in milliseconds."""

    samples: list[float]

    @property
    def n(self) -> int:
        return len(self.samples)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples, q)) if self.samples else float("nan")

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples)) if self.samples else float("nan")


def ms(value: float) -> str:
    """A duration in ms, with the precision that matters at its size."""
    if value != value:  # NaN: nothing measured
        return "–"
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def ratio(numerator: float, denominator: float) -> str:
    if not denominator or numerator != numerator or denominator != denominator:
        return "–"
    return f"{numerator / denominator:.1f}×"
