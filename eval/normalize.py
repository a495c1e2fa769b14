"""Text normalisation and the "passage covers quote" rule shared by every metric.

Two strings are compared only after `normalise`:
  1. pinyin ruby annotations such as 協(xié)同 are dropped (one seed file carries them; the cleaned
     text may not, and a reader never sees them as content);
  2. NFKC (full-width letters, digits and punctuation become their ASCII forms);
  3. OpenCC traditional -> simplified, so a traditional answer matches a simplified gold string;
  4. case folding, so English answers match regardless of capitalisation;
  5. whitespace, invisible characters and punctuation (Chinese and ASCII) removed.

A passage *covers* an evidence quote when their longest common substring, after normalisation, is
at least 60% of the normalised quote's length.
"""

from __future__ import annotations

import re
import string
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

from opencc import OpenCC

COVER_RATIO_NUMERATOR, COVER_RATIO_DENOMINATOR = 3, 5  # 60%, kept as integers to avoid float edges

_TONE_MARKED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_RUBY = re.compile(
    r"(?<=[\u3400-\u9fff])[(（][a-zü" + _TONE_MARKED + r"]*[" + _TONE_MARKED + r"][a-zü" + _TONE_MARKED + r"]*[)）]"
)
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_T2S = OpenCC("t2s")


def _is_dropped(ch: str) -> bool:
    if ch.isspace() or ch in _ASCII_PUNCTUATION:
        return True
    category = unicodedata.category(ch)
    return category.startswith("P") or category in ("Cc", "Cf", "Zs", "Zl", "Zp")


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Comparable form of `text`: see the module docstring for the steps, applied in order."""
    text = _PINYIN_RUBY.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = _T2S.convert(text)
    text = text.casefold()
    return "".join(ch for ch in text if not _is_dropped(ch))


def longest_common_substring_length(a: str, b: str) -> int:
    """Length of the longest common substring of two (already normalised) strings."""
    if not a or not b:
        return 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)  # no junk heuristics: exact answer
    return matcher.find_longest_match(0, len(a), 0, len(b)).size


def required_overlap(quote_length: int) -> int:
    """Characters a passage must share contiguously with a quote of this length (ceil of 60%)."""
    return -(-quote_length * COVER_RATIO_NUMERATOR // COVER_RATIO_DENOMINATOR)


def covers(passage: str, quote: str) -> bool:
    """True when `passage` contains a stretch of at least 60% of `quote` (both raw; normalised here).

    A common substring of length >= L exists iff some substring of the quote of length exactly L
    occurs in the passage, so one scan over the quote's windows decides it.
    """
    passage_n, quote_n = normalise(passage), normalise(quote)
    if not quote_n:
        return False
    needed = required_overlap(len(quote_n))
    return any(quote_n[i : i + needed] in passage_n for i in range(len(quote_n) - needed + 1))


def contains_normalised(haystack: str, needle: str) -> bool:
    """True when the normalised `needle` occurs in the normalised `haystack`."""
    needle_n = normalise(needle)
    return bool(needle_n) and needle_n in normalise(haystack)
