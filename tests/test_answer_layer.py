"""Unit tests of the answering layer that run in seconds: no model download, no torch.

A tiny index is built in a temporary folder from three short documents (sentences copied from
seeds/) with the project's own `ingest.build.build_index`, embedded by a fake embedder (hashed
character bigrams), and answered by `answering.pipeline.QA` with a hand-set answer scorer, so the
tests control when a sentence counts as an answer. They check behaviours, not fitted numbers:
citations point at the exact document text, markup-only and unanswerable questions abstain,
traditional questions get traditional quotes. Smaller helpers (values_differ, announced_items,
has_words/detect_script, the eval split, answer_is_right, is_evidence) are checked directly.
"""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from answering.composer import (
    ABSTAIN_TEXT,
    Pick,
    announced_items,
    compose,
    opens_enumeration,
    rest_of_sentence,
    values_differ,
)
from answering.pipeline import QA
from answering.scorer import AnswerScorer, LogisticModel
from config import Config
from embedding import embedders
from eval.gold import Evidence, GoldItem
from eval.score import answer_is_right
from eval.split import SPLITS, select, split_of
from eval.train import is_evidence
from ingest.build import build_index
from language.normalize import detect_script, has_words, search_form, to_traditional
from retrieval.search import ScoredSentence

FAKE_EMBEDDER = "fake-bigrams"
DIM = 64

# Real sentences from seeds/000 (马驹桥镇), seeds/003 (经开区 2022 工作总结) and seeds/002 (通州行动计划).
DOCUMENTS = {
    "majuqiao.txt": (
        "马驹桥镇：五大产业集群合力跑出经济发展加速度\n\n"
        "2023年全镇工业总产值预计突破112亿元\n\n"
        "小米汽车落户马驹桥智造智能基地，预计年产能将达到20万辆。\n\n"
        "一个多月前，马驹桥镇汽车企业“握指成拳”，建立产业联盟，共同倡议“强链补链”。小米汽车是其中一员。"
        "作为马驹桥引进的重大项目之一，小米汽车一期占地面积接近72万平方米，预计2024年4月实现量产，年产能将达到20万辆。\n\n"
        "华海清科集成电路高端装备研发及产业化项目于2023年6月28日在马驹桥智能制造基地开工建设。\n"
    ),
    "etown.txt": (
        "北京经济技术开发区2022年工作总结\n\n"
        "机器人和智能制造产业突破发展。推进软体机器人创新末端执行器总部签约，星网宇达无人机产业化扩产，"
        "海尔未来智造等项目落地。SMC成为百亿级装备企业，施耐德三期开工、萨姆森扩产项目拿地。\n\n"
        "优良水体比例 50%，无劣 V 类水体。\n"
    ),
    "tongzhou.txt": (
        "北京城市副中心先进制造业高质量发展三年行动计划\n\n"
        "（二）着力建设两个服务型智造基地\n"
        "以张家湾设计小镇、运河商务区为龙头，加快服务业态导入培育，深入推动现代服务业和先进制造业深度融合。"
        "运河商务区，主要承接中心城区制造企业总部、生产性服务功能转移，打造先进制造业企业总部基地。\n\n"
        "到2024年，绿色工厂达到8家，“碳中和企业”认证企业达到3家。\n"
    ),
}
XIAOMI_SENTENCE = "小米汽车落户马驹桥智造智能基地，预计年产能将达到20万辆。"


