"""Retrieval and cited answers end to end on the seeds, for both embedders; fusion, rerank,
script handling, abstention, quantity slots, comparisons and the embedder-mismatch error."""

import pytest

from answering.composer import leans_back
from answering.pipeline import QA, EmbedderMismatchError
from config import Config
from retrieval.features import fills_quantity_slot, quantity_slot
from retrieval.fusion import reciprocal_rank_fusion
from store.index_files import IndexUnusableError


def test_rrf_rewards_agreement_between_lists():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])
    assert max(fused, key=fused.get) == 1  # first and second beats first and absent
    assert fused[3] > fused[2] and fused[4] < fused[3]


def test_quantity_slot_reads_measure_and_unit():
    slot = quantity_slot("北京经开区2022年地区生产总值是多少亿元？")
    assert (slot.measure, slot.unit) == ("生产总值", "亿元")
    assert quantity_slot("有多少个协同项目在有序推进").measure == "协同"
    assert quantity_slot("萌蒂(中国)制药有限公司是由谁共同投资的？") is None
    total_investment = quantity_slot("华海清科项目的总投资是多少？")
    # an investment stated for something else, far from the word, does not answer it
    assert not fills_quantity_slot(
        "smc投资管理有限公司董事、总经理马清海介绍,目前,天津工厂年产值去年达到将近10亿", total_investment
    )
    assert fills_quantity_slot("同样位于马驹桥镇的总投资近500亿元的芯片龙头企业", total_investment)


@pytest.fixture(scope="module")
def light_qa(use_m3_index):
    return QA.load(Config.from_env({}, index_dir=use_m3_index, embedder="use-m3"))


@pytest.fixture(scope="module")
def gemma_qa():
    config = Config.from_env({})
    if not (config.model_cache / "models" / "embeddinggemma-300m").is_dir():
        pytest.skip("EmbeddingGemma not fetched: run scripts/setup.sh")
    try:
        return QA.load(config)
    except IndexUnusableError as exc:
        pytest.skip(f"default index not built: {exc}")


def test_embedder_mismatch_is_a_clear_error(use_m3_index):
    with pytest.raises(EmbedderMismatchError, match="python -m ingest --embedder embeddinggemma"):
        QA.load(Config.from_env({}, index_dir=use_m3_index, embedder="embeddinggemma"))


def _qa(request, name):
    return request.getfixturevalue(name)


SYSTEMS = ["light_qa", pytest.param("gemma_qa", marks=pytest.mark.slow)]


@pytest.mark.parametrize("system", SYSTEMS)
def test_cites_the_passage_naming_the_investors(request, system):
    answer = _qa(request, system).ask("萌蒂(中国)制药有限公司是由谁共同投资的？")
    assert not answer.abstained and answer.lang == "zh-Hans"
    cited = answer.citations[0]
    assert "北京制药厂" in cited.quote and "萌蒂公司" in cited.quote
    assert cited.doc == "000_f07e5012fceaca9b.txt" and cited.title and cited.section
    assert "[1]" in answer.answer


@pytest.mark.parametrize("system", SYSTEMS)
def test_traditional_question_gets_traditional_answer(request, system):
    answer = _qa(request, system).ask("小米汽車一期佔地面積有多大？")
    assert answer.lang == "zh-Hant" and not answer.abstained
    assert "接近72萬平方米" in answer.answer  # converted to the asker's script
    assert "72万平方米" in answer.citations[0].quote  # the citation quotes the source as written


@pytest.mark.parametrize("system", SYSTEMS)
def test_english_question_cites_warehouses(request, system):
    answer = _qa(request, system).ask(
        "How many high-standard warehouses do the two smart logistics centres at Tongzhou Port have?"
    )
    assert answer.lang == "en" and not answer.abstained
    assert answer.answer.startswith("According to the documents")
    assert any("9栋" in c.quote for c in answer.citations)


@pytest.mark.slow
def test_unstated_figure_abstains_with_related_passages(gemma_qa):
    # use-m3 answers this one with another project's 总投资 sentence (its support clears its
    # fitted threshold): a measured limit of the light embedder, reported in eval/REPORT.md.
    answer = gemma_qa.ask("华海清科集成电路高端装备项目的总投资是多少？")
    assert answer.abstained and not answer.citations
    assert answer.answer.startswith("文档中没有找到")
    assert answer.related and any("华海清科" in p.chunk.text for p in answer.related)


