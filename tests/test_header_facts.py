"""Header facts (answering/header_facts.py) on the real header of seeds/002 and the dateline case of 004."""

from __future__ import annotations

from answering.header_facts import asked_fields, find_header_facts

# The first lines of seeds/002 after cleaning, and the metadata ingest parses from them.
HEADER_002 = (
    "北京市通州区人民政府办公室文件\n\n通政办发〔2022〕23号\n\n北京市通州区人民政府办公室\n"
    "关于印发城市副中心先进制造业\n三年行动计划（2022-2024年）的通知\n\n"
    "北京市通州区人民政府办公室\n2022年10月28日\n（此件公开发布）\n"
)
META_002 = {"doc_number": "通政办发〔2022〕23号", "issuer": "北京市通州区人民政府办公室", "date": "2022年10月28日"}


def test_asked_fields():
    assert asked_fields("那份通知的发文字号是多少？") == ["doc_number"]
    assert asked_fields("通州区先进制造业三年行动计划是哪个机关印发的？") == ["issuer"]
    assert asked_fields("On what date was the Tongzhou notice issued, and which office issued it?") == [
        "date",
        "issuer",
    ]
    assert asked_fields("這份通知的發文字號是什麼？") == ["doc_number"]
    assert asked_fields("小米汽车一期占地面积有多大？") == []


def test_fact_is_cited_to_the_line_that_writes_it():
    (fact,) = find_header_facts("发文字号是多少？", META_002, HEADER_002)
    assert fact.value == "通政办发〔2022〕23号"
    assert HEADER_002[fact.start : fact.end] == "通政办发〔2022〕23号"
    (date,) = find_header_facts("这份通知的印发日期是哪天？", META_002, HEADER_002)
    assert HEADER_002[date.start : date.end] == "2022年10月28日"


def test_a_value_the_text_does_not_write_is_not_answered():
    # seeds/004: ingest lifts the dateline (人民網北京2月25日電 (記者孟竹)) out of the text into
    # metadata, so there is no offset to cite it by.
    text = "協同發展邁出新步伐 北京亦莊助力打造京津冀高精尖產業經濟帶\n實現京津冀三地高端汽車……"
    assert find_header_facts("這篇報道的記者是誰？", {"author": "孟竹"}, text) == []
    assert find_header_facts("发文字号是多少？", {}, HEADER_002) == []