class BigramEmbedder(embedders.Embedder):
    """Deterministic stand-in for an embedding model: the character bigrams of the text's search
    form hashed (crc32, stable across processes) into 64 dimensions, L2-normalised. Texts sharing
    wording get a high cosine, which is all retrieval needs here."""

    name = FAKE_EMBEDDER
    dim = DIM

    def embed_batch(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            form = search_form(text)
            for i in range(len(form) - 1):
                out[row, zlib.crc32(form[i : i + 2].encode("utf-8")) % DIM] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0  # no bigram at all: still a unit vector
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def hand_scorer(threshold: float = 0.5) -> AnswerScorer:
    """A scorer the test controls: a sentence's probability rises with the share of the question's
    bigrams it holds (grams_own) and of its IDF-weighted terms (cover), and falls when a how-much
    question's measure has no figure next to it (slot_unfilled); the question is answered when the
    best sentence's probability (its logit is passed through unchanged) reaches `threshold`.
    The feature layouts are the untrained scorer's, so the test follows the scorer's own columns."""
    layout = AnswerScorer.untrained(FAKE_EMBEDDER)

    def model(names: tuple[str, ...], weights: dict[str, float], bias: float) -> LogisticModel:
        assert set(weights) <= set(names), f"features gone from the scorer: {set(weights) - set(names)}"
        n = len(names)
        return LogisticModel(names, np.zeros(n), np.ones(n), np.array([weights.get(f, 0.0) for f in names]), bias)

    sentence = model(layout.sentence.names, {"grams_own": 6.0, "cover": 4.0, "slot_unfilled": -3.0}, -5.0)
    answerable = model(layout.answerable.names, {"best_logit": 1.0}, 0.0)
    return AnswerScorer(FAKE_EMBEDDER, sentence, answerable, threshold, {})


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    """The three documents indexed with the fake embedder, in a folder of this test module."""
    root = tmp_path_factory.mktemp("answer_layer")
    seeds = root / "seeds"
    seeds.mkdir()
    for name, text in DOCUMENTS.items():
        (seeds / name).write_text(text, encoding="utf-8")
    cfg = Config(seeds_dir=seeds, index_dir=root / "index", model_cache=root / "cache", embedder=FAKE_EMBEDDER)
    # build_index and QA.load both get their model from embedding.embedders.load_embedder, which
    # returns the per-process cached embedder for (canonical name, model cache, runtime) when there is one.
    # Seeding that cache with the fake is the only patch: nothing is loaded, nothing downloaded,
    # and the entry is removed when this module's tests are done.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            embedders._CACHE, (FAKE_EMBEDDER, str(cfg.model_cache.resolve()), embedders.TORCH), BigramEmbedder()
        )
        summary = build_index(cfg, log=lambda _: None)
        assert summary.documents == len(DOCUMENTS) and summary.embedder == FAKE_EMBEDDER
        yield cfg


@pytest.fixture(scope="module")
def qa(config) -> QA:
    return QA.load(config, scorer=hand_scorer(), llm=False)


def assert_citations_exact(qa: QA, answer) -> None:
    """Every citation quotes its document exactly at its offsets, inside its passage."""
    for c in answer.citations:
        text = qa.searcher.documents_text[c.doc]
        assert c.quote == text[c.start : c.end]
        assert c.passage_start <= c.start < c.end <= c.passage_end


def test_answer_sentence_is_cited_at_its_offsets(qa):
    """A question whose answer is stated in a document is answered with that sentence, cited with
    offsets that give back exactly the quoted text."""
    answer = qa.ask("小米汽车落户马驹桥智造智能基地后年产能将达到多少？")
    assert not answer.abstained
    assert answer.citations
    assert_citations_exact(qa, answer)
    assert any(c.doc == "majuqiao.txt" and "20万辆" in c.quote for c in answer.citations)
    assert "[1]" in answer.answer and "20万辆" in answer.answer


@pytest.mark.parametrize("question", ["{{7*7}}", "%s%s%n", "<b></b>"])
def test_markup_only_question_abstains_without_citations(qa, question):
    """Template syntax or a lone tag asks nothing: abstain, cite nothing, look nothing up."""
    answer = qa.ask(question)
    assert answer.abstained
    assert not answer.citations
    assert answer.answer == ABSTAIN_TEXT[answer.lang]
    assert not answer.retrieved and not answer.related and answer.support == 0.0


