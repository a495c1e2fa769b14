"""`python -m eval report`: run our system and both baselines, score them, write REPORT.md + hitk.png.

Systems are loaded one at a time (each holds its own model) and dropped before the next. Outputs,
all under `out_dir`:
  results/<system>.jsonl             one row per gold question (see eval.results)
  results/<system>.followups.jsonl   the same for the follow-up set, when it exists
  results/<system>.score.json        the scorecards
  REPORT.md, hitk.png
"""
from __future__ import annotations

import gc
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from config import Config
from eval.gold import DEFAULT_FOLLOWUPS, DEFAULT_GOLD, EVAL_DIR, TYPES, GoldItem, load_gold
from eval.plot import plot_hit_at_k
from eval.results import write_results
from eval.run import load_system, run_items
from eval.score import METRICS, score
from eval.tables import breakdown_table, format_difference, format_value, misses_lines, render_table

BASELINES = ("naive", "bm25")
BREAKDOWN_METRICS = ("hit@1", "hit@5", "citation_recall", "answer_accuracy")
SYSTEM_DESCRIPTIONS = {
    "ours": "answering.pipeline.QA, extractive answers",
    "ours+llm": "answering.pipeline.QA with the configured LLM writing the answer",
    "naive": "LangChain RecursiveCharacterTextSplitter 500/50 over raw seeds, same embedder, FAISS "
             "inner product, top 10; answer = top passage, citations = top 3 passages",
    "bm25": "bm25s over jieba search-mode tokens of the same 500/50 chunks, top 10; "
            "answer = top passage, citations = top 3 passages",
}


@dataclass
class SystemRun:
    name: str
    scorecard: dict
    followup_scorecard: dict | None = None
    files: list[Path] = field(default_factory=list)


def build_report(config: Config, gold_path: Path = DEFAULT_GOLD, out_dir: Path = EVAL_DIR,
                 embedder: str | None = None, llm: bool = False,
                 followups_path: Path = DEFAULT_FOLLOWUPS, progress: bool = True) -> list[Path]:
    """Run, score and write everything; returns the paths written."""
    out_dir = Path(out_dir)
    items = load_gold(gold_path)
    followups = load_gold(followups_path) if Path(followups_path).is_file() else None
    llm_note = _llm_note(config, llm)
    machine = machine_description()  # before the runs, so the load average shows other work

    plan = [("ours", "ours", False)] + [(name, name, False) for name in BASELINES]
    if llm and config.llm_base_url:
        plan.append(("ours+llm", "ours", True))

    runs = []
    for label, system_name, use_llm in plan:
        system = load_system(system_name, config, embedder=embedder, llm=use_llm)
        runs.append(_run_one(label, system, items, followups, out_dir / "results", progress))
        del system
        gc.collect()

    embedder_name = embedder or config.embedder
    plot_path = plot_hit_at_k({run.name: run.scorecard for run in runs}, out_dir / "hitk.png",
                              title=f"hit@k on {Path(gold_path).name} ({len(items)} questions, {embedder_name})")
    report_path = out_dir / "REPORT.md"
    report_path.write_text(render_report(runs, items, followups, gold_path, followups_path,
                                         embedder_name, llm_note, machine), encoding="utf-8")
    return [report_path, plot_path] + [path for run in runs for path in run.files]


def _run_one(label: str, system, items: list[GoldItem], followups: list[GoldItem] | None,
             results_dir: Path, progress: bool) -> SystemRun:
    stem = label.replace("+", "-")
    rows = run_items(system, items, label=label, progress=progress)
    run = SystemRun(name=label, scorecard=score(items, rows))
    run.files.append(write_results(rows, results_dir / f"{stem}.jsonl"))
    if followups is not None:
        followup_rows = run_items(system, followups, label=f"{label} follow-ups", progress=progress)
        run.followup_scorecard = score(followups, followup_rows)
        run.files.append(write_results(followup_rows, results_dir / f"{stem}.followups.jsonl"))
    score_path = results_dir / f"{stem}.score.json"
    score_path.write_text(json.dumps({"gold": run.scorecard, "followups": run.followup_scorecard},
                                     ensure_ascii=False, indent=1), encoding="utf-8")
    run.files.append(score_path)
    return run


def _llm_note(config: Config, llm_requested: bool) -> str:
    if not llm_requested:
        return "not run (pass --llm to include it)"
    if not config.llm_base_url:
        return "requested but not configured (QA_LLM_BASE_URL is empty), so not run"
    return f"run as ours+llm (model {config.llm_model or 'default'})"


