"""Splitting a question that asks two things into questions that each stand alone."""

from answering.compound import split_compound


def test_a_topic_before_a_colon_belongs_to_every_part():
    question = "北京亦庄承接“三城”科技成果：2022年承接了多少项？累计承接了多少项？"
    assert split_compound(question, "zh-Hans") == [
        "北京亦庄承接“三城”科技成果：2022年承接了多少项？",
        "北京亦庄承接“三城”科技成果：累计承接了多少项？",
    ]


def test_a_colon_with_one_question_after_it_is_not_split():
    assert split_compound("小米汽车：一期占地多大？", "zh-Hans") == ["小米汽车：一期占地多大？"]


def test_traditional_question_words_mark_a_part():
    question = "北京奔馳在京津冀有多少家供應商？2022年奔馳有幾個電動車平台立項？"
    assert split_compound(question, "zh-Hant") == [
        "北京奔馳在京津冀有多少家供應商？",
        "2022年奔馳有幾個電動車平台立項？",
    ]


def test_a_later_part_leaning_on_the_first_gets_its_subject():
    question = "SMC在经开区2022年工作总结中被称为什么规模的企业？它的天津工厂去年年产值是多少？"
    assert split_compound(question, "zh-Hans") == [
        "SMC在经开区2022年工作总结中被称为什么规模的企业？",
        "SMC的天津工厂去年年产值是多少？",
    ]


def test_a_later_part_without_a_subject_shares_the_first_parts():
    """Chinese drops the subject of a clause opening with 后来 / 目前 / 一共 / 何时: it is the first's."""
    question = "华海清科项目在经开区2022年工作总结中处于什么阶段？后来何时开工建设？"
    assert split_compound(question, "zh-Hans") == [
        "华海清科项目在经开区2022年工作总结中处于什么阶段？",
        "华海清科项目后来何时开工建设？",
    ]
    # a part with a subject of its own keeps it
    question = "小米汽车一期占地多大？北京奔驰在京津冀有多少家供应商？"
    assert split_compound(question, "zh-Hans") == ["小米汽车一期占地多大？", "北京奔驰在京津冀有多少家供应商？"]