def test_unstated_figure_abstains_and_lists_related_passages(qa):
    """The documents name the Huahai project but never its investment: its sentence shares the
    question's words but states no amount, so it scores under the threshold; the answer abstains,
    cites nothing and lists the closest passages, the Huahai one among them."""
    answer = qa.ask("华海清科项目的总投资是多少亿元？")
    assert answer.abstained and not answer.citations
    assert answer.answer == ABSTAIN_TEXT["zh-Hans"]
    assert any("华海清科" in p.chunk.text for p in answer.related)
    assert answer.support < qa.scorer.threshold


def test_threshold_above_support_turns_an_answer_into_abstention(config):
    """The same answerable question abstains when the scorer's threshold is above its support;
    the passage holding the answer is then listed as related, not cited."""
    strict = QA.load(config, scorer=hand_scorer(threshold=0.999999), llm=False)
    answer = strict.ask("小米汽车落户马驹桥智造智能基地后年产能将达到多少？")
    assert answer.abstained and not answer.citations
    assert 0.0 < answer.support < strict.scorer.threshold
    assert any("20万辆" in p.chunk.text for p in answer.related)


def test_traditional_question_gets_traditional_quote(qa):
    """An asker writing traditional characters reads the (simplified) quote in traditional script;
    the citation itself still quotes the document as written."""
    answer = qa.ask("小米汽車落戶馬駒橋智造智能基地後年產能將達到多少？")
    assert answer.lang == "zh-Hant" and not answer.abstained
    assert_citations_exact(qa, answer)
    cited = next(c for c in answer.citations if "20万辆" in c.quote)
    assert to_traditional(cited.quote) in answer.answer
    assert cited.quote not in answer.answer  # shown converted, not as written


def test_sentences_after_follow_in_document_order(qa):
    """sentences_after gives the sentences that follow one, in order, at most `count`, each a real
    span of the document, and nothing after a document's last sentence."""
    query = search_form("小米汽车是其中一员")
    candidates, _ = qa.searcher.search(query, qa._embed_query(query), "zh-Hans", 5)
    cand = next(c for c in candidates if c.chunk.doc == "majuqiao.txt")
    text = qa.searcher.documents_text["majuqiao.txt"]
    member = next(s for s in cand.sentences if text[s.start : s.end].startswith("小米汽车是其中一员"))
    after = qa.searcher.sentences_after(cand, member, 2)
    assert [text[s.start : s.end][:5] for _, s in after] == ["作为马驹桥", "华海清科集"]
    assert all(c.chunk.doc == "majuqiao.txt" and s.start >= member.end for c, s in after)
    last = max((s for s in cand.sentences), key=lambda s: s.start)
    assert qa.searcher.sentences_after(cand, last, 3) == []


def pick(doc: str, sentence: str) -> Pick:
    """A chosen sentence of `doc` (values_differ reads only the document and the sentence)."""
    candidate = SimpleNamespace(chunk=SimpleNamespace(doc=doc))
    return Pick(candidate, ScoredSentence(0, len(sentence), 1.0, 1.0, search_text=search_form(sentence)), 1.0, 0)


def test_values_differ_only_when_documents_cite_different_figures():
    """'The documents differ' is said only when two documents each state a figure and the figures
    are not the same; dates and a document without any figure are not a difference."""
    same_a = pick("a", "小米汽车落户马驹桥智造智能基地，预计年产能将达到20万辆。")
    same_b = pick("b", "作为马驹桥引进的重大项目之一，小米汽车预计年产能将达到20万辆。")
    assert not values_differ([same_a, same_b])
    other = pick("b", "2023年1-11月完成112.18亿元。")
    assert values_differ([pick("a", "全镇工业总产值预计突破112亿元。"), other])
    assert not values_differ([same_a, pick("b", "SMC成为百亿级装备企业。")])  # no figure in b
    assert not values_differ(
        [pick("a", "2023年，马驹桥镇创新工作思路。"), pick("b", "2024年，马驹桥镇将围绕发展定位。")]
    )
    assert not values_differ([pick("a", "年产能将达到20万辆。"), pick("a", "占地面积接近72万平方米。")])  # one document


