"""GBK lost-byte mojibake repair (ingest.mojibake) on real snippets from the seeds.

The repair runs BEFORE pinyin annotations are stripped, so the snippets keep their annotations;
`_strip_pinyin` below is the cleaning pipeline's rule (a parenthesised run of lowercase latin
letters with a tone mark, right after a CJK character or `?`), applied afterwards as ingest does.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ingest.mojibake import repair_gbk_mojibake

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_004 = (SEEDS / "004_24c4d525af6cbe55.txt").read_text(encoding="utf-8")

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN = re.compile(rf"(?<=[\u3400-\u9fff\uf900-\ufaff?])\((?=[a-zü{_TONED}]*[{_TONED}])[a-zü{_TONED}]{{1,8}}\)")


def _strip_pinyin(text: str) -> str:
    return _PINYIN.sub("", text)


def _clean(text: str) -> tuple[str, int, int]:
    """Repair, then strip the pinyin annotations: the order ingest uses."""
    fixed, repaired, dropped = repair_gbk_mojibake(text)
    return _strip_pinyin(fixed), repaired, dropped


# (snippet exactly as in seed 004, text after repair + pinyin stripping)
RUNS = [
    pytest.param(
        "都市核心區(qū)智能網(wǎng)聯(lián)規(guī)?;瘧?yīng)用示范區(qū)建設(shè)。",
        "都市核心區智能網聯規模化應用示范區建設。",
        id="規?;瘧?yīng)用 -> 規模化應用",
    ),
    pytest.param(
        "注冊成立SMC(天津)制造有限公司?!叭缃馭MC天津工廠一期建設(shè)已經(jīng)投入生產(chǎn)",
        "注冊成立SMC(天津)制造有限公司。“如今SMC天津工廠一期建設已經投入生產",
        id="?!叭缃馭MC -> 。“如今SMC",
    ),
    pytest.param(
        "延長價(jià)值鏈等?!盨MC投資管理有限公司董事",
        "延長價值鏈等。”SMC投資管理有限公司董事",
        id="?!盨MC -> 。”SMC",
    ),
    pytest.param(
        "產(chǎn)能得到急速提升?!瘪R清海透露,天津工廠的二期",
        "產能得到急速提升。”馬清海透露,天津工廠的二期",
        id="?!瘪R清海 -> 。”馬清海",
    ),
    pytest.param(
        "打造區(qū)域優(yōu)勢產(chǎn)業(yè)集群?!敖衲晡覀冞€將支持龍頭車企加快國產(chǎn)車規(guī)級芯片",
        "打造區域優勢產業集群。“今年我們還將支持龍頭車企加快國產車規級芯片",
        id="?!敖衲晡覀冞€將 -> 。“今年我們還將",
    ),
    pytest.param(
        "持續(xù)打造三地高能級創(chuàng)新平臺?!蓖跷挠卤硎?。",
        "持續打造三地高能級創新平臺。”王文勇表示。",
        id="?!蓖跷挠卤硎?。 -> 。”王文勇表示。",
    ),
    pytest.param(
        # the whole paragraph: its 商務/業務/服務 tip 政務 over 誤 (the document is the cache model)
        SEED_004.split("\n")[10],
        "2021年4月,就職于北京亦莊一家企業的常先生到天津經開區洽談商務合作,因業務需要,"
        "在當地政務服務中心的“跨省通辦”專窗辦理了企業檔案查詢和打印業務,"
        "成為京津兩地經開區“跨省通辦”的首個案例。",
        id="當?shù)卣?wù)服務 -> 當地政務服務",
    ),
]


@pytest.mark.parametrize("snippet, expected", RUNS)
def test_known_runs_are_repaired(snippet, expected):
    assert snippet in SEED_004
    cleaned, repaired, dropped = _clean(snippet)
    assert cleaned == expected
    assert (repaired, dropped) == (1, 0)


def test_annotations_the_repair_used_are_consumed_others_are_left():
    # the hint as the annotator writes it, `(yīng)`; the seed has the orphan form `yīng)`
    fixed, _, _ = repair_gbk_mojibake("聯(lián)規(guī)?;瘧?(yīng)用示范區(qū)")
    assert fixed == "聯(lián)規(guī)模化應用示范區(qū)"
    fixed, _, _ = repair_gbk_mojibake("因業(yè)務(wù)需要,在當(dāng)?shù)卣?wù)服務(wù)中心的“跨省通辦”,商務(wù)")
    assert "當(dāng)地政務服務(wù)中心" in fixed and "shù)" not in fixed


def test_whole_seed_004():
    fixed, repaired, dropped = repair_gbk_mojibake(SEED_004)
    cleaned = _strip_pinyin(fixed)
    assert (repaired, dropped) == (7, 0)
    for garbage in (
        "?!",
        "?;",
        "?(",
        "瘧",
        "盨",
        "馭",
        "叭",
        "缃",
        "卣",
        "硎",
        "蓖",
        "跷",
        "晡",
        "覀",
        "冞",
        "€",
        "shù)",
        "yīng)",
    ):
        assert garbage not in cleaned
    for good in (
        "規模化應用",
        "公司。“如今SMC",
        "等。”SMC投資",
        "提升。”馬清海",
        "集群。“今年我們還將",
        "平臺。”王文勇表示。",
        "在當地政務服務中心",
    ):
        assert good in cleaned
    assert "?" not in cleaned
    # everything else is untouched: the result is the seed with exactly these runs replaced
    expected = SEED_004
    for damaged, repaired_text in [
        ("?;瘧?yīng)", "模化應"),
        ("?!叭缃馭", "。“如今S"),
        ("?!盨", "。”S"),
        ("?!瘪R", "。”馬"),
        ("?!敖衲晡覀冞€", "。“今年我們還"),
        ("?!蓖跷挠卤硎?", "。”王文勇表示"),
        ("?shù)卣?wù)", "地政務"),
    ]:
        assert expected.count(damaged) == 1
        expected = expected.replace(damaged, repaired_text)
    assert fixed == expected


def test_whole_seed_004_is_fast_once_dictionaries_are_loaded():
    repair_gbk_mojibake("公司?!叭缃馭MC")  # loads jieba/OpenCC/pinyin tables
    start = time.perf_counter()
    repair_gbk_mojibake(SEED_004)
    assert time.perf_counter() - start < 1.0


ORDINARY = [
    # seed 004, no damage: parentheses, ASCII punctuation, numbers, pinyin annotations
    "落戶北京亦莊長達(dá)30年的SMC(中國)有限公司是全球領(lǐng)先的氣動元件制造和銷售商。",
    "連續(xù)舉辦十屆北京亦莊(京津冀)生物醫(yī)藥產(chǎn)業(yè)大會",
    "2023年,臺馬片區(qū)完成工業(yè)總產(chǎn)值180.7億元,同比增長8.4%;完成固定資產(chǎn)投資305.6億元,同比增長28.41%。",
    "人民網(wǎng)北京2月25日電 (記者孟竹)實(shí)現(xiàn)京津冀三地高端汽車和新能源智能汽車產(chǎn)業(yè)鏈供應(yīng)鏈協(xié)同共贏",
    '- 京西有驚喜 2024京西消費(fèi)節(jié)"五季"全年放送點(diǎn)燃消費(fèi)活力',
    # ordinary question marks: Chinese and English, ASCII and full-width context
    "什么是“跨省通辦”?就是異地辦理。",
    "如何申请?请登录政务服务网。",
    "是吗?!真的吗",
    "价格是多少??我们还不知道",
    "“为什么不去?”他问。",
    "What is this? It is fine, 5.2% up (see p. 3).",
    "URL: http://example.gov.cn/a?x=1&y=2 中文",
    "你好?(nǐ hǎo)",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_untouched(text):
    assert repair_gbk_mojibake(text) == (text, 0, 0)


@pytest.mark.parametrize(
    "name", ["000_f07e5012fceaca9b", "001_aabaf283371add59", "002_87a0a851a7cdb68f", "003_1c05df24331652f3"]
)
def test_simplified_seeds_are_untouched(name):
    text = (SEEDS / f"{name}.txt").read_text(encoding="utf-8")
    assert repair_gbk_mojibake(text) == (text, 0, 0)
    # and a real paragraph with a question mark put in stays as it is
    line = next(ln for ln in text.splitlines() if len(ln) > 40 and "，" in ln)
    asked = line.replace("，", "?", 1)
    assert repair_gbk_mojibake(asked) == (asked, 0, 0)


def test_unparseable_run_is_dropped():
    # a character GBK cannot encode inside the run: the bytes cannot be recovered
    fixed, repaired, dropped = repair_gbk_mojibake("有限公司?!叭缃😀馭MC天津工廠一期建設")
    assert (repaired, dropped) == (0, 1)
    assert fixed == "有限公司MC天津工廠一期建設"


def test_guessed_filler_is_left_out_not_invented():
    # 陌生 vs 景色: both fit the bytes (?吧? = ?? b0 | c9 ??) and read well, so neither is kept
    fixed, repaired, dropped = repair_gbk_mojibake("解决邻里关系冷漠、人际?吧?等难题")
    assert "景色" not in fixed and "?" not in fixed
    assert repaired + dropped == 1


def test_lost_character_named_by_its_pinyin():
    fixed, repaired, _ = repair_gbk_mojibake("智能網(wǎng)聯(lián)規(guī)模化?(yīng)用示範區")
    assert _strip_pinyin(fixed) == "智能網聯規模化應用示範區"
    assert repaired == 1


def test_text_without_question_marks_returns_at_once():
    text = "没有问号的文本。" * 1000
    start = time.perf_counter()
    assert repair_gbk_mojibake(text) == (text, 0, 0)
    assert time.perf_counter() - start < 0.05
