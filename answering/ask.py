"""python -m answering.ask "问题" [--json] [--k 5] [--embedder NAME]

Answers one question from the index with its citations, or one JSON object:
{"question", "answer", "abstained", "lang", "citations": [...], "retrieved": [...]}.
"""

from __future__ import annotations

import argparse
import json
import sys

from config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m answering.ask", description="Answer a question with citations.")
    parser.add_argument("question")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--k", type=int, default=None, help="passages considered for the answer (default 5)")
    parser.add_argument("--embedder", help="embedder the index was built with (default: QA_EMBEDDER)")
    args = parser.parse_args(argv)
    question = args.question.strip()
    if not question:
        print("error: the question is empty", file=sys.stderr)
        return 2
    if args.k is not None and not 1 <= args.k <= 10:
        print("error: --k must be between 1 and 10", file=sys.stderr)
        return 2
    from answering.pipeline import QA
    from store.index_files import IndexUnusableError

    try:
        qa = QA.load(Config.from_env(), embedder=args.embedder, llm=False)
    except (IndexUnusableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    answer = qa.ask(question, k=args.k)
    if args.json:
        data = answer.to_dict()
        keep = ("question", "answer", "abstained", "lang", "citations", "retrieved")
        data = {key: data[key] for key in keep}
        data["citations"] = [
            {k: c[k] for k in ("n", "doc", "title", "section", "text", "start", "end", "quote")}
            for c in data["citations"]
        ]
        data["retrieved"] = [{k: p[k] for k in ("doc", "text", "score")} for p in data["retrieved"]]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    for c in answer.citations:
        print(f"\n[{c.n}] {c.title} › {c.section.split(' › ', 1)[-1]}\n    {c.quote}")
    if answer.related:
        print("\nRelated passages:")
        for p in answer.related:
            print(f"  - {p.chunk.title}: {p.chunk.text[:80]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
