"""Fast tests of the evaluation harness: normalisation, the covering rule, metrics, gold validation.

No models: a tiny fake system stands in for QA only to exercise the runner and the scorer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import GoldFormatError, load_gold, parse_gold_lines
from eval.normalize import covers, longest_common_substring_length, normalise, required_overlap
from eval.results import ResultsFormatError, read_results, write_results
from eval.run import run_items
from eval.score import ResultsMismatchError, first_covering_rank, score
from eval.tables import format_scorecard
from qa_types import Answer, Chunk, Citation, Passage

QUOTE_A = "全镇工业总产值预计突破112亿元"
QUOTE_B = "高端汽车和新能源智能汽车产业产值占到北京亦庄工业总产值的42%"


def gold_line(**fields) -> str:
    item = {
        "id": "q1",
        "question": "问题？",
        "lang": "zh-Hans",
        "type": "fact",
        "answer": "答案",
        "must_include": ["112亿元"],
        "evidence": [{"doc": "000.txt", "quote": QUOTE_A}],
    }
    item.update(fields)
    return json.dumps(item, ensure_ascii=False)


def unanswerable_line(item_id: str, lang: str = "zh-Hans") -> str:
    return gold_line(id=item_id, type="unanswerable", lang=lang, must_include=[], evidence=[])


def row(item_id: str, retrieved=(), citations=(), answer="", abstained=False, latency_ms=10.0) -> dict:
    return {
        "id": item_id,
        "question": "",
        "answer": answer,
        "abstained": abstained,
        "citations": [c if isinstance(c, dict) else {"doc": "d", "text": c, "start": 0, "end": 1} for c in citations],
        "retrieved": [{"doc": "d", "text": t, "score": 1.0} for t in retrieved],
        "latency_ms": latency_ms,
    }


# --- normalisation -------------------------------------------------------------------------------


def test_normalise_maps_traditional_to_simplified():
    assert normalise("協同發展邁出新步伐") == normalise("协同发展迈出新步伐") == "协同发展迈出新步伐"


def test_normalise_removes_chinese_and_ascii_punctuation_and_whitespace():
    assert normalise("“三城”科技成果，转化项目（近800项）……") == "三城科技成果转化项目近800项"
    assert normalise("a, b; (c)!  d\te\n") == "abcde"
    assert normalise("《行动计划》【通知】、1.2%") == "行动计划通知12"


def test_normalise_folds_full_width_and_case():
    assert normalise("ＧＤＰ增长１２％") == normalise("gdp增长12%") == "gdp增长12"


def test_normalise_drops_pinyin_ruby_but_keeps_real_parentheses():
    assert normalise("協(xié)同發(fā)展") == "协同发展"
    assert normalise("北京经济技术开发区(下称“北京亦庄”)") == "北京经济技术开发区下称北京亦庄"


# --- the 60% covering rule -----------------------------------------------------------------------


def test_required_overlap_is_ceiling_of_sixty_percent():
    assert [required_overlap(n) for n in (1, 5, 10, 11, 15)] == [1, 3, 6, 7, 9]


def test_covers_just_at_and_just_below_sixty_percent():
    quote = "一二三四五六七八九十"  # 10 characters: needs 6 in a row
    assert covers("前文一二三四五六后文", quote)  # 6/10 = 60%
    assert not covers("前文一二三四五后文六七八", quote)  # longest run 5/10
    assert covers("xx三四五六七八九十xx", "一二三四五六七八九十")  # 8/10


def test_covers_across_scripts_punctuation_and_spacing():
    passage = "……全鎮工業總產值預計突破 112 億元，約佔通州區比重五分之一。"
    assert covers(passage, QUOTE_A)


def test_longest_common_substring_length_agrees_with_covers():
    assert longest_common_substring_length("abcdefg", "xxcdefyy") == 4
    assert longest_common_substring_length("", "abc") == 0


# --- ranks, hit@k, MRR ---------------------------------------------------------------------------


def test_first_covering_rank():
    assert first_covering_rank(["无关", "无关", QUOTE_A + "。"], [QUOTE_A]) == 3
    assert first_covering_rank(["无关"] * 10 + [QUOTE_A], [QUOTE_A]) is None  # rank 11 is out


def test_hit_at_k_and_mrr():
    items = parse_gold_lines([gold_line(id=f"q{i}") for i in range(4)])
    noise = "与问题无关的段落"
    rows = [
        row("q0", retrieved=[QUOTE_A]),  # rank 1
        row("q1", retrieved=[noise, noise, QUOTE_A]),  # rank 3
        row("q2", retrieved=[noise] * 4 + [QUOTE_A]),  # rank 5
        row("q3", retrieved=[noise] * 10),
    ]  # miss
    overall = score(items, rows)["overall"]
    metrics = overall["metrics"]
    assert metrics["hit@1"] == 0.25 and metrics["hit@3"] == 0.5
    assert metrics["hit@5"] == 0.75 and metrics["hit@10"] == 0.75
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 5 + 0) / 4)
    assert overall["misses"]["hit@1"] == ["q1", "q2", "q3"]
    assert overall["misses"]["hit@5"] == ["q3"]


# --- citations -----------------------------------------------------------------------------------


def test_citation_precision_counts_each_citation_on_its_passage():
    items = parse_gold_lines([gold_line(id="q1"), gold_line(id="q2")])
    rows = [
        row("q1", citations=[QUOTE_A, "无关的段落内容"], answer="112亿元"),
        row(
            "q2",
            citations=[
                {
                    "doc": "d",
                    "text": "预计突破112亿元",  # sentence alone: too short
                    "passage": "镇里" + QUOTE_A + "。",
                    "start": 0,
                    "end": 1,
                }
            ],
            answer="112亿元",
        ),
    ]
    card = score(items, rows)["overall"]
    assert card["metrics"]["citation_precision"] == pytest.approx(2 / 3)
    assert card["metrics"]["citation_sentence_precision"] == pytest.approx(2 / 3)  # short sentence lies inside
    assert card["misses"]["citation_precision"] == ["q1"]
    assert card["metrics"]["citation_recall"] == 1.0


def test_citation_precision_ignores_abstained_and_unanswerable_items():
    items = parse_gold_lines([gold_line(id="q1"), unanswerable_line("u1")])
    rows = [row("q1", citations=["无关"], abstained=True), row("u1", citations=["无关"])]
    card = score(items, rows)["overall"]
    assert card["metrics"]["citation_precision"] is None  # no citation in scope
    assert card["metrics"]["citation_recall"] == 0.0


def test_multi_doc_recall_needs_every_quote():
    evidence = [{"doc": "000.txt", "quote": QUOTE_A}, {"doc": "004.txt", "quote": QUOTE_B}]
    items = parse_gold_lines(
        [
            gold_line(id="m1", type="multi_doc", evidence=evidence),
            gold_line(id="m2", type="multi_doc", evidence=evidence),
        ]
    )
    rows = [
        row("m1", citations=[QUOTE_A], answer="112亿元"),
        row("m2", citations=[QUOTE_A, "据报道，" + QUOTE_B], answer="112亿元"),
    ]
    card = score(items, rows)["overall"]
    assert card["metrics"]["citation_recall"] == 0.5
    assert card["misses"]["citation_recall"] == ["m1"]
    assert card["metrics"]["citation_precision"] == 1.0  # every citation shown is right, just not enough


# --- answers and abstention ----------------------------------------------------------------------


def test_answer_accuracy_accepts_traditional_answer_and_counts_abstentions_as_misses():
    items = parse_gold_lines(
        [
            gold_line(id="q1", lang="zh-Hant", must_include=["112亿元", "工业总产值"]),
            gold_line(id="q2", must_include=["112亿元"]),
            gold_line(id="q3", must_include=["112亿元"]),
        ]
    )
    rows = [
        row("q1", answer="全鎮工業總產值預計突破 112 億元。"),
        row("q2", answer="约占五分之一"),
        row("q3", answer="112亿元", abstained=True),
    ]
    card = score(items, rows)["overall"]
    assert card["metrics"]["answer_accuracy"] == pytest.approx(1 / 3)
    assert card["metrics"]["answer_accuracy_answered"] == 0.5
    assert card["misses"]["answer"] == ["q2", "q3"]


def test_abstention_and_false_abstention():
    items = parse_gold_lines(
        [
            gold_line(id="q1"),
            gold_line(id="q2"),
            unanswerable_line("u1"),
            unanswerable_line("u2"),
            unanswerable_line("u3"),
            unanswerable_line("u4"),
        ]
    )
    rows = [
        row("q1", abstained=True),
        row("q2", answer="112亿元"),
        row("u1", abstained=True),
        row("u2", abstained=True),
        row("u3", abstained=True),
        row("u4", answer="瞎编的答案"),
    ]
    card = score(items, rows)["overall"]
    assert card["metrics"]["abstention"] == 0.75
    assert card["metrics"]["false_abstention"] == 0.5
    assert card["misses"]["false_abstention"] == ["q1"]
    assert card["misses"]["missed_abstention"] == ["u4"]


def test_latency_percentiles():
    items = parse_gold_lines([gold_line(id=f"q{i}") for i in range(1, 101)])
    rows = [row(f"q{i}", latency_ms=float(i)) for i in range(1, 101)]
    metrics = score(items, rows)["overall"]["metrics"]
    assert metrics["latency_p50_ms"] == pytest.approx(50.5)
    assert metrics["latency_p95_ms"] == pytest.approx(95.05)


# --- breakdowns ----------------------------------------------------------------------------------


def test_breakdown_by_type_and_language():
    items = parse_gold_lines(
        [
            gold_line(id="f1", type="fact", lang="zh-Hans"),
            gold_line(id="n1", type="number", lang="zh-Hant"),
            gold_line(id="n2", type="number", lang="en"),
            unanswerable_line("u1", lang="en"),
        ]
    )
    rows = [
        row("f1", retrieved=[QUOTE_A], answer="112亿元"),
        row("n1", retrieved=["无关"]),
        row("n2", retrieved=[QUOTE_A], answer="112亿元"),
        row("u1", abstained=True),
    ]
    card = score(items, rows)
    assert list(card["by_type"]) == ["fact", "number", "unanswerable"]
    assert list(card["by_lang"]) == ["zh-Hans", "zh-Hant", "en"]
    assert card["by_type"]["number"]["metrics"]["hit@1"] == 0.5
    assert card["by_type"]["number"]["misses"]["hit@1"] == ["n1"]
    assert card["by_type"]["unanswerable"]["metrics"]["abstention"] == 1.0
    assert card["by_type"]["unanswerable"]["metrics"]["hit@1"] is None
    assert card["by_lang"]["en"]["n"] == 2 and card["by_lang"]["en"]["metrics"]["hit@1"] == 1.0
    assert card["by_lang"]["zh-Hant"]["metrics"]["answer_accuracy"] == 0.0
    text = format_scorecard(card)
    assert "hit@1" in text and "zh-Hant" in text and "n1" in text


# --- gold and results validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("{not json", "not valid JSON"),
        (gold_line(lang="fr"), "lang"),
        (gold_line(type="opinion"), "type"),
        (json.dumps({"id": "x", "question": "q"}), "missing key"),
        (gold_line(evidence=[{"doc": "a.txt"}]), "evidence[0]"),
        (gold_line(must_include="112亿元"), "must_include"),
        (gold_line(type="unanswerable"), "unanswerable items must have empty"),
        (gold_line(evidence=[]), "at least one evidence"),
        (gold_line(first_question="第一个问题"), "standalone"),
    ],
)
def test_malformed_gold_line_names_its_line(tmp_path, bad_line, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(gold_line(id="ok") + "\n\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(GoldFormatError) as error:
        load_gold(path)
    assert f"{path}:3" in str(error.value) and message in str(error.value)


def test_duplicate_gold_id_is_an_error():
    with pytest.raises(GoldFormatError, match=r":2: duplicate id 'q1'"):
        parse_gold_lines([gold_line(id="q1"), gold_line(id="q1")])


def test_results_must_match_gold_ids():
    items = parse_gold_lines([gold_line(id="q1"), gold_line(id="q2")])
    with pytest.raises(ResultsMismatchError, match="no result for q2"):
        score(items, [row("q1")])
    with pytest.raises(ResultsMismatchError, match="not in gold: zz"):
        score(items, [row("q1"), row("q2"), row("zz")])


def test_results_round_trip_and_bad_row(tmp_path):
    path = write_results([row("q1", retrieved=[QUOTE_A])], tmp_path / "r.jsonl")
    assert read_results(path)[0]["retrieved"][0]["text"] == QUOTE_A
    path.write_text(
        json.dumps({"id": "q1", "answer": "", "abstained": "no", "citations": [], "retrieved": [], "latency_ms": 1})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ResultsFormatError, match=r"r.jsonl:1: 'abstained'"):
        read_results(path)


# --- runner (fake system, to isolate the runner from the pipeline) ------------------------------


class EchoSystem:
    """Answers with its question and records the history it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list | None]] = []

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        self.calls.append((question, history))
        chunk = Chunk(
            id="c", doc="000.txt", title="t", section="", text="镇里" + QUOTE_A + "。", search_text="", start=5, end=25
        )
        citation = Citation(n=1, doc="000.txt", title="t", section="", text=chunk.text, start=7, end=22, quote=QUOTE_A)
        return Answer(
            question=question,
            answer=f"答：{question}",
            abstained=False,
            lang="zh-Hans",
            citations=[citation],
            retrieved=[Passage(chunk=chunk, score=0.9)] * 12,
        )