def test_two_parts_answered_from_two_documents_are_not_called_a_difference():
    """The note that documents differ belongs to one question answered by two documents, not to
    the answers of two different parts of a compound question."""
    texts = {"a": "北京奔驰就在京津冀有126家供应商。", "b": "奔驰两个电动车平台立项。"}

    def cited(doc: str) -> Pick:
        text = texts[doc]
        chunk = SimpleNamespace(doc=doc, title=f"文件{doc}", section="", text=text, start=0, end=len(text))
        sentence = ScoredSentence(0, len(text), 1.0, 1.0, search_text=search_form(text))
        return Pick(SimpleNamespace(chunk=chunk), sentence, 1.0, 0)

    one_question, _ = compose([cited("a"), cited("b")], "zh-Hans", texts)
    two_parts, citations = compose([cited("a"), cited("b")], "zh-Hans", texts, note_differences=False)
    assert "不同文件" in one_question
    assert "不同文件" not in two_parts and [c.doc for c in citations] == ["a", "b"]


def test_announced_items_counts_only_unnamed_items():
    """A heading announcing items that follow it counts them; a sentence that names its items
    itself before the count announces nothing."""
    assert announced_items("着力建设两个服务型智造基地") == 2
    assert announced_items("马驹桥镇围绕蓝天、碧水、净土三大污染防治攻坚战任务") == 0
    assert announced_items("小米汽车落户马驹桥智造智能基地，预计年产能将达到20万辆。") == 0
    assert announced_items("做优做稳四个支柱产业") == 4


@pytest.mark.parametrize(
    "clause, asks_list, opens",
    [
        # seeds/004 (search form): the first of two 方面, ending in a semicolon
        (
            "一方面,建立交流对接机制,与天津市武清区、东丽区签订战略合作协议,组织5家新能源汽车整车、零部件企业赴两地开展供需精准对接会;",
            False,
            True,
        ),
        # CMRC trial t-paragraph on 乡里制: a colon announcing 一是…；二是…
        (
            "乡里制作为集行政、教化、司法、自我管理和监督于一身的基层组织体系，其职能有四个方面：一是利用地方长老进行「教化」活动，使封建伦理道德深入乡民；",
            False,
            True,
        ),
        ("各街道办事处，各乡、镇人民政府，区政府各委、办、局，各区属机构：", False, True),  # seeds/002
        # seeds/001: one of several parallel clauses; only a which-ones question reads on
        (
            "西部区域重点发展智慧物流、智能制造、节能环保、金融服务四大产业，小米汽车、中芯国际等16个协同项目有序推进；",
            False,
            False,
        ),
        (
            "西部区域重点发展智慧物流、智能制造、节能环保、金融服务四大产业，小米汽车、中芯国际等16个协同项目有序推进；",
            True,
            True,
        ),
        ("公园内步行栈道穿梭林间，观景台上可观鸟赏水。", True, False),  # a whole sentence
    ],
)
def test_a_clause_opening_an_enumeration_is_read_to_the_end_of_its_sentence(clause, asks_list, opens):
    assert opens_enumeration(clause, asks_list) is opens


def test_rest_of_sentence_stops_at_the_full_stop():
    clauses = [
        "二是管理户籍，征敛赋税和徭役；",
        "三是维护社会治安，以「什伍连坐法」的强力措施，达到维持社会稳定的目的；",
        "四是通过「乡举里送」，向朝廷推荐官吏。",
        "乡里制的瓦解始于隋唐。",
    ]
    following = [(None, ScoredSentence(0, 0, 0.0, 0.0, search_text=text)) for text in clauses]
    assert [clause.search_text for _, clause in rest_of_sentence(following)] == clauses[:3]


@pytest.mark.parametrize(
    "sentence",
    [
        "实施乡村振兴战略，对32个村容村貌进行整治",
        "拉动社零额增长3.2个百分点。",
        "全镇划分为十二个网格",
        "第二个五年计划",
    ],
)
def test_part_of_a_larger_number_announces_nothing(sentence):
    """The last digit of a larger number (32个, 3.2个, 十二个) or an ordinal (第二个) is not a
    count of items to follow (seeds/001 and 003 hold 15 such sentences)."""
    assert announced_items(sentence) == 0


