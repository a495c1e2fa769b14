"""The flattened indicator table of 002 and document structure (titles, metadata, sections)."""

from pathlib import Path

import pytest

from ingest.documents import build_document
from ingest.structure import extract_dateline, heading_level
from ingest.table import rebuild_flattened_tables

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
FLAT_TABLE = (
    "城市副中心“十四五”先进制造业发展主要指标\n\t类型\n\t序号\n\t指标名称\n\t单位\n\t2024年目标\n\t2025年目标\n\n"
    "\t产业\n总量\n\t1\n\t全区规模以上先进制造业总产值\n\t亿元\n\t650\n\t680\n\n"
    "\t\n\t2\n\t工业增加值\n\t亿元\n\t250\n\t260\n\n"
    "\t产业\n质量\n\t12\n\t碳中和企业\n\t家\n\t3\n\t4\n二、构建“143”先进制造产业体系\n"
)


def test_flattened_table_rebuilt_with_header_and_group():
    text, n = rebuild_flattened_tables(FLAT_TABLE)
    assert n == 1
    lines = text.split("\n")
    assert lines[1] == "类型 | 序号 | 指标名称 | 单位 | 2024年目标 | 2025年目标"
    assert lines[2] == "产业总量 | 1 | 全区规模以上先进制造业总产值 | 亿元 | 2024年目标 650 | 2025年目标 680"
    assert lines[3] == "产业总量 | 2 | 工业增加值 | 亿元 | 2024年目标 250 | 2025年目标 260"  # spanned group repeated
    assert lines[4] == "产业质量 | 12 | 碳中和企业 | 家 | 2024年目标 3 | 2025年目标 4"
    assert lines[5] == "二、构建“143”先进制造产业体系"  # text right after the last row is not a cell


@pytest.fixture(scope="module")
def seed_docs():
    docs = {}
    for path in sorted(SEEDS.glob("*.txt")):
        docs[path.name] = build_document(path.name, path.read_text(encoding="utf-8"))
    return docs


def test_all_twelve_indicator_rows_are_chunks_with_header(seed_docs):
    _, chunks, _, _ = seed_docs["002_87a0a851a7cdb68f.txt"]
    rows = [c for c in chunks if c.kind == "table_row"]
    assert [c.text.split(" | ")[1] for c in rows] == [str(i) for i in range(1, 13)]
    for chunk in rows:
        assert "2024年目标" in chunk.text and "指标名称" in chunk.search_text
        assert chunk.section.endswith("城市副中心“十四五”先进制造业发展主要指标")


def test_titles_and_metadata(seed_docs):
    titles = {doc_id: doc.title for doc_id, (doc, *_) in seed_docs.items()}
    assert titles["000_f07e5012fceaca9b.txt"] == "马驹桥镇：五大产业集群合力跑出经济发展加速度"
    assert titles["002_87a0a851a7cdb68f.txt"] == "城市副中心先进制造业三年行动计划（2022-2024年）"
    assert titles["003_1c05df24331652f3.txt"] == "北京经济技术开发区管委会 2022 年度工作总结"
    assert titles["004_24c4d525af6cbe55.txt"].startswith("協同發展邁出新步伐")
    meta002 = seed_docs["002_87a0a851a7cdb68f.txt"][0].metadata
    assert meta002["doc_number"] == "通政办发〔2022〕23号"
    assert meta002["issuer"] == "北京市通州区人民政府办公室" and meta002["date"] == "2022年10月28日"
    meta004 = seed_docs["004_24c4d525af6cbe55.txt"][0].metadata
    assert meta004 == {"source": "人民網", "place": "北京", "date": "2月25日", "author": "孟竹"}


def test_dateline_becomes_metadata():
    text, meta = extract_dateline("標題\n人民網北京2月25日電 (記者孟竹)實現京津冀三地高端汽車\n")
    assert text == "標題\n實現京津冀三地高端汽車\n" and meta["author"] == "孟竹"


def test_section_paths(seed_docs):
    _, chunks, _, _ = seed_docs["002_87a0a851a7cdb68f.txt"]
    sections = {c.section for c in chunks}
    assert (
        "城市副中心先进制造业三年行动计划（2022-2024年） › 二、构建“143”先进制造产业体系 › （一）打造医药健康战略引擎"
    ) in sections
    for doc, doc_chunks, _, _ in seed_docs.values():
        for chunk in doc_chunks:
            assert chunk.title and chunk.section.startswith(chunk.title), chunk.id
            assert doc.text[chunk.start : chunk.end] == chunk.text


def test_heading_levels():
    assert heading_level("一、总体要求") == 1
    assert heading_level("（一）指导思想") == 2
    assert heading_level("1.优先支持企业扩产上新。聚焦已形成市场优势") == 3
    assert heading_level("产业集聚新发展") == 4
    assert heading_level("(陈施君)") == 0
    assert heading_level("2022年10月28日") == 0


def test_no_noise_left_in_any_chunk(seed_docs):
    for chunks in (value[1] for value in seed_docs.values()):
        for chunk in chunks:
            for noise in ("[bookmark", "版權聲明", "京西有驚喜", "(xié)", "?!", "\t"):
                assert noise not in chunk.text, (chunk.id, noise)