@pytest.mark.slow
def test_short_sentence_continuing_the_one_before_answers_how_much(gemma_qa):
    # 001: "马驹桥湿地公园在原有平原造林的基础上建设而成，…。公园总面积达785.1公顷。" The figure sits in
    # a short sentence whose subject is the sentence before; a longer sentence elsewhere that
    # names 马驹桥镇 and 总面积 (of the town's western part) must not win over it.
    # The short sentence is cited, after the sentence naming its subject (reading order).
    answer = gemma_qa.ask("马驹桥湿地公园占地总面积有多少？")
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert any("785.1公顷" in q for q in quotes), quotes
    assert not any("46平方公里" in q for q in quotes), quotes


@pytest.mark.parametrize(
    "sentence, leans",
    [
        ("“这些零部件的销售覆盖了国内所有车企，尤其在安全领域，国内市场占有率达80%。”", True),  # speech, 001
        ("这是一家面向全球汽车工业提供高档次冷成型金属零部件、安全件、异型件的国家级、市级“小巨人”企业", True),
        ("“十三五”期间，马驹桥镇贯彻落实“乡村振兴”战略，对32个村容村貌和人居环境进行整治", False),  # a quoted term
        ("其中，北京亦庄今年将重点聚焦新能源和智能网联汽车产业", False),  # 其中 does not stand for a subject
        # CMRC trial paragraphs: a person's pronoun, a connective of cause, of time
        ("他是国家图书馆首位副馆长，同时是改现名后首位代理馆长。", True),
        ("所以到了七、八月间，整个玉山箭竹草原呈现一片「碧草如茵」的景致。", True),
        ("次月，桓玄篡位称帝，降封何皇后为「零陵县君」，并随同安帝及安皇后王神爱迁到寻阳。", True),
        ("他人的作品", False),  # 他人 (others) names no one before
    ],
)
def test_which_sentences_lean_on_the_one_before(sentence, leans):
    assert leans_back(sentence) is leans


@pytest.mark.slow
def test_answer_naming_a_company_follows_pronouns_back_to_its_name(gemma_qa):
    # 001: "走进新光凯乐…股份有限公司，…。这是一家…企业，…。“这些零部件的销售覆盖了国内所有车企…”"
    answer = gemma_qa.ask("哪家企业的零部件销售覆盖了国内所有车企？")
    assert "新光凯乐" in answer.answer
    assert any("新光凯乐" in c.quote for c in answer.citations)


@pytest.mark.parametrize("system", SYSTEMS)
def test_citation_offsets_point_at_the_quoted_sentence(request, system):
    qa = _qa(request, system)
    answer = qa.ask("全区规模以上先进制造业总产值2025年目标是多少？")
    assert "680" in answer.answer
    documents = qa.searcher.documents_text
    for c in answer.citations:
        assert documents[c.doc][c.start : c.end] == c.quote
        assert c.passage_start <= c.start < c.end <= c.passage_end


@pytest.mark.parametrize("system", SYSTEMS)
def test_table_row_ranks_first(request, system):
    top = _qa(request, system).retrieve("绿色工厂2025年的目标是多少家？")[0]
    assert top.chunk.kind == "table_row" and "绿色工厂" in top.chunk.text


@pytest.mark.parametrize("system", SYSTEMS)
def test_comparison_cites_each_document(request, system):
    answer = _qa(request, system).ask("两篇马驹桥报道对马驹桥历史起源的说法有何不同？")
    assert not answer.abstained
    assert {c.doc for c in answer.citations} >= {"000_f07e5012fceaca9b.txt", "001_aabaf283371add59.txt"}
    assert "《" in answer.answer  # each statement is labelled with its document


@pytest.mark.slow
def test_compound_question_answers_both_parts(gemma_qa):
    # With use-m3 the first part's best sentence scores under its fitted threshold, so only
    # the second part is answered: a measured limit of the light embedder, not asserted here.
    answer = gemma_qa.ask("SMC在经开区2022年工作总结中被称为什么规模的企业？它的天津工厂去年年产值是多少？")
    joined = "".join(c.quote for c in answer.citations)
    assert "百亿级" in joined and "10億" in joined


def test_langchain_retriever_returns_ranked_documents(light_qa):
    from retrieval.langchain_retriever import HybridRetriever

    docs = HybridRetriever(qa=light_qa, k=3).invoke("萌蒂(中国)制药有限公司是由谁共同投资的？")
    assert len(docs) == 3
    assert "萌蒂公司" in docs[0].page_content and docs[0].metadata["doc"] == "000_f07e5012fceaca9b.txt"
    assert docs[0].metadata["score"] >= docs[1].metadata["score"]
