"""The search form of a text: what the lexical and dense indexes see (display text is untouched).

Shared by ingest (chunks) and retrieval (queries) so both sides normalise the same way.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_SPACE_AROUND_CJK = re.compile(
    rf"(?<=[{_CJK}])[ \t\u3000]+(?=[0-9A-Za-z%{_CJK}])|(?<=[0-9A-Za-z%])[ \t\u3000]+(?=[{_CJK}])"
)
_RUNS_OF_SPACE = re.compile(r"[ \t\u3000]+")


@lru_cache(maxsize=2)
def _opencc(config: str) -> OpenCC:
    return OpenCC(config)


def to_simplified(text: str) -> str:
    return _opencc("t2s").convert(text)


def to_traditional(text: str) -> str:
    return _opencc("s2tw").convert(text)


def fold_width(text: str) -> str:
    """NFKC folds full-width digits/letters/punctuation (２０２２ -> 2022, （ -> ()."""
    return unicodedata.normalize("NFKC", text)


def close_cjk_spacing(text: str) -> str:
    """`2022 年` -> `2022年`: spaces between CJK and digits/letters carry no meaning in Chinese."""
    return _SPACE_AROUND_CJK.sub("", text)


# Cached: every sentence a question scores is compared with its chunk's title and heading, the same
# few strings thousands of times; OpenCC is a third of an answer's CPU time without the cache.
@lru_cache(maxsize=8192)
def search_form(text: str) -> str:
    """NFKC + traditional->simplified + CJK spacing closed + runs of spaces collapsed."""
    text = to_simplified(fold_width(text))
    text = close_cjk_spacing(text)
    return _RUNS_OF_SPACE.sub(" ", text).strip()


def section_leaf(section: str) -> str:
    """The innermost heading of a section path ("计划名 › 二、… › （一）…" -> "（一）…")."""
    return section.rsplit(" › ", 1)[-1]


@lru_cache(maxsize=1024)  # asked of the same question at several stages of one answer
def detect_script(text: str) -> str:
    """'zh-Hant', 'zh-Hans' or 'en' for a question: the answer follows the asker's script.
    Markup around a question (`<b>…</b>`) does not make it English."""
    text = without_markup(text)
    cjk = [ch for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"]
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if not cjk:
        return "en" if latin else "zh-Hans"
    if latin > 2 * len(cjk) and latin >= 6:
        return "en"
    joined = "".join(cjk)
    simplified = to_simplified(joined)
    changed = sum(1 for a, b in zip(joined, simplified) if a != b)
    # Characters shared by both scripts are the majority; one traditional-only form decides.
    return "zh-Hant" if changed else "zh-Hans"


# Markup and template syntax carry no question: an HTML tag, `{{7*7}}`, `${x}`, `%s`.
_MARKUP = re.compile(r"<[^<>]{0,200}>|\{\{.*?\}\}|\{%.*?%\}|\$\{[^}]*\}|%[0-9.]*[sdnxpfi]")
_WORD = re.compile(rf"[{_CJK}]|[A-Za-z]{{2,}}")


def without_markup(text: str) -> str:
    return _MARKUP.sub(" ", text)


def has_words(text: str) -> bool:
    """Text with at least one Chinese character or two-letter word outside markup: something that
    can be asked. `{{7*7}}`, `%s%s%n` or a lone tag cannot."""
    return bool(_WORD.search(without_markup(text)))


# Words that carry no question of their own: interjections, assent, thanks, greetings (simplified
# Chinese, and English in lower case). A follow-up made only of these is not merged with the
# previous question (`嗯`, `好的谢谢`, `ok`, `thanks!`), and nothing is looked up for it.
_ZH_FILLERS = sorted(
    """嗯 恩 啊 阿 哦 噢 喔 呃 额 唔 哈 呵 嘿 嘻 喂 哎 唉 诶 欸 呀 哇 吧 嘛 吗 呢 啦 咯 哟 好 好的 好吧 行 对 对的
    是的 可以 谢谢 多谢 感谢 谢了 知道了 明白 了解 收到 没事 没问题 再见 拜拜 你好 您好 大家好 哈喽 早上好 晚上好""".split(),
    key=len,
    reverse=True,
)
_EN_FILLERS = sorted(
    """ok, okay, k, yes, yeah, yep, yup, no, nope, nah, thanks, thank you, thx, ty, cool, great, nice, good, fine,
    alright, sure, right, hi, hello, hey, bye, goodbye, hmm, hm, um, uh, ah, oh, wow, lol, got it, i see, please""".split(
        ","
    ),
    key=len,
    reverse=True,
)
_FILLER_WORD = re.compile(
    "|".join(map(re.escape, _ZH_FILLERS))
    + r"|\b(?:"
    + "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in _EN_FILLERS)
    + r")\b"
)
_CONTENT = re.compile(rf"[{_CJK}]|[A-Za-z]{{2,}}|[0-9]")


def has_content_words(text: str) -> bool:
    """Something to look up: a Chinese character, a word of two letters or a number outside markup
    that is not an interjection, assent, thanks or greeting (`嗯`, `好的`, `ok`, `thanks`). Emoji
    and punctuation never count."""
    folded = to_simplified(fold_width(without_markup(text))).lower()
    return bool(_CONTENT.search(_FILLER_WORD.sub(" ", folded)))
