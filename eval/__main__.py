"""Command line of the evaluation harness.

    python -m eval run --gold FILE --out RESULTS.jsonl [--seeds DIR] [--split tune|test|all]
                       [--system ours|naive|bm25] [--embedder NAME] [--llm]
    python -m eval score --gold FILE --results RESULTS.jsonl [--split tune|test|all] [--json]
    python -m eval report [--gold eval/gold.jsonl] [--corpora seeds,cmrc] [--embedder NAME] [--out-dir eval/] [--llm]

A malformed gold or results file, or a bad QA_* setting, ends with exit code 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from config import Config
from eval.gold import DEFAULT_GOLD, EVAL_DIR, load_gold
from eval.results import read_results, write_results
from eval.run import SYSTEMS, load_system, run_items
from eval.score import score
from eval.split import select
from eval.tables import format_scorecard


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval",
        description="Evaluation harness: answer a gold set with a system, score the results, or write the report.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="answer every gold question, write one results line each")
    run.add_argument("--gold", type=Path, required=True, help="gold JSONL file")
    run.add_argument("--out", type=Path, required=True, help="results JSONL file to write")
    run.add_argument("--system", choices=SYSTEMS, default="ours")
    run.add_argument("--embedder", default=None, help="embedder name (default: QA_EMBEDDER / config)")
    run.add_argument("--llm", action="store_true", help="let the configured LLM write answers (ours only)")
    run.add_argument(
        "--seeds",
        type=Path,
        default=None,
        help="answer over this folder of documents (its index is built once and cached by content); "
        "default: the configured index",
    )
    run.add_argument(
        "--split",
        choices=("tune", "test", "all"),
        default="all",
        help="only the items of this split (eval.split: a stable hash of the id)",
    )

    score_cmd = commands.add_parser("score", help="score a results file against its gold file")
    score_cmd.add_argument("--gold", type=Path, required=True)
    score_cmd.add_argument("--results", type=Path, required=True)
    score_cmd.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    score_cmd.add_argument(
        "--split", choices=("tune", "test", "all"), default="all", help="score only the items of this split"
    )

    report = commands.add_parser("report", help="run ours and the baselines, write REPORT.md and hitk.png")
    report.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    report.add_argument("--embedder", default=None)
    report.add_argument("--out-dir", type=Path, default=EVAL_DIR)
    report.add_argument("--llm", action="store_true", help="also run the LLM path when it is configured (seeds only)")
    report.add_argument(
        "--corpora", default="seeds,cmrc", help="comma-separated corpora to report on, of seeds, cmrc (default: both)"
    )
    report.add_argument(
        "--no-cross-validation",
        action="store_true",
        help="leave out the cross-validated tune line (eval train --cross-validate, about a minute)",
    )
    train = commands.add_parser("train", help="fit the answer scorer and its abstention threshold on the tune splits")
    train.add_argument("--embedder", default=None, help="embedder name (default: QA_EMBEDDER / config)")
    train.add_argument(
        "--near-misses",
        action="store_true",
        help="also fit on near misses made from answerable tune questions (eval/train.py)",
    )
    train.add_argument(
        "--take-out-evidence",
        action="store_true",
        help="also fit the answerability model on answerable tune questions with their evidence taken out "
        "(eval/train.py; off: it did not pay off on the test splits)",
    )
    train.add_argument(
        "--cross-fit-threshold",
        action="store_true",
        help="choose the abstention threshold on supports from models fitted without each question's fold "
        "(eval/train.py; off: it did not pay off on the test splits)",
    )
    train.add_argument(
        "--cross-validate",
        action="store_true",
        help="write nothing; print how the scorer does on tune questions it is not fitted on "
        "(5 folds, through the pipeline): compare features and settings without reading a test split",
    )
    return parser


def command_train(args) -> int:
    from eval.train import cross_validate, train

    if args.cross_validate:
        result = cross_validate(Config.from_env(), embedder=args.embedder, log=lambda m: print(m, file=sys.stderr))
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    result = train(
        Config.from_env(),
        embedder=args.embedder,
        log=lambda m: print(m, file=sys.stderr),
        make_near_misses=args.near_misses,
        take_out_evidence=args.take_out_evidence,
        cross_fit_threshold=args.cross_fit_threshold,
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def command_run(args) -> int:
    items = select(load_gold(args.gold), args.split)
    config = Config.from_env()
    if args.seeds is not None:
        from eval.corpus_index import config_for_corpus

        config = config_for_corpus(config, args.seeds, args.embedder)
    system = load_system(args.system, config, embedder=args.embedder, llm=args.llm)
    rows = run_items(system, items, label=args.system)
    print(f"wrote {len(rows)} results to {write_results(rows, args.out)}")
    return 0


def command_score(args) -> int:
    items = select(load_gold(args.gold), args.split)
    wanted = {item.id for item in items}
    scorecard = score(items, [row for row in read_results(args.results) if row["id"] in wanted])
    if args.json:
        print(json.dumps(scorecard, ensure_ascii=False))
    else:
        print(format_scorecard(scorecard))
    return 0


def command_report(args) -> int:
    from eval.report import build_report  # pulls in matplotlib: only when reporting

    written = build_report(
        Config.from_env(),
        gold_path=args.gold,
        out_dir=args.out_dir,
        embedder=args.embedder,
        llm=args.llm,
        corpora=args.corpora,
        cross_validate=not args.no_cross_validation,
    )
    print("wrote:")
    for path in written:
        print(f"  {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": command_run, "score": command_score, "report": command_report, "train": command_train}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as exc:  # bad gold/results/config: message names the cause
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
