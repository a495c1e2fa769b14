"""Quality guard for every faster embedding path (issue 14 point 3): retrieval and answer quality
on every question of both gold sets (tune and test: a speed change fits nothing), each path beside
the fp32 paths it would replace.

Each row runs `python -m eval run --gold G --seeds DIR` in a child process configured
for that path, then scores it as `python -m eval score` does. The index of each corpus is the
cached one `eval run` builds (eval/corpus_index.py: keyed by documents, embedder name, sentence-vector
mode and ingest code), so a path whose index is already built costs only the questions. PyTorch and
ONNX Runtime fp32 share an embedder name and so one index and one embedding cache: the PyTorch row
differs from the ONNX one in its query vectors only. A path is accepted when hit@1, hit@5 and answer
accuracy are each within 0.01 of the fp32 path's, or better, on both corpora. (The answer scorer was
fitted on the tune splits with fp32 vectors; fitting nothing here, the guard is not an estimate of
held-out quality but of what a path changes, and more questions tell it better.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import Section, Table, Target
from bench.workspace import Workspace, bench_environment, variant_environment
from config import REPO_ROOT

TOLERANCE = 0.01
GUARDED = ("hit@1", "hit@5", "answer_accuracy")
SHOWN = (*GUARDED, "citation_precision", "citation_recall", "abstention", "false_abstention")
CORPORA = {
    "seeds": (REPO_ROOT / "eval" / "gold.jsonl", REPO_ROOT / "seeds"),
    "CMRC trial": (
        REPO_ROOT / "eval" / "corpora" / "cmrc2018-trial" / "gold.jsonl",
        REPO_ROOT / "eval" / "corpora" / "cmrc2018-trial" / "corpus",
    ),
}
REFERENCE = "EmbeddingGemma fp32, ONNX Runtime (the default)"
# (row label, embedder variant as bench.workspace names it, QA_SENTENCE_VECTORS)
PATHS = (
    (REFERENCE, "embeddinggemma@onnx", "separate"),
    ("EmbeddingGemma fp32, PyTorch queries", "embeddinggemma@torch", "separate"),
    ("EmbeddingGemma fp32, sentence vectors from the chunk pass", "embeddinggemma@onnx", "chunk_pass"),
    ("EmbeddingGemma int8, ONNX Runtime", "embeddinggemma@onnx-int8", "separate"),
    ("EmbeddingGemma int8, sentence vectors from the chunk pass", "embeddinggemma@onnx-int8", "chunk_pass"),
)


def measure(variant: str, mode: str, gold: Path, documents: Path, out: Path) -> dict[str, float]:
    """Metrics of one path on every question of one corpus, from a child process configured for it."""
    from eval.gold import load_gold
    from eval.score import score

    env = bench_environment(QA_SENTENCE_VECTORS=mode, TQDM_DISABLE="1", **variant_environment(variant))
    command = [sys.executable, "-m", "eval", "run", "--gold", str(gold), "--seeds", str(documents)]
    command += ["--out", str(out)]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({variant}, {mode}):\n{result.stderr[-2000:]}")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    return score(load_gold(gold), rows)["overall"]["metrics"]


def within_guard(measured: dict[str, float], reference: dict[str, float]) -> bool:
    return all(measured[m] >= reference[m] - TOLERANCE for m in GUARDED)


def run(ws: Workspace, quick: bool = False) -> Section:
    del quick  # every question is the measurement: a smaller run would not guard anything
    out_dir = Path(tempfile.mkdtemp(prefix="quality-", dir=ws.root))
    results: dict[tuple[str, str], dict[str, float]] = {}
    for label, variant, mode in PATHS:
        for corpus, (gold, documents) in CORPORA.items():
            results[label, corpus] = measure(variant, mode, gold, documents, out_dir / f"{len(results)}.jsonl")
    rows, targets = [], []
    for label, _, _ in PATHS:
        for corpus in CORPORA:
            metrics, reference = results[label, corpus], results[REFERENCE, corpus]
            rows.append(
                [label, corpus]
                + [f"{metrics[m]:.3f}" for m in SHOWN]
                + [", ".join(f"{metrics[m] - reference[m]:+.3f}" for m in GUARDED) if label != REFERENCE else ""]
            )
        if label != REFERENCE:
            met = all(within_guard(results[label, c], results[REFERENCE, c]) for c in CORPORA)
            worst = min(results[label, c][m] - results[REFERENCE, c][m] for c in CORPORA for m in GUARDED)
            targets.append(
                Target(
                    f"quality of '{label}' within {TOLERANCE} of fp32 ONNX (hit@1, hit@5, answer accuracy; all questions of both corpora)",
                    f"worst difference {worst:+.3f}",
                    met,
                )
            )
    table = Table(["path", "gold (all questions)", *SHOWN, "Δ hit@1, hit@5, accuracy vs fp32 ONNX"], rows)
    notes = [
        "Every question of eval/gold.jsonl and of the CMRC 2018 trial gold, tune and test splits together: a "
        "speed change fits nothing, so the guard uses all the questions there are (eval/REPORT.md reports the "
        "default path on the test splits). The answer scorer's weights were fitted on fp32 separately embedded "
        "sentences: a path with other vectors is measured with those weights, as a user would run it.",
        "PyTorch and ONNX Runtime fp32 share one index per corpus (same embedder name, same vectors): the "
        "PyTorch row differs in its query vectors only.",
    ]
    return Section("Quality of each embedding path (every gold question)", tables=[table], notes=notes, targets=targets)
