"""Evaluation harness: `python -m eval run | score | report`.

Modules, in the order data flows through them:
  gold       load and validate a gold (or follow-up) JSONL set
  run        ask each question of a system (ours or a baseline), time it, collect rows
  baselines  naive LangChain dense retrieval and BM25, same `.ask` interface as our QA
  results    the results JSONL row format, read and write
  normalize  NFKC + traditional->simplified + punctuation/whitespace removal; the 60% covering rule
  score      judge each item, aggregate metrics overall / by type / by language, list misses
  tables     plain-text and Markdown tables
  plot       the hit@k PNG
  report     run everything, write eval/results/*, eval/REPORT.md and eval/hitk.png
"""
