"""Abstention thresholds per embedder and language group, written by `python -m eval calibrate`."""
from __future__ import annotations

import json
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
DEFAULT_THRESHOLDS = {"zh": 0.3, "en": 0.3}  # only for an embedder never calibrated: answers more than it abstains


def load_thresholds(embedder_name: str) -> dict[str, float]:
    try:
        data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(DEFAULT_THRESHOLDS)
    return {**DEFAULT_THRESHOLDS, **data.get(embedder_name, {}).get("thresholds", {})}
