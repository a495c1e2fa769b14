"""Members of a series (一期, 第一批, 2023年) and titles of office (局长, 副局长): real seed and CMRC snippets."""

from __future__ import annotations

from pathlib import Path

import pytest

from language.normalize import search_form
from language.series import asked_office, asks_year_not_given, names_office, names_other_members, series_members

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# seeds/000, seeds/003, seeds/004 (004 is traditional script with pinyin; the rules read search forms)
PHASE_ONE = "同样位于马驹桥镇的总投资近500亿元的芯片龙头企业中芯京城一期已投产，项目预计2024年全面建成达产"
PHASE_TWO = "联通数科、工信部五所等项目签约，京东全球总部二期投入使用，京东中央研究院封顶。"
BOTH_PHASES = search_form("馬清海透露,天津工廠的二期預計3月8日啟動奠基,遠期目標是一期和二期共計產值30億")
FOUR_BATCHES = search_form("截至目前,京津冀三地推出四批共179項 “同事同標”事項,實現“無差別受理、同標準辦理”。")
YEARS = "固定资产投资同样增长迅猛，2021年全镇完成固投158亿元，2022年完成固投185亿元，2023年全镇固投任务212.02亿元"
TABLE_ROW = "产业总量 | 1 | 全区规模以上先进制造业总产值 | 亿元 | 2024年目标 650 | 2025年目标 680"
DEPUTY = search_form("北京經濟技術開發區經濟發展局副局長王文勇介紹,北京亦莊緊抓產業協同")
DIRECTOR_AND_BOARD = search_form("SMC投資管理有限公司董事、總經理馬清海介紹")


@pytest.mark.parametrize(
    "text, members",
    [
        (PHASE_ONE, {"期": {1}, "年": {2024}}),
        (BOTH_PHASES, {"期": {1, 2}}),
        (FOUR_BATCHES, {"批": {4}}),
        (YEARS, {"年": {2021, 2022, 2023}}),
        (TABLE_ROW, {"年": {2024, 2025}}),
        # a range names every year in it (seeds/002's title)
        ("通州区促进先进制造业高质量发展三年行动计划（2023—2025年）", {"年": {2023, 2024, 2025}}),
        # 期间, 同期, 每一期 are no phases; 三届 without 第 counts terms, it numbers none
        ("“十三五”期间，同比增长，与去年同期相比，每一期都有三届", {}),
        # a comparison's base year is not the year reported on
        ("地区生产总值比2021年增长20%", {}),
        ("第十二届全国运动会", {"届": {12}}),
        ("首批入选企业", {"批": {1}}),
    ],
)
def test_series_members(text, members):
    assert series_members(text) == members


def test_a_base_year_in_the_question_is_not_the_year_asked_and_english_years_are_read():
    question = "2022年地区生产总值比2021年增长了多少？"
    assert series_members(question, question=True) == {"年": {2022}}
    assert not names_other_members(question, ["2022年，地区生产总值比2021年增长20%"])
    assert series_members("What was the output value in 2020?", question=True) == {"年": {2020}}


@pytest.mark.parametrize(
    "question, sentence, other",
    [
        ("中芯京城二期的总投资是多少？", PHASE_ONE, True),  # only the first phase is stated
        ("中芯京城一期的总投资是多少？", PHASE_ONE, False),
        ("京东全球总部三期什么时候投入使用？", PHASE_TWO, True),
        ("SMC天津工厂二期预计什么时候奠基？", BOTH_PHASES, False),
        ("京津冀第一批同事同标事项有多少项？", FOUR_BATCHES, True),  # four batches in all, not the first
        ("全区规模以上先进制造业总产值2023年的目标是多少？", TABLE_ROW, True),
        ("全区规模以上先进制造业总产值2025年的目标是多少？", TABLE_ROW, False),
        ("2022年马驹桥镇完成固投多少亿元？", YEARS, False),
        # a sentence naming no member of the series says nothing either way
        ("2022年经开区工业总产值是多少亿元？", "全镇工业总产值预计突破112亿元", False),
        # CMRC: a question with no series
        ("林永康有几个孩子？", "林永康大学毕业，获工商管理硕士学位，1996年加入公署，已婚，育有3名子女。", False),
    ],
)
def test_names_other_members(question, sentence, other):
    assert names_other_members(question, [sentence]) is other


def test_any_sentence_naming_the_asked_member_is_enough():
    assert not names_other_members("中芯京城二期的总投资是多少？", [PHASE_ONE, BOTH_PHASES])


@pytest.mark.parametrize(
    "question, office",
    [
        ("北京凌天智能装备集团的董事长叫什么？", "董事长"),
        ("通州区经济和信息化局的局长是谁？", "局长"),
        ("经济发展局的副局长是谁？", "副局长"),
        ("SMC投资管理有限公司的总经理的名字是什么？", "总经理"),
        ("马驹桥镇镇长的职责是什么？", ""),  # asks what the office does, not who holds it
        ("人民网那篇报道是哪位记者写的？", ""),
        ("马驹桥镇的定位是什么？", ""),
    ],
)
def test_asked_office(question, office):
    assert asked_office(question) == office


def test_a_deputy_does_not_name_the_office():
    assert not names_office([DEPUTY], "局长")
    assert names_office([DEPUTY], "副局长")
    assert names_office([DIRECTOR_AND_BOARD], "总经理")
    assert not names_office(["作为高端安全装备的领跑者，总部位于马驹桥的北京凌天智能装备集团股份有限公司"], "董事长")


def test_english_questions_name_series_members_and_offices():
    assert series_members("When will phase II of the JD headquarters open?", question=True) == {"期": {2}}
    assert series_members("How much was invested in the first batch in 2023?", question=True) == {
        "批": {1},
        "年": {2023},
    }
    assert names_other_members("How large is the second phase of Xiaomi's plant?", [PHASE_ONE])
    director = asked_office("Who is the director of Beijing E-Town's Science and Technology Innovation Bureau?")
    assert director == "局长|主任|总监"
    deputy = search_form("北京經濟技術開發區科技創新局副局長姜智慧介紹")  # seeds/004
    assert not names_office([deputy], director)
    assert names_office([deputy], asked_office("Who is the deputy director of the bureau?"))


def test_a_year_no_document_writes_is_not_answered():
    summary = (SEEDS / "003_1c05df24331652f3.txt").read_text(encoding="utf-8")  # the 2022 work summary
    assert asks_year_not_given("2019年经开区地区生产总值是多少？", [summary])
    assert not asks_year_not_given("2022年经开区地区生产总值增长多少？", [summary])
    assert not asks_year_not_given("经开区地区生产总值增长多少？", [summary])  # no year asked
    # the year in another cited document is enough
    assert not asks_year_not_given("2019年经开区地区生产总值是多少？", [summary, "2019年全区地区生产总值"])