def test_markup_around_a_question_is_ignored():
    """A question wrapped in a script tag is still a simplified Chinese question with words;
    template syntax alone has no words."""
    question = "<script>alert(1)</script>小米汽车的年产能？"
    assert detect_script(question) == "zh-Hans"
    assert has_words(question)
    assert not has_words("{{7*7}}")
    assert not has_words("%s%s%n") and not has_words("<b></b>")


def test_split_is_stable_balanced_and_strict():
    """An id always falls in the same split; about half of many ids are test; an unknown split
    name is refused rather than silently giving every item."""
    ids = [f"x{i:04d}" for i in range(1000)]
    first = [split_of(i) for i in ids]
    assert first == [split_of(i) for i in ids]
    assert set(first) == set(SPLITS)
    assert 400 <= first.count("test") <= 600
    items = [SimpleNamespace(id=i) for i in ids]
    assert len(select(items, "test")) + len(select(items, "tune")) == len(items)
    assert all(split_of(i.id) == "test" for i in select(items, "test"))
    assert len(select(items, "all")) == len(select(items, None)) == len(items)
    with pytest.raises(ValueError, match="unknown split"):
        select(items, "train")


def gold(
    answer: str, must: tuple[str, ...], quote: str, doc: str = "t000.txt", alternatives: tuple[str, ...] = ()
) -> GoldItem:
    return GoldItem(
        id="q",
        question="?",
        lang="zh-Hans",
        type="fact",
        answer=answer,
        must_include=must,
        evidence=(Evidence(doc, quote),),
        alternatives=alternatives,
    )


def test_answer_is_right_with_alternatives():
    """With alternatives, an answer holding any one of them is right; without, every must_include
    string is needed. Comparison is normalised (spacing, script)."""
    item = gold("4分钟", ("4分钟",), "则4分钟内不得进行配对", alternatives=("4分钟", "四分钟"))
    assert answer_is_right(item, "中离后四分钟内不得配对。")
    assert answer_is_right(item, "4 分鐘")
    assert not answer_is_right(item, "五分钟")
    plain = gold("50%，无劣V类", ("50%", "劣V类"), "优良水体比例 50%，无劣 V 类水体")
    assert answer_is_right(plain, "优良水体比例50%，无劣 V 类水体。")
    assert not answer_is_right(plain, "优良水体比例50%。")


def test_answer_is_right_across_quoted_sentences():
    """A CMRC answer running over two sentences matches the answer that quotes both, with the
    citation marker between them; a marker's digit is no figure of the answer."""
    item = gold("成公英为什么投降曹操？", ("阎行不敌，有意撤退；此时韩遂逝世",), "阎行不敌，有意撤退；此时韩遂逝世")
    assert answer_is_right(item, "成公英攻打阎行，阎行不敌，有意撤退；[1]此时韩遂逝世，成公英唯有投降曹操。[2]")
    rank = gold("蒙泰罗获得第几名？", ("第3名",), "获得第3名")
    assert not answer_is_right(rank, "2005年美国大奖赛，只有3支车队的6辆赛车起跑，第[3]名")


def test_is_evidence_on_a_cmrc_like_item():
    """A sentence stating the answer inside the quote's wording is evidence; the same answer string
    in an unrelated sentence, or a sentence of another document, is not."""
    item = gold("踢爆", ("踢爆",), "为一泡封，将水泡击破为一踢爆。若水泡未在时间内踢爆，", alternatives=("踢爆",))
    assert is_evidence(item, "t000.txt", "玩家以水枪泡封敌人，即为一泡封，将水泡击破为一踢爆。")
    assert not is_evidence(item, "t000.txt", "生命数耗完即算为踢爆。")
    assert not is_evidence(item, "t001.txt", "玩家以水枪泡封敌人，即为一泡封，将水泡击破为一踢爆。")


