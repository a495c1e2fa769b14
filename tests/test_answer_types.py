"""The kinds of value a question asks for, and whether a sentence holds one: real seed and CMRC snippets."""

from __future__ import annotations

import pytest

from language.answer_types import asked_kind, counted_after_ji, english_unit, holds_kind, states_asked_figure


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
        # "What was the …" asks a figure when it names a measure, without "how much"
        ("What was Majuqiao town's gross industrial output value in 2020?", "money"),
        ("What was the main theme of the conference?", ""),
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


@pytest.mark.parametrize(
    "sentence, question, kind, unit, states",
    [
        # seeds/000: 55 grids are no number of full-time grid workers (多少名)
        ("红色的分割线清晰地全镇划分为55个网格", "马驹桥镇一共配了多少名专职网格员？", "count", "名", False),
        # seeds/003: a growth rate is no amount in 亿元
        ("2022 年，亦庄新城预计全年地区生产总值同比增长 8%", "2022年地区生产总值是多少亿元？", "money", "亿元", False),
        # seeds/000: no year in the sentence
        (
            "萌蒂(中国)制药有限公司，由北京制药厂和萌蒂公司共同投资在马驹桥镇建成",
            "萌蒂是哪一年建成的？",
            "year",
            "",
            False,
        ),
        # seeds/004: money without 元 (产值30亿, 10亿人民币)
        ("远期目标是一期和二期共计产值30亿", "远期产值目标是多少？", "money", "", True),
        ("天津工厂年产值去年达到将近10亿人民币", "年产值是多少？", "money", "", True),
        # seeds/000: 余 between the number and its unit
        ("平原造林工程新增林木资源养护面积2.4万余亩", "养护面积多少亩？", "area", "亩", True),
        # CMRC: a ratio is a share; 多大 asked of an age; a count given as the items themselves
        ("目前学校男女生比例约为1：7（男：女）", "男女生比例是多少？", "percent", "", True),
        ("年仅两岁的其子毛利幸松丸被拥立为下任当主", "毛利幸松丸被拥立时多大？", "area", "", True),
        ("卡洛还是圣乔治康斯坦丁骑士团、圣斐迪南骑士团的大团长", "卡洛身兼几家骑士团的大团长？", "count", "", True),
        # a question asking no figure is never refused here
        ("马驹桥镇定位为科技服务小镇", "马驹桥镇的定位是什么？", "", "", True),
    ],
)
def test_states_asked_figure(sentence, question, kind, unit, states):
    assert states_asked_figure([sentence], question, kind, unit) is states


GREEN_FACTORIES = (  # seeds/002
    "加大碳中和、可再生能源替代等企业绿色化技术改造项目支持力度，重点支持蒙牛等企业建成一批具有示范带动作用的绿色工厂"
)


@pytest.mark.parametrize(
    "sentence, question, states",
    [
        # seeds/000: 哪天 asks for a day; a sentence without one cannot say it
        ("马驹桥镇汽车产业协同发展大会隆重召开，汽车产业联盟正式成立", "汽车产业联盟具体是哪天成立的？", False),
        (
            "华海清科集成电路高端装备研发及产业化项目于2023年6月28日在马驹桥智能制造基地开工建设",
            "华海清科项目是哪天开工的？",
            True,
        ),
        # 什么时候 may be answered by a year or an era: not refused here
        ("小米汽车一期预计2024年实现量产", "小米汽车一期什么时候量产？", True),
    ],
)
def test_a_question_asking_a_day_needs_a_day_or_month(sentence, question, states):
    assert states_asked_figure([sentence], question, "date", "") is states


@pytest.mark.parametrize(
    "question, unit_and_counted",
    [
        ("2022年经开区建成了几家绿色工厂？", ("家", "绿色工厂")),
        ("卡洛身兼几家骑士团的大团长职位？", ("家", "骑士团")),
        ("小米汽车一期预计什么时候量产？", ("", "")),
    ],
)
def test_counted_after_ji(question, unit_and_counted):
    assert counted_after_ji(question) == unit_and_counted


def test_a_count_in_a_measure_word_needs_that_word_or_the_items_listed():
    # seeds/002: 一批 names no number of factories
    assert not states_asked_figure([GREEN_FACTORIES], "经开区建成了几家绿色工厂？", "count", "家", "绿色工厂")
    # CMRC: the orders named one by one answer 几家骑士团
    orders = "卡洛还是圣乔治康斯坦丁骑士团、圣斐迪南骑士团、圣真纳罗骑士团和弗朗切斯科一世王家骑士团的大团长。"
    assert states_asked_figure([orders], "卡洛身兼几家骑士团的大团长职位？", "count", "家", "骑士团")
    # CMRC: 个 is the general measure word, answered by any other (3名子女)
    children = "林永康大学毕业，获工商管理硕士学位，1996年加入公署，已婚，育有3名子女。"
    assert states_asked_figure([children], "林永康有几个孩子？", "count", "个", "孩子")
    # seeds/000: 个百分点 is a unit of its own, not the general measure word
    assert not states_asked_figure(["森林覆盖率显著提高"], "森林覆盖率提高了多少个百分点？", "count", "个", "百分点")


def test_english_unit():
    assert english_unit("How many days of good air quality did Beijing E-Town record in 2022?") == "天"
    assert english_unit("How many square meters does Xiaomi's first phase cover?") == "平方米"
    assert english_unit("How many companies are in the alliance?") == ""  # 家 or 个: the documents vary
    # seeds/003: a concentration is no count of days
    assert not states_asked_figure(["PM2.5 累计浓度 32 微克/立方米，同比下降 8.6%；"], "how many days", "count", "天")
