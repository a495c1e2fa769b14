"""python -m bench [--quick] [--only ingest,query,http,scale,replicas,quality] [--keep]

Runs the chosen benchmarks in order and writes bench/RESULTS.md (machine, targets, tables).
--quick: fewer questions and requests, no 60 s run, scale up to 10k chunks: for development.
--only a subset (e.g. `--only replicas`) replaces just those sections in an existing RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Progress bars from ingest would bury the summary; subprocesses inherit this too.
os.environ.setdefault("TQDM_DISABLE", "1")

from bench import http_load, ingest_speed, machine, quality, query_latency, replicas, report, scale  # noqa: E402
from bench.machine import load_average  # noqa: E402
from bench.workspace import Workspace  # noqa: E402

BENCHMARKS = {
    "ingest": ingest_speed.run,
    "query": query_latency.run,
    "http": http_load.run,
    "scale": scale.run,
    "replicas": replicas.run,
    "quality": quality.run,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for development")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (indexes, server logs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write (default: {RESULTS})")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    command = (
        "python -m bench"
        + (" --quick" if args.quick else "")
        + (f" --only {','.join(chosen)}" if chosen != list(BENCHMARKS) else "")
    )
    machine_rows = machine.describe()
    ws = Workspace()
    print(f"working in {ws.root}", file=sys.stderr)
    sections = []
    try:
        for name in chosen:
            print(f"== {name} (load {load_average()})", file=sys.stderr, flush=True)
            started = time.perf_counter()
            section = BENCHMARKS[name](ws, quick=args.quick)
            section.seconds = time.perf_counter() - started
            section.load_after = load_average()
            sections.append(section)
            # keep what is done if a later one fails; a subset replaces only its sections in the file
            report.write(args.out, machine_rows, command, sections, merge_into=chosen != list(BENCHMARKS))
    finally:
        if not args.keep:
            ws.cleanup()
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