def test_run_items_writes_contract_rows_and_passes_followup_history():
    items = parse_gold_lines(
        [
            gold_line(id="q1"),
            gold_line(
                id="f1",
                question="那占比呢？",
                first_question="工业总产值多少？",
                standalone="马驹桥镇工业总产值占通州区比重多少？",
            ),
        ]
    )
    system = EchoSystem()
    rows = run_items(system, items, progress=False)
    assert [r["id"] for r in rows] == ["q1", "f1"]
    assert system.calls[0] == (items[0].question, None)
    assert system.calls[1] == ("工业总产值多少？", None)
    assert system.calls[2] == (
        "那占比呢？",
        [{"role": "user", "content": "工业总产值多少？"}, {"role": "assistant", "content": "答：工业总产值多少？"}],
    )
    first = rows[0]
    assert len(first["retrieved"]) == 10
    assert first["retrieved"][0] == {"doc": "000.txt", "text": "镇里" + QUOTE_A + "。", "score": 0.9}
    assert first["citations"][0] == {
        "doc": "000.txt",
        "text": QUOTE_A,
        "passage": "镇里" + QUOTE_A + "。",
        "start": 7,
        "end": 22,
    }
    assert first["latency_ms"] >= 0 and first["abstained"] is False
    assert score(items, rows)["overall"]["metrics"]["hit@1"] == 1.0