def machine_description() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", 1-min load average {os.getloadavg()[0]:.2f} before the runs" if hasattr(os, "getloadavg") else ""
    return f"{cores} cores usable ({os.cpu_count()} total), {cpu}, {platform.system()} {platform.machine()}{load}"


def comparison_table(runs: list[SystemRun], followup: bool = False) -> str:
    """Every metric for every system, plus ours minus each baseline."""
    cards = {run.name: (run.followup_scorecard if followup else run.scorecard) for run in runs}
    ours = cards["ours"]["overall"]["metrics"]
    headers = ["metric"] + list(cards) + [f"ours − {b}" for b in BASELINES]
    rows = []
    for metric, higher_is_better in METRICS.items():
        arrow = "↑" if higher_is_better else "↓"
        row = [f"{metric} {arrow}"] + [format_value(metric, c["overall"]["metrics"][metric]) for c in cards.values()]
        row += [format_difference(metric, ours[metric], cards[b]["overall"]["metrics"][metric]) for b in BASELINES]
        rows.append(row)
    return render_table(headers, rows, markdown=True)


def group_comparison_table(runs: list[SystemRun], group_key: str) -> str:
    """Key metrics per question type (or language), one column per system and metric."""
    groups = list(runs[0].scorecard[group_key])
    headers = ["group", "n"] + [f"{metric} {run.name}" for metric in BREAKDOWN_METRICS for run in runs]
    rows = []
    for group in groups:
        row = [group, str(runs[0].scorecard[group_key][group]["n"])]
        for metric in BREAKDOWN_METRICS:
            row += [format_value(metric, run.scorecard[group_key][group]["metrics"][metric]) for run in runs]
        rows.append(row)
    return render_table(headers, rows, markdown=True)


def render_report(runs: list[SystemRun], items: list[GoldItem], followups: list[GoldItem] | None,
                  gold_path: Path, followups_path: Path, embedder_name: str, llm_note: str,
                  machine: str) -> str:
    counts = ", ".join(f"{t} {n}" for t in TYPES if (n := sum(i.type == t for i in items)))
    ours = next(run for run in runs if run.name == "ours")
    lines = [
        "# Evaluation report",
        "",
        f"- Date: {datetime.now(UTC).astimezone().isoformat(timespec='seconds')}",
        f"- Gold set: `{_display_path(gold_path)}`, {len(items)} questions ({counts})",
        f"- Embedder: `{embedder_name}`",
        f"- Machine: {machine}",
        f"- LLM path: {llm_note}",
        "- Systems:",
        *[f"  - **{run.name}**: {SYSTEM_DESCRIPTIONS[run.name]}" for run in runs],
        "",
        "Reproduce with `python -m eval report" + (f" --embedder {embedder_name}" if embedder_name else "") + "`.",
        "A passage *covers* an evidence quote when, after NFKC, traditional→simplified, case folding and",
        "removal of whitespace and punctuation, their longest common substring is ≥ 60% of the quote.",
        "Baselines never abstain and answer with a whole 500-character passage, which makes their",
        "answer accuracy (must_include strings found in the answer) generous.",
        "",
        "## Ours vs baselines",
        "",
        "↑ higher is better, ↓ lower is better; the last columns are ours minus each baseline.",
        "",
        comparison_table(runs),
        "",
        "![hit@k for each system](hitk.png)",
        "",
        "## By question type",
        "",
        group_comparison_table(runs, "by_type"),
        "",
        "## By language",
        "",
        group_comparison_table(runs, "by_lang"),
        "",
        "## Ours: every metric by type and language",
        "",
        breakdown_table(ours.scorecard, markdown=True),
        "",
        "## Misses (ours)",
        "",
        *misses_lines(ours.scorecard, markdown=True),
        "",
    ]
    if followups is not None:
        lines += [
            "## Follow-up questions",
            "",
            f"`{_display_path(followups_path)}`, {len(followups)} follow-ups asked after their first question "
            "(the first answer is passed as history; baselines ignore history).",
            "",
            comparison_table(runs, followup=True),
            "",
            "Misses (ours):",
            "",
            *misses_lines(ours.followup_scorecard, markdown=True),
            "",
        ]
    return "\n".join(lines)


def _display_path(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(EVAL_DIR.parent))
    except ValueError:
        return str(path)
