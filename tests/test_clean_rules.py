"""Each cleaning rule on a real snippet from the seeds."""

from ingest.clean import (
    clean_text,
    collapse_blank_lines,
    drop_copyright_notice,
    drop_trailing_headline_list,
    join_broken_paragraphs,
    normalize_line_endings,
    strip_bookmark_markup,
    strip_pinyin_annotations,
    trim_line_whitespace,
)
from language.normalize import close_cjk_spacing, detect_script, fold_width, search_form


def test_pinyin_annotations_removed_real_parentheses_kept():
    raw = "協(xié)同發(fā)展邁出新步伐 人民網(wǎng)北京2月25日電 (記者孟竹)SMC(天津)制造有限公司"
    text, n = strip_pinyin_annotations(raw)
    assert text == "協同發展邁出新步伐 人民網北京2月25日電 (記者孟竹)SMC(天津)制造有限公司"
    assert n == 3


def test_bookmark_markup_removed():
    raw = "[bookmark: _Toc7207]三、打造“一极两地五镇”产业布局\n[bookmark: _Toc18302][bookmark: _Toc27302]（一）加强组织协调"
    text, n = strip_bookmark_markup(raw)
    assert text == "三、打造“一极两地五镇”产业布局\n（一）加强组织协调"
    assert n == 3


def test_copyright_notice_dropped():
    raw = (
        "助力打造京津冀高精尖產業經濟帶。\n版權聲明:凡注明“來源:中國西藏網”或“中國西藏網文”的所有作品,"
        "版權歸高原(北京)文化傳播有限公司。\n- 京西有驚喜"
    )
    text, n = drop_copyright_notice(raw)
    assert "版權聲明" not in text and "經濟帶。" in text and n == 1


def test_trailing_headline_list_dropped_but_not_body_dashes():
    raw = (
        "助力打造京津冀高精尖產業經濟帶。\n- 京西有驚喜 2024京西消費節\n- 朝陽區安貞街道舉辦歡樂搖元宵活動\n"
        "- 全國鐵路今日預計發送旅客1190萬人次\n- 孔府老技藝“活”起來"
    )
    text, n = drop_trailing_headline_list(raw)
    assert n == 1 and text.strip() == "助力打造京津冀高精尖產業經濟帶。"
    body = "搭建形成“概念验证平台-公共技术服务平台-打样中心-中试基地”全链条产业服务体系。\n下一段。"
    assert drop_trailing_headline_list(body) == (body, 0)


def test_broken_paragraphs_joined_headings_kept():
    raw = (
        "科技创新，已深深根植于马驹桥镇域企\n\n业的基因与血脉。\n\n"
        "网格长负责统筹协调网格内城市管理、经济治理、消防安全、违法建\n\n设等方面问题。\n\n"
        "产业集聚新发展\n\n小米汽车落户马驹桥智造智能基地。"
    )
    text, n = join_broken_paragraphs(raw)
    assert "镇域企业的基因" in text and "违法建设等方面" in text
    assert "产业集聚新发展\n\n小米汽车" in text  # a short heading is not glued to its paragraph
    assert n == 2


def test_broken_paragraph_after_comma_joined():
    raw = "依托同仁医院共建区域医疗中心，\n\n依托东方医院打造中医区域医疗体系。"
    assert join_broken_paragraphs(raw)[0] == "依托同仁医院共建区域医疗中心，依托东方医院打造中医区域医疗体系。"


def test_numbered_item_never_joined():
    raw = "（一）提升存量企业能级，实施蝶变工程\n\n1.优先支持企业扩产上新。"
    assert join_broken_paragraphs(raw)[1] == 0


def test_layout_rules():
    assert normalize_line_endings("北京市通州区\r\n文件\ufeff")[0] == "北京市通州区\n文件"
    assert trim_line_whitespace(" 充分发挥财政资金引导作用  \n")[0] == "充分发挥财政资金引导作用\n"
    assert (
        collapse_blank_lines("\n\n\n产业欣欣向荣\n\n\n\n马驹桥镇以六支渠为界")[0]
        == "产业欣欣向荣\n\n马驹桥镇以六支渠为界\n"
    )


def test_search_form_folds_width_script_and_spacing():
    assert fold_width("２０２２年ＡＩ") == "2022年AI"
    assert (
        close_cjk_spacing("2022 年是极为重要的一年，留住 5627 名骨干人才")
        == "2022年是极为重要的一年，留住5627名骨干人才"
    )
    assert search_form("臺馬片區完成工業總產值180.7億元") == "台马片区完成工业总产值180.7亿元"


def test_detect_script():
    assert detect_script("小米汽車一期佔地面積有多大？") == "zh-Hant"
    assert detect_script("小米汽车一期占地面积有多大？") == "zh-Hans"
    assert detect_script("How many warehouses does Tongzhou Port have?") == "en"
    assert detect_script("What is SMC(天津)?") == "en"


def test_clean_text_reports_rules_fired():
    text, fired = clean_text("[bookmark: _GoBack]以习近平新时代中国特色社会主义思想为指导\r\n")
    assert text == "以习近平新时代中国特色社会主义思想为指导\n"
    assert fired["strip_bookmark_markup"] == 1
