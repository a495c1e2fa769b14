"""The quality guard of bench/quality.py: which paths pass, and the section it writes (the child
processes that answer the gold questions are replaced by fixed metrics here; the real run is
`python -m bench --only quality`)."""

from __future__ import annotations

from bench import quality
from bench.workspace import Workspace


def metrics(hit1: float, hit5: float, accuracy: float) -> dict[str, float]:
    return {
        "hit@1": hit1,
        "hit@5": hit5,
        "answer_accuracy": accuracy,
        "citation_precision": 0.9,
        "citation_recall": 0.9,
        "abstention": 0.6,
        "false_abstention": 0.04,
    }


def test_a_path_is_within_the_guard_only_when_no_guarded_metric_drops_more_than_the_tolerance():
    reference = metrics(0.88, 0.98, 0.85)
    assert quality.within_guard(metrics(0.875, 0.98, 0.86), reference)  # -0.005 is within 0.01
    assert quality.within_guard(metrics(0.95, 0.99, 0.90), reference)  # better is fine
    assert not quality.within_guard(metrics(0.88, 0.98, 0.83), reference)  # accuracy -0.02
    assert not quality.within_guard(metrics(0.86, 0.98, 0.85), reference)  # hit@1 -0.02


def test_the_section_compares_every_path_with_fp32_onnx_on_both_corpora(monkeypatch, tmp_path):
    measured = {"embeddinggemma@onnx": metrics(0.88, 0.98, 0.85), "embeddinggemma@torch": metrics(0.88, 0.98, 0.85)}
    calls = []

    def fake_measure(variant, mode, gold, documents, out):
        calls.append((variant, mode, documents.name))
        if mode == "chunk_pass":
            return metrics(0.87, 0.98, 0.80)  # accuracy -0.05: refused
        return measured.get(variant, metrics(0.885, 0.98, 0.845))  # int8: within

    monkeypatch.setattr(quality, "measure", fake_measure)
    section = quality.run(Workspace(tmp_path / "ws"))
    assert len(calls) == len(quality.PATHS) * len(quality.CORPORA)
    assert {documents for _, _, documents in calls} == {"seeds", "corpus"}
    verdicts = {t.goal.split("'")[1]: t.met for t in section.targets}
    assert verdicts == {
        "EmbeddingGemma fp32, PyTorch queries": True,
        "EmbeddingGemma fp32, sentence vectors from the chunk pass": False,
        "EmbeddingGemma int8, ONNX Runtime": True,
        "EmbeddingGemma int8, sentence vectors from the chunk pass": False,
    }
    chunk_pass_row = next(r for r in section.tables[0].rows if r[0] == quality.PATHS[2][0])
    assert chunk_pass_row[-1] == "-0.010, +0.000, -0.050"