def test_run_items_names_the_failing_question():
    class Broken:
        def ask(self, question, history=None):
            raise KeyError("index missing")

    with pytest.raises(RuntimeError, match="question 'q1' failed"):
        run_items(Broken(), parse_gold_lines([gold_line(id="q1")]), progress=False)


# --- baselines and report (no model: BM25 only, tiny seeds folder) -----------------------------


def make_seeds(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    filler = "本段介绍其他工作安排与会议精神。" * 40
    (seeds / "000.txt").write_text(
        filler + "\n\n" + "马驹桥镇" + QUOTE_A + "，约占通州区比重五分之一。\n\n" + filler, encoding="utf-8"
    )
    (seeds / "004.txt").write_text("協(xié)同發(fā)展邁出新步伐\n" + QUOTE_B + "。", encoding="utf-8")
    (seeds / "notes.json").write_text("{}", encoding="utf-8")  # not a seed: ignored
    return seeds


def test_split_seeds_records_raw_offsets(tmp_path):
    from eval.baselines import CHUNK_SIZE, read_seed_files, split_seeds

    seeds = read_seed_files(make_seeds(tmp_path))
    assert sorted(seeds) == ["000.txt", "004.txt"]
    chunks = split_seeds(seeds)
    assert all(len(c.text) <= CHUNK_SIZE for c in chunks)
    for c in chunks:
        assert c.start >= 0 and seeds[c.doc][c.start : c.end] == c.text


def test_bm25_baseline_answers_with_top_passage_and_three_citations(tmp_path):
    from config import Config
    from eval.baselines import BM25Baseline

    system = BM25Baseline.build(Config(seeds_dir=make_seeds(tmp_path)))
    answer = system.ask("马驹桥镇工业总产值预计突破多少亿元？")
    assert not answer.abstained and covers(answer.retrieved[0].chunk.text, QUOTE_A)
    assert answer.answer == answer.retrieved[0].chunk.text
    assert [c.quote for c in answer.citations] == [p.chunk.text for p in answer.retrieved[:3]]
    assert 1 <= len(answer.retrieved) <= 10
    assert system.ask("？？").retrieved == []  # no token left: nothing retrieved, no crash


def first_id_in(split: str, prefix: str) -> str:
    """The first of prefix1, prefix2, … that eval/split.py puts in `split` (the report scores and
    lists the test split; ours is also scored on the tune split)."""
    from eval.split import split_of

    return next(f"{prefix}{n}" for n in range(1, 100) if split_of(f"{prefix}{n}") == split)


def test_report_writes_markdown_plot_and_results(tmp_path, monkeypatch):
    import dataclasses

    import eval.report as report
    from config import Config
    from eval.baselines import BM25Baseline

    config = Config(seeds_dir=make_seeds(tmp_path), index_dir=tmp_path / "index", model_cache=tmp_path / "cache")
    monkeypatch.setattr(
        report, "load_system", lambda name, config, embedder=None, llm=False: BM25Baseline.build(config)
    )  # every system played by BM25: no model needed
    # ... so no dense index either: the corpus folder is used as it is, nothing is built or cached.
    monkeypatch.setattr(
        report,
        "corpus_config",
        lambda config, corpus, embedder: dataclasses.replace(config, seeds_dir=corpus.documents),
    )
    held_out = {"questions": 3, "max_false_abstention": 0.03, "abstention": 0.6, "false_abstention": 0.02}
    monkeypatch.setattr(  # the real one fits the scorer five times over both corpora
        report,
        "_cross_validated",
        lambda config, embedder, selected: {"seeds": {**held_out, "answer_accuracy": 0.8, "threshold": 0.12}},
    )
    answerable, unanswerable, followup = (first_id_in("test", p) for p in ("q", "u", "f"))
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "\n".join(
            [
                gold_line(id=answerable, question="马驹桥镇工业总产值预计突破多少？"),
                gold_line(id=first_id_in("tune", "q"), question="马驹桥镇工业总产值预计突破多少？"),
                unanswerable_line(unanswerable),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    followups = tmp_path / "followups.jsonl"
    followups.write_text(
        gold_line(
            id=followup,
            question="占比呢？",
            first_question="工业总产值多少？",
            standalone="工业总产值占通州区比重多少？",
        )
        + "\n",
        encoding="utf-8",
    )
    written = report.build_report(
        config,
        gold_path=gold,
        out_dir=tmp_path / "out",
        embedder="fake",
        llm=True,
        followups_path=followups,
        progress=False,
        corpora="seeds",
        cross_validate=True,
    )
    names = {p.name for p in written}
    assert {
        "REPORT.md",
        "hitk.png",
        "seeds-ours.jsonl",
        "seeds-naive.jsonl",
        "seeds-bm25.jsonl",
        "seeds-ours.followups.jsonl",
        "seeds-bm25.score.json",
    } <= names
    text = (tmp_path / "out" / "REPORT.md").read_text(encoding="utf-8")
    assert "ours − naive" in text and "## Seeds test split by question type" in text
    assert "## Follow-up questions" in text
    assert "not configured" in text  # --llm without QA_LLM_BASE_URL is said, not silently dropped
    assert f"`{unanswerable}`" in text  # a missed abstention (test split) is listed by id
    assert "--corpora seeds" in text  # the reproduce line names the corpora reported on
    assert "Tune split, ours (1 questions" in text  # ours is also scored on the split it was fitted on
    # ... and on the same split by models not fitted on each question (eval train --cross-validate)
    assert "cross-validated" in text and "answer_accuracy 0.800 · abstention 0.600 · false_abstention 0.020" in text
    assert (tmp_path / "out" / "hitk.png").read_bytes()[:4] == b"\x89PNG"
