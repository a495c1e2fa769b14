"""The citation checker on hand-written answers: no LLM, no index.

Sentence vectors come from a stand-in embedder (hashed character bigrams), so cosine follows the
wording; the thresholds under test are the checker's own defaults.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from answering.citation_check import (
    DEFAULT_THRESHOLDS,
    SourcePassage,
    SourceSentence,
    as_statement,
    check_answer,
    compose,
    number_forms,
    numbers_in,
    quantities_supported,
    split_sentences,
)
from language.normalize import search_form
from qa_types import Chunk

DIM = 256

# Sentences from seeds/000_f07e5012fceaca9b.txt (offsets are invented but consistent).
XIAOMI = (
    "作为马驹桥引进的重大项目之一，小米汽车一期占地面积接近72万平方米，预计2024年4月实现量产，年产能将达到20万辆。"
    "小米汽车是马驹桥镇汽车产业联盟的一员。"
)
TAX = (
    "2020年、2021年、2022年全镇税收分别为18.99亿元、19.14亿元、24.38亿元，2023年1-11月实现25.31亿元，突破历史最高水平。"
    "全镇工业总产值预计突破112亿元，约占通州区比重五分之一、占经开区比重三分之一。"
)
INVEST = "固定资产投资同样增长迅猛，2021年全镇完成固投158亿元，2022年完成固投185亿元，2023年全镇固投任务212.02亿元，同比增长率超过20%。"


def embed(texts: list[str]) -> np.ndarray:
    """Stand-in for a sentence embedder: L2-normalised counts of hashed character bigrams."""
    rows = np.zeros((len(texts), DIM), np.float32)
    for row, text in zip(rows, texts):
        chars = re.sub(r"\W", "", search_form(text))
        for i in range(len(chars) - 1):
            row[zlib.crc32(chars[i : i + 2].encode()) % DIM] += 1
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def passage(n: int, text: str, doc: str = "000_f07e5012fceaca9b.txt", start: int = 1000) -> SourcePassage:
    sentences, offset = [], start
    for sentence in re.findall(r"[^。]+。", text):
        sentences.append(SourceSentence(offset, offset + len(sentence), sentence, embed([sentence])[0]))
        offset += len(sentence)
    chunk = Chunk(
        id=f"{doc}#{n}",
        doc=doc,
        title="马驹桥镇",
        section="马驹桥镇 › 产业",
        text=text,
        search_text=search_form(text),
        start=start,
        end=start + len(text),
    )
    return SourcePassage(n, chunk, sentences)


@pytest.fixture
def passages() -> list[SourcePassage]:
    return [passage(1, XIAOMI, start=100), passage(2, TAX, start=2000), passage(3, INVEST, start=3000)]


def check(text: str, passages, lang: str = "zh-Hans", question: str = ""):
    return check_answer(text, passages, embed, lang, DEFAULT_THRESHOLDS, question)


# ---------------------------------------------------------------- splitting
def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    assert split_sentences("小米汽车一期占地接近72万平方米。[1]预计2024年4月量产[1][3]。") == [
        ("小米汽车一期占地接近72万平方米。", [1]),
        ("预计2024年4月量产。", [1, 3]),
    ]


def test_marker_variants_bullets_and_placeholders_are_understood():
    text = "- 年产能20万辆【1】\n- 税收24.38亿元［2, 3］\n**总结**：见上文 [n]。"
    assert split_sentences(text) == [("年产能20万辆", [1]), ("税收24.38亿元", [2, 3]), ("总结：见上文。", [])]


def test_a_marker_followed_by_more_text_ends_a_clause():
    assert split_sentences("一期占地72万平方米[1]，年产能20万辆[2]。") == [
        ("一期占地72万平方米", [1]),
        ("年产能20万辆。", [2]),
    ]


def test_english_sentences_split_at_periods_but_not_inside_numbers():
    assert split_sentences("Tax revenue was 24.38亿元 in 2022 [2]. It rose again. [2]") == [
        ("Tax revenue was 24.38亿元 in 2022.", [2]),
        ("It rose again.", [2]),
    ]


def test_numbers_are_normalised_and_wan_counts_as_ten_thousand():
    assert {"72", "720000", "1200"} <= numbers_in("接近72万平方米，1,200人")
    assert [n.forms for n in number_forms("24.38亿元, 2.438 billion yuan")] == [
        ("24.38", "2438000000"),
        ("2.438", "2438000000"),
    ]
    assert [n.unit for n in number_forms("1800余亩、30%左右、5倍")] == ["亩", "%", "倍"]


# ---------------------------------------------------------------- support
def test_a_supported_sentence_keeps_its_citation_to_the_best_passage_sentence(passages):
    result = check("小米汽车一期占地面积接近72万平方米。[1]", passages)
    (sentence,) = result.kept
    assert sentence.verdict == "kept"
    (support,) = sentence.supports
    assert support.passage.n == 1
    assert "72万平方米" in support.sentence.text
    assert (support.sentence.start, support.sentence.end) == (100, 100 + XIAOMI.index("。") + 1)


def test_an_invalid_marker_is_removed_and_the_supporting_passage_cited(passages):
    (sentence,) = check("2023年全镇固投任务212.02亿元。[7]", passages).kept
    assert sentence.verdict == "recited"
    assert [s.passage.n for s in sentence.supports] == [3]


def test_a_wrong_citation_is_moved_to_the_passage_that_supports_the_sentence(passages):
    (sentence,) = check("小米汽车预计2024年4月实现量产。[2]", passages).kept
    assert [s.passage.n for s in sentence.supports] == [1]


def test_a_sentence_without_a_citation_gets_the_best_supporting_passage(passages):
    (sentence,) = check("全镇工业总产值预计突破112亿元。", passages).kept
    assert [s.passage.n for s in sentence.supports] == [2]


def test_outside_knowledge_is_dropped(passages):
    result = check("小米汽车年产能将达到20万辆。[1]北京是中华人民共和国的首都，有三千多年建城史。[1]", passages)
    assert [s.text for s in result.kept] == ["小米汽车年产能将达到20万辆。"]
    assert [s.text for s in result.dropped] == ["北京是中华人民共和国的首都，有三千多年建城史。"]


def test_a_number_the_passage_does_not_give_is_dropped(passages):
    result = check("小米汽车一期年产能将达到30万辆。[1]", passages)
    assert not result.kept
    assert result.dropped[0].best is not None and not result.dropped[0].best.numbers_ok


def test_a_quantity_placed_in_the_wrong_year_is_dropped(passages):
    assert not check("2023年全镇固投任务是158亿元。[3]", passages).kept
    assert not quantities_supported("2023年全镇固投任务是158亿元", INVEST, "zh-Hans")
    assert quantities_supported("2023年全镇固投任务是212.02亿元", INVEST, "zh-Hans")


def test_a_value_from_a_respectively_list_must_belong_to_the_claimed_year(passages):
    assert check("2022年全镇税收为24.38亿元。[2]", passages).kept
    assert not check("2022年全镇税收为18.99亿元。[2]", passages).kept  # 18.99 is 2020's
    assert not quantities_supported("Majuqiao's total tax revenue in 2022 was 18.99亿元.", TAX, "en")
    assert quantities_supported("Majuqiao's total tax revenue in 2022 was 2.438 billion yuan (24.38亿元).", TAX, "en")
    assert not quantities_supported("Majuqiao's total tax revenue in 2022 was 1.899 billion yuan.", TAX, "en")


def test_a_neighbouring_number_does_not_support_the_claim_but_paraphrase_and_date_ranges_do():
    text = "2023年1-11月，智能制造企业共完成产值约67亿元，税收突破3亿元，同比增长约40%。"
    assert quantities_supported("2023年1-11月马驹桥镇智能制造企业共完成产值约67亿元。", text, "zh-Hans")
    assert not quantities_supported("2023年1-11月马驹桥镇智能制造企业共完成产值约3亿元。", text, "zh-Hans")
    forest = "推进集体林场改革，平原造林工程新增林木资源养护面积2.4万余亩，镇域内森林覆盖率达到30%左右。"
    assert quantities_supported("马驹桥镇土地被林木覆盖比例约为30%左右。", forest, "zh-Hans")
    assert not quantities_supported("马驹桥镇土地被林木覆盖比例约为2.4%。", forest, "zh-Hans")


def test_the_number_must_sit_in_the_clause_that_matches_the_claim_best():
    text = (
        "2023年1-11月实现25.31亿元，突破历史最高水平；工业发展势头强劲，全镇工业总产值由2021年完成87.7亿元，"
        "增长到2022年完成104.8亿元，同比增长19%。"
    )
    assert quantities_supported("全镇工业总产值2021年完成87.7亿元。", text, "zh-Hans")
    assert not quantities_supported("2023年马驹桥镇全镇工业总产值突破25.31亿元。", text, "zh-Hans")


def test_a_bare_fragment_is_checked_as_the_answer_to_the_question(passages):
    question = "2023年马驹桥镇全镇工业总产值预计突破多少？"
    assert as_statement("112亿元。", question).endswith("112亿元。")
    assert check("112亿元。[2]", passages, question=question).kept
    # 25.31亿元 is in the passage, but as 2023's tax revenue, not as the output value asked about.
    assert not check("25.31亿元。[2]", passages, question=question).kept
    # The question's words do not carry a fragment of outside knowledge.
    assert not check("法国的首都是巴黎。[1]", passages, question="小米汽车一期占地面积有多大？").kept


def test_english_sentences_are_checked_by_meaning_and_numbers_only(passages):
    def embed_as_chinese(texts):  # an English sentence stands in for its Chinese meaning
        return embed(["小米汽车一期占地面积接近72万平方米" if "Xiaomi" in t else t for t in texts])

    ok = check_answer(
        "Phase one of the Xiaomi car plant covers nearly 720,000 square metres. [1]", passages, embed_as_chinese, "en"
    )
    assert [s.passage.n for s in ok.kept[0].supports] == [1]
    wrong_number = check_answer(
        "Phase one of the Xiaomi car plant covers nearly 800,000 square metres. [1]", passages, embed_as_chinese, "en"
    )
    assert not wrong_number.kept


def test_no_passages_or_no_text_keeps_nothing(passages):
    assert not check("", passages).sentences
    assert not check("小米汽车年产能将达到20万辆。[1]", []).kept


# ---------------------------------------------------------------- the composed answer
def test_compose_numbers_citations_in_order_of_use_and_reuses_a_number_for_the_same_sentence(passages):
    result = check(
        "全镇工业总产值预计突破112亿元。[2]小米汽车一期占地面积接近72万平方米。[1]小米汽车年产能将达到20万辆。[1]",
        passages,
    )
    text, citations = compose(result, "zh-Hans")
    assert (
        text
        == "全镇工业总产值预计突破112亿元。[1]小米汽车一期占地面积接近72万平方米。[2]小米汽车年产能将达到20万辆。[2]"
    )
    assert [c.n for c in citations] == [1, 2]
    assert citations[1].quote == XIAOMI[: XIAOMI.index("。") + 1]
    assert (citations[1].passage_start, citations[1].passage_end) == (100, 100 + len(XIAOMI))
    assert citations[0].text == TAX and citations[0].doc == "000_f07e5012fceaca9b.txt"


def test_compose_answers_in_the_askers_script_and_ends_every_sentence(passages):
    text, _ = compose(check("小米汽车一期占地面积接近72万平方米[1]", passages), "zh-Hant")
    assert text == "小米汽車一期佔地面積接近72萬平方米。[1]"