def test_a_figure_in_another_unit_or_none_at_all_is_no_answer(config):
    """Even a scorer that answers nearly everything does not cite the Xiaomi sentence for a
    number of staff (多少名: it gives 平方米 and 万辆) or a year it never states: support is 0."""
    lenient = QA.load(config, scorer=hand_scorer(threshold=1e-9), llm=False)
    assert not lenient.ask("小米汽车落户马驹桥智造智能基地后年产能将达到多少万辆？").abstained
    for question in ("小米汽车马驹桥工厂一期有多少名员工？", "小米汽车是哪一年落户马驹桥智造智能基地的？"):
        answer = lenient.ask(question)
        assert answer.abstained and not answer.citations and answer.support == 0.0, question


def test_a_neighbouring_phase_year_or_no_holder_of_the_office_is_no_answer(config):
    """Even a scorer that answers nearly everything does not cite 小米汽车一期 for a question on
    its second phase, 2024年 for 2025年, a year no document writes, or a sentence naming no 董事长 for who holds that office."""
    lenient = QA.load(config, scorer=hand_scorer(threshold=1e-9), llm=False)
    assert not lenient.ask("小米汽车一期占地面积有多大？").abstained
    for question in (
        "小米汽车二期占地面积有多大？",
        "到2025年，绿色工厂达到几家？",
        "2019年小米汽车落户马驹桥智造智能基地后年产能将达到多少万辆？",  # no document writes 2019
        "小米汽车的董事长是谁？",
    ):
        answer = lenient.ask(question)
        assert answer.abstained and not answer.citations and answer.support == 0.0, question


def test_a_quantised_embedder_without_weights_of_its_own_uses_its_models():
    """The answer scorer and the report's account of it pick the same entry of the weights file."""
    from answering.scorer import weights_key
    from eval.report import scorer_note

    assert weights_key("embeddinggemma@int8", {"embeddinggemma", "use-m3"}) == "embeddinggemma"
    assert weights_key("embeddinggemma@int8", {"embeddinggemma@int8", "embeddinggemma"}) == "embeddinggemma@int8"
    assert weights_key("use-m3", {"embeddinggemma"}) is None
    assert "entry `embeddinggemma`" in scorer_note("embeddinggemma@int8")
    assert "holds no scorer" in scorer_note("some-other-model")


def test_the_year_a_passage_speaks_of_holds_for_its_sentences_that_name_none():
    """seeds/003 states 2022's figures clause by clause after one `2022 年，`: the clause on
    工业产值 names no year but is 2022's, so it does not answer a question on 2021; it does answer
    one on 2022, and a clause naming its own year is read by that year."""
    from answering.composer import in_force, names_the_asked_member
    from retrieval.search import Candidate

    year_clause = "2022年，亦庄新城预计全年地区生产总值同比增长8%（剔除疫苗因素）；"
    output_clause = "工业产值同比增长7%（剔除疫苗因素）；"
    text = year_clause + output_clause
    sentences = [
        ScoredSentence(0, len(year_clause), 0.5, 0.5, search_text=year_clause),
        ScoredSentence(len(year_clause), len(text), 0.5, 0.5, search_text=output_clause),
    ]
    chunk = SimpleNamespace(doc="etown.txt", kind="paragraph")
    passage = Candidate(0, chunk, 1.0, {}, sentences)
    output = Pick(passage, sentences[1], 0.9, 0)
    documents = {"etown.txt": text + "2021年同期。"}

    assert in_force(output) == year_clause + output_clause
    assert in_force(Pick(passage, sentences[0], 0.9, 0)) == year_clause

    def answers(question: str) -> bool:
        return names_the_asked_member([output], SimpleNamespace(question_form=question), documents)

    assert not answers("2021年亦庄新城工业产值同比增长多少？")
    assert answers("2022年亦庄新城工业产值同比增长多少？")
    assert answers("亦庄新城工业产值同比增长多少？")
