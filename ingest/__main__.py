"""python -m ingest [--seeds DIR] [--index DIR] [--embedder NAME] [--no-vectors] [--inspect]

Builds the index folder from a folder of .txt/.md documents: cleaned chunks (chunks.jsonl),
documents, the FAISS vectors and a manifest; prints a summary, or with --inspect a per-document
report (encoding, characters before/after cleaning, chunks, headings, rules fired, skipped files).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from config import Config
from ingest.build import build_index
from ingest.documents import ingest_folder


def _print_inspect(result) -> None:
    for r in result.reports:
        print(f"== {r.doc_id}  [{r.encoding}]  {r.chars_before} -> {r.chars_after} chars, {r.chunks} chunks")
        if r.metadata:
            print("   metadata: " + ", ".join(f"{k}={v}" for k, v in r.metadata.items()))
        print(
            f"   headings ({len(r.headings)}): "
            + " | ".join(h[:30] for h in r.headings[:12])
            + (" …" if len(r.headings) > 12 else "")
        )
        print("   rules fired: " + (", ".join(f"{k}×{v}" for k, v in sorted(r.rules_fired.items())) or "none"))
    for s in result.skipped:
        print(f"-- skipped {s.doc_id}: {s.reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.split("\n\n")[1])
    parser.add_argument("--seeds", type=Path, help="documents folder (default: QA_SEEDS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, help="index folder (default: QA_INDEX_DIR or index/)")
    parser.add_argument("--embedder", help="embedder name (default: QA_EMBEDDER or embeddinggemma)")
    parser.add_argument("--no-vectors", action="store_true", help="chunks only, no embeddings")
    parser.add_argument("--inspect", action="store_true", help="print a per-document report, write nothing")
    args = parser.parse_args(argv)
    try:
        config = Config.from_env(seeds_dir=args.seeds, index_dir=args.index, embedder=args.embedder)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.inspect:
        try:
            _print_inspect(ingest_folder(config.seeds_dir))
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    started = time.perf_counter()
    try:
        summary = build_index(config, with_vectors=not args.no_vectors, log=lambda m: print(m, file=sys.stderr))
    except (FileNotFoundError, ValueError) as exc:  # ValueError: e.g. chunk_pass with another embedder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.describe() + f" in {time.perf_counter() - started:.1f}s")
    return 0 if summary.documents else 1


if __name__ == "__main__":
    sys.exit(main())
