"""Follow-up questions rewritten to stand alone: by rules (real pairs from eval/followups.jsonl),
by a stand-in LLM (used when usable, rules otherwise), and by the real local LLM (slow)."""

from __future__ import annotations

import json

import pytest
from llm_server import llm_server  # noqa: F401  (fixture)

from answering.followup import is_followup, rewrite_followup, subject_of
from config import REPO_ROOT
from language.normalize import detect_script, search_form
from qa_types import MAX_QUESTION_CHARS

PAIRS = {
    json.loads(line)["id"]: json.loads(line)
    for line in (REPO_ROOT / "eval" / "followups.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
}

# Key terms of each standalone form: what retrieval needs from the rewrite (compared in simplified form).
KEY_TERMS = {
    "f001": ["先进制造业总产值", "2025", "目标"],  # 那2025年的目标呢？ (year slot)
    "f002": ["小米汽车", "一期", "占地"],  # 它一期占地多少？ (pronoun)
    "f003": ["Beijing E-Town", "Tianjin", "new-energy vehicle"],  # … did it organise … there?
    "f004": ["马驹桥湿地公园", "休闲设施"],  # 园里都有哪些休闲设施？
    "f005": ["中芯京城", "年产量"],  # 它全面达产后年产量能到多少？
    "f006": ["马驹桥镇", "社区居委会", "多少"],  # 社区居委会呢？ (counted noun)
    "f007": ["2022", "经开区", "急救站点"],  # 急救站点又建了多少处？ (carry time and place)
    "f008": ["绿色工厂", "2025", "目标"],  # 2025年呢？
    "f009": ["SMC天津工厂", "二期", "奠基"],  # 那二期預計什麼時候奠基？ (traditional)
    "f010": ["2023", "台马片区", "工业总产值", "同比增长"],  # 同比增长了多少？ (ellipsis)
    "f011": ["经开区", "上市企业", "累计"],  # 累计有多少家了？
    "f013": ["Majuqiao", "administrative villages"],  # And how many … does it have?
    "f014": ["143", "先进制造产业体系", "支柱产业"],  # 那四个支柱产业是哪些？
    "f015": ["行动计划", "永乐店", "产业"],  # 永乐店呢？ (place)
    "f017": ["马驹桥镇", "小区业委会", "组建率"],  # 組建率是多少？
    "f018": ["2023年1-11月", "马驹桥镇", "智能制造企业", "税收"],  # 税收呢？ (metric)
    "f019": ["2025 target", "high-tech manufacturing", "Tongzhou"],  # And the 2025 target?
    "f021": ["马驹桥湿地公园", "总面积"],  # 它現在總面積多大？
}


def history(first_question: str) -> list[dict]:
    return [{"role": "user", "content": first_question}, {"role": "assistant", "content": "（上一轮的回答）"}]


def missing_terms(rewritten: str, pair_id: str) -> list[str]:
    found = search_form(rewritten).lower()
    return [t for t in KEY_TERMS[pair_id] if search_form(t).lower() not in found]


@pytest.mark.parametrize("pair_id", sorted(KEY_TERMS))
def test_rules_rewrite_real_followups_with_the_key_terms_of_the_standalone_form(pair_id):
    pair = PAIRS[pair_id]
    rewritten = rewrite_followup(pair["question"], history(pair["first_question"]))
    assert rewritten != pair["question"]
    assert not missing_terms(rewritten, pair_id), f"{pair['question']} -> {rewritten}"
    assert detect_script(rewritten) == detect_script(pair["question"])  # the asker's script is kept


def test_at_least_ten_real_pairs_are_covered():
    assert len(KEY_TERMS) >= 10 and set(KEY_TERMS) <= set(PAIRS)


def test_a_traditional_followup_keeps_the_askers_own_characters():
    rewritten = rewrite_followup("它現在總面積多大？", history("馬駒橋濕地公園是在什麼基礎上建成的？"))
    assert rewritten == "馬駒橋濕地公園現在總面積多大？"


def test_a_followup_to_a_followup_keeps_the_original_subject():
    turns = history("小米汽车预计年产能是多少？") + history("它一期占地多少？")
    assert "小米汽车" in rewrite_followup("它什么时候实现量产？", turns)


def test_without_history_the_question_is_unchanged():
    assert rewrite_followup("那2025年的目标呢？", []) == "那2025年的目标呢？"
    assert rewrite_followup("它一期占地多少？", [{"role": "assistant", "content": "小米汽车……"}]) == "它一期占地多少？"


@pytest.mark.parametrize(
    "question",
    [
        "马驹桥湿地公园总面积是多少？",
        "What is the area of Majuqiao town?",
        "2023年马驹桥镇全镇工业总产值预计突破多少？",
    ],
)
def test_a_question_that_stands_alone_is_unchanged(question):
    previous = history("小米汽车预计年产能是多少？")
    assert not is_followup(question, previous[0]["content"])
    assert rewrite_followup(question, previous) == question


def test_the_subject_is_the_noun_phrase_the_previous_question_is_about():
    assert subject_of("小米汽车预计年产能是多少？") == "小米汽车"
    assert subject_of("中芯京城项目总投资多少？") == "中芯京城项目"
    assert subject_of("马驹桥湿地公园是在什么基础上建成的？") == "马驹桥湿地公园"
    assert subject_of("行动计划中漷县的重点产业是什么？") == "漷县"
    assert subject_of("萌蒂(中国)制药有限公司是由谁共同投资的？") == "萌蒂(中国)制药有限公司"


# ---------------------------------------------------------------- with an LLM (stand-ins)
class ScriptedLLM:
    """Answers every rewrite request with a fixed reply, or raises."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls: list[tuple[str, str, str]] = []

    def rewrite_question(self, question: str, previous: str, lang: str, max_tokens: int) -> str:
        self.calls.append((question, previous, lang))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_a_usable_llm_rewrite_is_used_in_the_askers_script():
    llm = ScriptedLLM("改寫後的問題：SMC天津工厂二期预计什么时候奠基？\n（说明……）")
    pair = PAIRS["f009"]
    assert (
        rewrite_followup(pair["question"], history(pair["first_question"]), llm) == "SMC天津工廠二期預計什麼時候奠基？"
    )
    assert llm.calls == [(pair["question"], pair["first_question"], "zh-Hant")]


@pytest.mark.parametrize(
    "reply",
    [
        TimeoutError("no reply"),
        "",
        "全区规模以上先进制造业总产值2024年目标是多少？",  # the previous question again
        "全区规模以上先进制造业总产值2024年目标是多少？那2025年的目标呢？",  # both glued together
        "全区规模以上先进制造业总产值目标是多少？",  # the follow-up's year lost
        "<previous>全区规模以上先进制造业总产值2024年目标是多少？</previous>",  # the prompt echoed
        "它2025年的目标是多少？",  # still leans on the previous turn
        "全区2025年呢？",
    ],
)
def test_a_failed_or_unusable_llm_rewrite_falls_back_to_the_rules(reply):
    pair = PAIRS["f001"]
    llm = ScriptedLLM(reply)
    rewritten = rewrite_followup(pair["question"], history(pair["first_question"]), llm)
    assert llm.calls and rewritten == rewrite_followup(pair["question"], history(pair["first_question"]))
    assert not missing_terms(rewritten, "f001")


def test_the_llm_is_not_asked_about_a_question_that_stands_alone():
    llm = ScriptedLLM("不应被使用")
    assert (
        rewrite_followup("马驹桥湿地公园总面积是多少？", history("小米汽车预计年产能是多少？"), llm)
        == "马驹桥湿地公园总面积是多少？"
    )
    assert not llm.calls


# ---------------------------------------------------------------- with the real local LLM
@pytest.mark.slow
def test_the_local_llm_rewrites_followups_or_the_rules_take_over(llm_server):  # noqa: F811
    from llm_server import llm_config

    from answering.llm import LLMAnswerer

    llm = LLMAnswerer.from_config(llm_config(llm_server), max_tokens=60)
    for pair_id in ("f001", "f002", "f006", "f013"):
        pair = PAIRS[pair_id]
        rewritten = rewrite_followup(pair["question"], history(pair["first_question"]), llm)
        assert rewritten and "\n" not in rewritten
        # The follow-up's own new information always survives (numbers are validated).
        assert all(n in rewritten for n in ("2025",) if n in pair["question"])


# ---------------------------------------------------------------- what is never merged (issue 13)
@pytest.mark.parametrize("junk", ["😀😀😀", "？？？？", "嗯", "ok", "OK!", "好的，谢谢！", "Thanks.", "<b>嗯</b>"])
def test_a_followup_without_words_of_its_own_is_not_merged_with_the_previous_question(junk):
    previous = "小米汽车一期预计什么时候实现量产？"
    rewritten = rewrite_followup(junk, history(previous))
    assert rewritten == junk
    assert "小米汽车" not in rewritten


def test_a_junk_turn_in_the_history_does_not_hide_the_subject_before_it():
    turns = history("小米汽车预计年产能是多少？") + history("嗯")
    assert "小米汽车" in rewrite_followup("它一期占地多少？", turns)


def test_a_rewrite_longer_than_a_question_may_be_falls_back_to_the_question():
    long_subject = "小米汽车" * 250  # a 1,000-character earlier question: its own length is allowed
    rewritten = rewrite_followup("它的年产能？", history(long_subject + "？"))
    assert rewritten == "它的年产能？"
    assert len(rewrite_followup("它的年产能？", history("小米汽车" * 20 + "？"))) <= MAX_QUESTION_CHARS


def test_an_llm_rewrite_longer_than_a_question_may_be_is_not_used():
    previous = "全区" + "规模以上先进制造业" * 109 + "总产值2024年目标是多少？"  # 998 characters
    reply = "全区" + "规模以上先进制造业" * 110 + "总产值2025年目标是多少？"  # usable, but 1,007
    assert len(previous) <= MAX_QUESTION_CHARS < len(reply)
    llm = ScriptedLLM(reply)
    assert rewrite_followup("那2025年的目标呢？", history(previous), llm) == "那2025年的目标呢？"
    assert llm.calls


def test_markup_does_not_make_a_chinese_question_english():
    assert detect_script("<script>alert(1)</script>小米汽车的年产能？") == "zh-Hans"
