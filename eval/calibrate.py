"""Calibrate the abstention thresholds on a gold set: `python -m eval calibrate`.

Every gold question is answered with abstention switched off, and the support of its best
sentence recorded. For each language group (Chinese, English) the threshold is the one that
abstains on the most unanswerable questions while abstaining on at most MAX_FALSE_ABSTENTION of
the answerable ones; it sits halfway between the two supports it separates, so it does not hug
either. The result goes to answering/calibration.json, keyed by embedder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from config import Config
from eval.gold import load_gold

MAX_FALSE_ABSTENTION = 0.03  # answerable questions we accept to abstain on (the CI floor is 0.05)


def choose_threshold(answerable: list[float], unanswerable: list[float]) -> float:
    """The cut between candidate supports with the best abstention under the false-abstention cap."""
    cuts = sorted(set(answerable + unanswerable))
    best, best_key = 0.0, (-1.0, 0.0)
    for low, high in zip([-1.0] + cuts, cuts + [cuts[-1] + 1 if cuts else 1.0]):
        threshold = (low + high) / 2 if low > -1.0 else high - 1e-6
        false_abstention = sum(s < threshold for s in answerable) / max(len(answerable), 1)
        if false_abstention > MAX_FALSE_ABSTENTION:
            continue
        abstention = sum(s < threshold for s in unanswerable) / max(len(unanswerable), 1)
        key = (abstention, -false_abstention)
        if key > best_key:
            best, best_key = threshold, key
    return round(best, 4)


def calibrate(config: Config, gold_path: Path, embedder: str | None = None) -> dict:
    from tqdm import tqdm

    from answering.calibration import CALIBRATION_FILE
    from answering.pipeline import QA

    qa = QA.load(config, embedder=embedder, llm=False)
    qa.thresholds = {group: float("-inf") for group in qa.thresholds}  # answer everything, record support
    groups: dict[str, dict[str, list[float]]] = {"zh": {"answerable": [], "unanswerable": []},
                                                 "en": {"answerable": [], "unanswerable": []}}
    for item in tqdm(load_gold(gold_path), desc="calibrating", unit="q"):
        answer = qa.ask(item.question)
        group = "en" if answer.lang == "en" else "zh"
        kind = "unanswerable" if item.type == "unanswerable" else "answerable"
        groups[group][kind].append(answer.support)
    thresholds = {g: choose_threshold(v["answerable"], v["unanswerable"]) for g, v in groups.items()
                  if v["answerable"]}
    entry = {"thresholds": thresholds, "gold": str(gold_path), "date": time.strftime("%Y-%m-%d"),
             "counts": {g: {k: len(v) for k, v in kinds.items()} for g, kinds in groups.items()},
             "max_false_abstention": MAX_FALSE_ABSTENTION}
    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")) if CALIBRATION_FILE.exists() else {}
    data[qa.embedder.name] = entry
    CALIBRATION_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {"embedder": qa.embedder.name, **entry, "file": str(CALIBRATION_FILE)}
