"""`python -m eval report`: on the test split of each corpus, run our system and both baselines,
score them, write REPORT.md + hitk.png.

Corpora (`--corpora`, default both):
  seeds  the documents of config.seeds_dir (default seeds/), gold eval/gold.jsonl (`--gold`), and
         the follow-up set eval/followups.jsonl
  cmrc   the CMRC 2018 trial set: eval/corpora/cmrc2018-trial/corpus/ and its gold.jsonl
Every system answers over the same folder: ours through an index of it that
`eval.corpus_index.config_for_corpus` builds once and caches by content (for the seeds it holds the
same documents as the index `python -m ingest` builds), the baselines from its raw files.
Everything is scored on the test split (`eval.split`); ours also answers the tune split, so the
report can show tune beside test. The LLM path (`--llm`) runs on the seeds corpus only.

Systems are loaded one at a time (each holds its own model) and dropped before the next. Outputs,
all under `out_dir`:
  results/<corpus>-<system>.jsonl            one row per question asked (see eval.results): both
                                             splits for ours, the test split for the others
  results/<corpus>-<system>.followups.jsonl  the test follow-ups (seeds)
  results/<corpus>-<system>.score.json       the scorecards: {"test", "tune", "followups"}
  REPORT.md, hitk.png (one panel per corpus)
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from config import REPO_ROOT, Config
from eval.gold import DEFAULT_FOLLOWUPS, DEFAULT_GOLD, EVAL_DIR, TYPES, GoldItem, load_gold
from eval.results import write_results
from eval.run import load_system, run_items
from eval.score import METRICS, score
from eval.split import TEST_SHARE_PERCENT, select
from eval.tables import breakdown_table, format_difference, format_value, metrics_line, misses_lines, render_table

BASELINES = ("naive", "bm25")
CORPUS_NAMES = ("seeds", "cmrc")
CMRC_DIR = EVAL_DIR / "corpora" / "cmrc2018-trial"
SCORER_WEIGHTS = REPO_ROOT / "answering" / "scorer_weights.json"
DOCUMENT_SUFFIXES = (".txt", ".md")
HEADLINE_METRICS = (
    "hit@1",
    "hit@5",
    "answer_accuracy",
    "citation_precision",
    "citation_sentence_precision",
    "citation_recall",
    "abstention",
    "false_abstention",
    "latency_p50_ms",
    "latency_p95_ms",
)
TUNE_LINE_METRICS = (
    "hit@1",
    "hit@5",
    "answer_accuracy",
    "citation_precision",
    "citation_recall",
    "abstention",
    "false_abstention",
)
BREAKDOWN_METRICS = ("hit@1", "hit@5", "citation_recall", "answer_accuracy")
MISSES_LISTED = 40  # ids shown per kind of miss for a large corpus
SYSTEM_DESCRIPTIONS = {
    "ours": "answering.pipeline.QA, extractive answers",
    "ours+llm": "answering.pipeline.QA with the configured LLM writing the answer (seeds only)",
    "naive": "LangChain RecursiveCharacterTextSplitter 500/50 over the corpus's raw files, same embedder, "
    "FAISS inner product, top 10; answer = top passage, citations = top 3 passages",
    "bm25": "bm25s over jieba search-mode tokens of the same 500/50 chunks, top 10; "
    "answer = top passage, citations = top 3 passages",
}


@dataclass(frozen=True)
class Corpus:
    name: str  # seeds | cmrc: names the results files
    title: str
    gold: Path
    documents: Path
    followups: Path | None = None


@dataclass
class SystemRun:
    name: str
    scorecard: dict  # test split
    tune_scorecard: dict | None = None  # ours only
    followup_scorecard: dict | None = None  # test split of the follow-ups
    files: list[Path] = field(default_factory=list)


@dataclass
class CorpusRun:
    corpus: Corpus
    index_dir: Path
    items: list[GoldItem]  # every gold item, in file order
    test: list[GoldItem]
    tune: list[GoldItem]
    followups: list[GoldItem] | None  # test split of the follow-up set
    followups_all: int  # follow-up items of both splits
    runs: list[SystemRun]

    def run(self, name: str) -> SystemRun:
        return next(run for run in self.runs if run.name == name)


def parse_corpora(names: str | Iterable[str]) -> list[str]:
    """`"seeds,cmrc"` (or a list of names) -> the names in order, each known and once."""
    listed = [n.strip() for n in names.split(",")] if isinstance(names, str) else [n.strip() for n in names]
    listed = [n for n in listed if n]
    unknown = [n for n in listed if n not in CORPUS_NAMES]
    if unknown or not listed:
        raise ValueError(
            f"unknown corpus {', '.join(unknown) or '(none given)'}; "
            f"expected a comma-separated list of {', '.join(CORPUS_NAMES)}"
        )
    return list(dict.fromkeys(listed))


def corpora_for(
    config: Config,
    names: str | Iterable[str] = CORPUS_NAMES,
    gold_path: Path = DEFAULT_GOLD,
    followups_path: Path | None = DEFAULT_FOLLOWUPS,
) -> list[Corpus]:
    """The corpora these names stand for; the seeds are config.seeds_dir with `gold_path`."""
    followups = Path(followups_path) if followups_path is not None and Path(followups_path).is_file() else None
    known = {
        "seeds": Corpus("seeds", "Seeds (government documents)", Path(gold_path), Path(config.seeds_dir), followups),
        "cmrc": Corpus("cmrc", "CMRC 2018 trial", CMRC_DIR / "gold.jsonl", CMRC_DIR / "corpus"),
    }
    return [known[name] for name in parse_corpora(names)]


def corpus_config(config: Config, corpus: Corpus, embedder: str | None) -> Config:
    """`config` pointed at this corpus: its documents folder and its (cached) index."""
    from eval.corpus_index import config_for_corpus

    return config_for_corpus(config, corpus.documents, embedder)


def build_report(
    config: Config,
    gold_path: Path = DEFAULT_GOLD,
    out_dir: Path = EVAL_DIR,
    embedder: str | None = None,
    llm: bool = False,
    followups_path: Path = DEFAULT_FOLLOWUPS,
    progress: bool = True,
    corpora: str | Iterable[str] = CORPUS_NAMES,
    cross_validate: bool = False,
) -> list[Path]:
    """Run, score and write everything; returns the paths written. `cross_validate`: also answer
    the tune questions of the training corpora with models fitted without each one's fold
    (eval.train.cross_validate) and show that beside the in-sample tune line."""
    from embedding.embedders import canonical_name
    from eval.plot import plot_hit_at_k_panels  # pulls in matplotlib: only when reporting

    out_dir = Path(out_dir)
    selected = corpora_for(config, corpora, gold_path, followups_path)
    embedder_name = canonical_name(embedder or config.embedder)
    llm_note = _llm_note(config, llm, [c.name for c in selected])
    machine = machine_description()  # before the runs, so the load average shows other work
    started = time.perf_counter()
    corpus_runs = [_run_corpus(corpus, config, embedder, llm, out_dir / "results", progress) for corpus in selected]
    held_out = _cross_validated(config, embedder, selected) if cross_validate else {}
    minutes = (time.perf_counter() - started) / 60

    plot_path = plot_hit_at_k_panels(
        {
            f"{cr.corpus.title}, test split ({len(cr.test)} questions)": {run.name: run.scorecard for run in cr.runs}
            for cr in corpus_runs
        },
        out_dir / "hitk.png",
        title=f"hit@k, {embedder_name}",
    )
    report_path = out_dir / "REPORT.md"
    report_path.write_text(
        render_report(
            corpus_runs,
            embedder_name,
            llm_note,
            machine,
            minutes,
            llm=llm and bool(config.llm_base_url),
            cross_validated=held_out,
        ),
        encoding="utf-8",
    )
    return [report_path, plot_path] + [path for cr in corpus_runs for run in cr.runs for path in run.files]


def _cross_validated(config: Config, embedder: str | None, selected: list[Corpus]) -> dict[str, dict]:
    """eval.train.cross_validate over the training corpora, keyed by the name of the reported
    corpus with the same gold file (a corpus reported from another gold file gets none)."""
    from eval.train import TRAINING_CORPORA, cross_validate

    summary = cross_validate(config, embedder=embedder, log=lambda _: None)
    gold_of = {Path(t.gold).resolve(): t.name for t in TRAINING_CORPORA}
    return {
        corpus.name: {**summary[gold_of[Path(corpus.gold).resolve()]], "threshold": summary["threshold"]}
        for corpus in selected
        if Path(corpus.gold).resolve() in gold_of
    }


def _run_corpus(
    corpus: Corpus, config: Config, embedder: str | None, llm: bool, results_dir: Path, progress: bool
) -> CorpusRun:
    items = load_gold(corpus.gold)
    all_followups = load_gold(corpus.followups) if corpus.followups is not None else None
    corpus_run = CorpusRun(
        corpus=corpus,
        index_dir=Path(),
        items=items,
        test=select(items, "test"),
        tune=select(items, "tune"),
        followups=select(all_followups, "test") if all_followups is not None else None,
        followups_all=len(all_followups or []),
        runs=[],
    )
    system_config = corpus_config(config, corpus, embedder)
    corpus_run.index_dir = Path(system_config.index_dir)

    plan = [("ours", "ours", False)] + [(name, name, False) for name in BASELINES]
    if llm and config.llm_base_url and corpus.name == "seeds":
        plan.append(("ours+llm", "ours", True))
    for label, system_name, use_llm in plan:
        system = load_system(system_name, system_config, embedder=embedder, llm=use_llm)
        corpus_run.runs.append(_run_one(corpus_run, label, system, results_dir, progress, with_tune=label == "ours"))
        del system
        gc.collect()
    return corpus_run


def _run_one(
    corpus_run: CorpusRun, label: str, system, results_dir: Path, progress: bool, with_tune: bool
) -> SystemRun:
    name = corpus_run.corpus.name
    stem = f"{name}-{label.replace('+', '-')}"
    asked = corpus_run.items if with_tune else corpus_run.test
    rows = run_items(system, asked, label=f"{name} {label}", progress=progress)
    by_id = {row["id"]: row for row in rows}
    run = SystemRun(name=label, scorecard=score(corpus_run.test, [by_id[i.id] for i in corpus_run.test]))
    if with_tune:
        run.tune_scorecard = score(corpus_run.tune, [by_id[i.id] for i in corpus_run.tune])
    run.files.append(write_results(rows, results_dir / f"{stem}.jsonl"))
    if corpus_run.followups is not None:
        followups = corpus_run.followups
        followup_rows = run_items(system, followups, label=f"{name} {label} follow-ups", progress=progress)
        run.followup_scorecard = score(followups, followup_rows)
        run.files.append(write_results(followup_rows, results_dir / f"{stem}.followups.jsonl"))
    score_path = results_dir / f"{stem}.score.json"
    score_path.write_text(
        json.dumps(
            {
                "corpus": name,
                "system": label,
                "test": run.scorecard,
                "tune": run.tune_scorecard,
                "followups": run.followup_scorecard,
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    run.files.append(score_path)
    return run


def _llm_note(config: Config, llm_requested: bool, corpora: list[str]) -> str:
    if not llm_requested:
        return "not run (pass --llm to include it, seeds corpus only)"
    if not config.llm_base_url:
        return "requested but not configured (QA_LLM_BASE_URL is empty), so not run"
    if "seeds" not in corpora:
        return "requested, but it runs on the seeds corpus only, which was not selected"
    return f"run as ours+llm on the seeds test split (model {config.llm_model or 'default'})"


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


def scorer_note(embedder_name: str, path: Path = SCORER_WEIGHTS) -> str:
    """What the answer scorer of this embedder was fitted on, from its own record in the weights file."""
    shown = _display_path(path)
    from answering.scorer import weights_key

    try:
        weights = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"`{shown}` unreadable ({exc})"
    key = weights_key(embedder_name, weights)
    if key is None:
        return f"`{shown}` holds no scorer for `{embedder_name}` (fit one with `python -m eval train`)"
    entry = weights[key]
    data = entry.get("data") or {}
    parts = [
        f"{name}: `{d.get('gold', '?')}`, {d.get('split', '?')} split, {d.get('questions', '?')} questions"
        for name, d in data.items()
    ]
    splits = {d.get("split") for d in data.values()}
    only_tune = (
        "on the tune splits only" if splits == {"tune"} else f"on splits {', '.join(map(str, sorted(splits, key=str)))}"
    )
    threshold = f"; abstention threshold {entry['threshold']}" if "threshold" in entry else ""
    return (
        f"`{shown}` entry `{key}`, fitted {entry.get('fitted', '(date not recorded)')} {only_tune} "
        f"(`python -m eval train`; test splits are never read) — {'; '.join(parts) or 'no data recorded'}{threshold}"
    )


def comparison_table(runs: list[SystemRun], followup: bool = False, metrics: Iterable[str] | None = None) -> str:
    """These metrics (default: all) for every system, plus ours minus each baseline."""
    cards = {run.name: (run.followup_scorecard if followup else run.scorecard) for run in runs}
    ours = cards["ours"]["overall"]["metrics"]
    baselines = [b for b in BASELINES if b in cards]
    headers = ["metric"] + list(cards) + [f"ours − {b}" for b in baselines]
    rows = []
    for metric in metrics or METRICS:
        arrow = "↑" if METRICS[metric] else "↓"
        row = [f"{metric} {arrow}"] + [format_value(metric, c["overall"]["metrics"][metric]) for c in cards.values()]
        row += [format_difference(metric, ours[metric], cards[b]["overall"]["metrics"][metric]) for b in baselines]
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


def counts_table(corpus_runs: list[CorpusRun]) -> str:
    headers = ["corpus", "documents", "gold", "questions", "tune", "test", "test answerable", "test unanswerable"]
    rows = []
    for cr in corpus_runs:
        documents = sum(
            1 for p in cr.corpus.documents.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
        )
        answerable = sum(i.answerable for i in cr.test)
        rows.append(
            [
                cr.corpus.name,
                str(documents),
                f"`{_display_path(cr.corpus.gold)}`",
                str(len(cr.items)),
                str(len(cr.tune)),
                str(len(cr.test)),
                str(answerable),
                str(len(cr.test) - answerable),
            ]
        )
        if cr.followups is not None:
            answerable = sum(i.answerable for i in cr.followups)
            rows.append(
                [
                    f"{cr.corpus.name} follow-ups",
                    "",
                    f"`{_display_path(cr.corpus.followups)}`",
                    str(cr.followups_all),
                    str(cr.followups_all - len(cr.followups)),
                    str(len(cr.followups)),
                    str(answerable),
                    str(len(cr.followups) - answerable),
                ]
            )
    return render_table(headers, rows, markdown=True)


def render_report(
    corpus_runs: list[CorpusRun],
    embedder_name: str,
    llm_note: str,
    machine: str,
    minutes: float | None = None,
    llm: bool = False,
    cross_validated: dict[str, dict] | None = None,
) -> str:
    names = [cr.corpus.name for cr in corpus_runs]
    systems = list(dict.fromkeys(run.name for cr in corpus_runs for run in cr.runs))
    reproduce = f"python -m eval report --embedder {embedder_name} --corpora {','.join(names)}" + (
        " --llm" if llm else ""
    )
    lines = [
        "# Evaluation report",
        "",
        f"- Date: {datetime.now(UTC).astimezone().isoformat(timespec='seconds')}",
        f"- Embedder: `{embedder_name}`",
        f"- Machine: {machine}" + (f"; the runs took {minutes:.1f} min" if minutes is not None else ""),
        f"- Split rule (`eval/split.py`): an item's split depends on its id alone (a SHA-256 hash of it), "
        f"about {TEST_SHARE_PERCENT}% of ids go to *test*, the rest to *tune*; adding items never moves one. "
        "Every number below is on the **test** split unless it says *tune*.",
        f"- Answer scorer: {scorer_note(embedder_name)}",
        f"- LLM path: {llm_note}",
        "- Indexes: ours answers over an index of each corpus folder built by `eval.corpus_index` and cached "
        "by content (documents, embedder, ingest code) — "
        + ", ".join(
            f"{cr.corpus.name}: `{_display_path(cr.corpus.documents)}` → `{cr.index_dir.name}`" for cr in corpus_runs
        )
        + "; the baselines read the same folder's raw files.",
        "- Systems:",
        *[f"  - **{name}**: {SYSTEM_DESCRIPTIONS[name]}" for name in systems],
        "",
        "Questions per corpus and split:",
        "",
        counts_table(corpus_runs),
        "",
        f"Reproduce with `{reproduce}`.",
        "A passage *covers* an evidence quote when, after NFKC, traditional→simplified, case folding and",
        "removal of whitespace and punctuation, their longest common substring is ≥ 60% of the quote.",
        "Baselines never abstain and answer with a whole 500-character passage, which makes their",
        "answer accuracy (must_include strings, or any alternative, found in the answer) generous.",
        "",
        "## Ours vs baselines, test split",
        "",
        "↑ higher is better, ↓ lower is better; the last columns are ours minus each baseline.",
        "",
    ]
    for cr in corpus_runs:
        ours = cr.run("ours")
        answerable = sum(i.answerable for i in cr.test)
        lines += [
            f"### {cr.corpus.title} — test split ({len(cr.test)} questions: {answerable} answerable, "
            f"{len(cr.test) - answerable} unanswerable)",
            "",
            comparison_table(cr.runs, metrics=HEADLINE_METRICS),
            "",
        ]
        if ours.tune_scorecard is not None:
            lines += [
                f"Tune split, ours ({len(cr.tune)} questions, the split the answer scorer was fitted on): "
                + metrics_line(ours.tune_scorecard["overall"]["metrics"], TUNE_LINE_METRICS)
                + ".",
                "",
            ]
        held_out = (cross_validated or {}).get(cr.corpus.name)
        if held_out:
            lines += [
                "Tune split, ours, cross-validated (each question answered by models fitted without its fold, "
                f"at the one threshold, {held_out['threshold']}, costing each corpus at most "
                f"{held_out['max_false_abstention']:.0%} of its answerable questions; `python -m eval train "
                "--cross-validate`), closer to what the test split measures than the in-sample line above: "
                + " · ".join(f"{k} {held_out[k]:.3f}" for k in ("answer_accuracy", "abstention", "false_abstention"))
                + ".",
                "",
            ]
    lines += ["![hit@k for each system and corpus, test split](hitk.png)", ""]

    seeds = next((cr for cr in corpus_runs if cr.corpus.name == "seeds"), None)
    if seeds is not None:
        ours = seeds.run("ours")
        counts = ", ".join(f"{t} {n}" for t in TYPES if (n := sum(i.type == t for i in seeds.test)))
        lines += [
            f"## Seeds test split by question type ({counts})",
            "",
            group_comparison_table(seeds.runs, "by_type"),
            "",
            "## Seeds test split by language",
            "",
            group_comparison_table(seeds.runs, "by_lang"),
            "",
            "## Ours on the seeds test split: every metric by type and language",
            "",
            breakdown_table(ours.scorecard, markdown=True),
            "",
            "## Misses (ours, seeds test split)",
            "",
            *misses_lines(ours.scorecard, markdown=True),
            "",
        ]
        if seeds.followups is not None:
            lines += [
                "## Follow-up questions (seeds, test split)",
                "",
                f"`{_display_path(seeds.corpus.followups)}`, the {len(seeds.followups)} test-split follow-ups "
                f"(of {seeds.followups_all}), each asked after its first question (the first answer is passed "
                "as history; baselines ignore history).",
                "",
                comparison_table(seeds.runs, followup=True, metrics=HEADLINE_METRICS),
                "",
                "Misses (ours):",
                "",
                *misses_lines(ours.followup_scorecard, markdown=True),
                "",
            ]
    for cr in corpus_runs:
        if cr.corpus.name == "seeds":
            continue
        lines += [
            f"## Misses (ours, {cr.corpus.title} test split)",
            "",
            f"At most {MISSES_LISTED} ids per kind; every judgement is in `results/{cr.corpus.name}-ours.score.json`.",
            "",
            *misses_lines(cr.run("ours").scorecard, markdown=True, limit=MISSES_LISTED),
            "",
        ]
    return "\n".join(lines)


def _display_path(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(EVAL_DIR.parent))
    except ValueError:
        return str(path)
