"""The kinds of value a question asks for, and whether a sentence holds one: real seed and CMRC snippets."""

from __future__ import annotations

import pytest

from language.answer_types import asked_kind, holds_kind


@pytest.mark.parametrize(
    "question, kind",
    [
        ("华海清科集成电路高端装备项目是哪一年开工的？", "year"),
        ("小米汽车一期预计什么时候实现量产？", "date"),
        ("2022年经开区优良水体比例是多少？", "percent"),
        ("小米汽车一期占地面积有多大？", "area"),
        ("马驹桥镇2023年固定资产投资完成多少？", "money"),
        ("两座智能物流中心共设有多少栋高标准仓库？", "count"),
        ("人民网那篇报道是哪位记者写的？", "person"),
        ("马驹桥湿地公园位于哪里？", "place"),
        ("通州打造医药健康战略引擎，瞄准的是哪三大方向？", "list"),
        ("经开区推动的重点产业有哪些？", "list"),
        ("When did Xiaomi's Majuqiao plant start mass production?", "date"),
        ("萌蒂(中国)制药有限公司是由谁共同投资的？", "person"),
        ("马驹桥镇的定位是什么？", ""),
    ],
)
def test_asked_kind(question, kind):
    assert asked_kind(question) == kind


@pytest.mark.parametrize(
    "sentence, kind, holds",
    [
        ("小米汽车一期占地面积接近72万平方米，预计2024年4月实现量产", "area", True),
        ("小米汽车一期占地面积接近72万平方米，预计2024年4月实现量产", "date", True),
        ("小米汽车一期占地面积接近72万平方米，预计2024年4月实现量产", "money", False),
        ("两座智能物流中心共设有9栋高标准仓库，建筑面积约30万平方米", "count", True),
        ("优良水体比例 50%，无劣 V 类水体", "percent", True),
        ("全年完成固定资产投资212.02亿元", "money", True),
        ("以习近平新时代中国特色社会主义思想为指导，全面贯彻党的二十大精神", "year", False),
        ("由北京制药厂和萌蒂公司共同投资在马驹桥镇建成", "place", True),
        ("瞄准新器械、新药物、新服务三大方向", "list", True),
        ("若游戏中离，则4分钟内不得进行配对", "percent", False),
    ],
)
def test_holds_kind(sentence, kind, holds):
    assert holds_kind(sentence, kind) is holds


def test_no_kind_holds_nothing():
    assert holds_kind("2024年4月实现量产", "") is False
