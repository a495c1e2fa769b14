"""Repair GBK mojibake runs that lost bytes (`?!叭缃馭MC` -> `。“如今SMC`); drop what cannot be repaired.

Call order: run this BEFORE `strip_pinyin_annotations` (after line-ending / markup cleanup).
The pinyin annotations the damage left around a `?` are evidence: `?(yīng)` says the lost
character reads yīng, and so does an orphan fragment such as `shù)`. This function removes the
annotations and fragments it consumed; annotations on ordinary characters are left for the
stripping rule.

The damage model (checked against every run in seed 004)
--------------------------------------------------------
The document was GBK. One byte of a stretch was replaced by `?`; the rest was decoded as GBK and
then NFKC-normalised. GBK characters are two bytes, so every character after the `?` is
decoded one byte out of phase (rare characters: 叭缃馭, 蓖跷挠卤硎) until the phase comes back by
itself: an ASCII byte is taken as a trail byte (`馭` = f1 53 is 今's trail f1 + the `S` of
`SMC`), or a lone byte decodes as `€` (0x80) or `?`. So:

* re-encoding the damaged characters as GBK gives back the original bytes;
* ASCII inside a run is what NFKC made of a GBK symbol: `!` is ！ (a3 a1), `;` is ； (a3 bb),
  `(17)` is ⒄; a letter may also be a raw trail byte (`瘪R` = b1 f1 52 -> ” + 馬 f1 52);
* a `?` is one unknown byte. A `?` later in a run may also be two (trail + lead, still out of
  phase), or three when the annotated character after it went too (`卣?wù)` = 政 + 務). A wholly
  lost character is only restored when a pinyin hint names it: `??` with no hint stays as is.

Example: 規模化應用 is d2 8e | c4 a3 | bb af | 91 aa | d3 c3; the damaged `規?;瘧?yīng)用` (004) is
d2 8e | ?? | a3 bb (；) | af 91 (瘧) | ?? | d3 c3. Re-paired as ?? a3 | bb af | 91 ??, the unknown
bytes are chosen so the result reads best: c4 a3 (模), 91 aa (應, which also reads yīng).

Algorithm, for each `?` followed by damaged-looking text
--------------------------------------------------------
1. Parse: walk the characters after the `?`, turning them back into bytes (branching where a
   character has several byte readings or a `?` several widths), and pair the bytes as GBK from
   the first unknown byte. A reading ends at the first character boundary the repaired and the
   damaged text share; readings whose bytes do not pair into GBK die.
2. Fill: each character with an unknown byte is a slot; its candidates are the GBK characters
   with the known half (or, for a wholly lost character, those with the hinted reading). A beam
   search ranks them with a word unigram model (jieba's dictionary frequencies; text compared
   NFKC'd and converted character-wise with OpenCC t2s), with bonuses for matching the pinyin
   hint (pypinyin's table) and for bigrams/trigrams the document uses elsewhere (a cache model:
   政務服務 appears elsewhere in 004, so 政務 beats 誤), and a penalty for the other script
   (务 in a traditional document).
3. Decide: take the best repair when every repaired character is plausible (inside a dictionary
   word, a common character, punctuation, ASCII) and it reads better than the damaged text. A
   filler that beats no rival by MIN_MARGIN is a guess (运用/运营 总监) and is left out rather
   than invented; when two readings of the bytes are about as good, the run is dropped. With no
   plausible repair, a run that is evidently garbage (rare characters, pinyin hung on a `?`) is
   DROPPED: garbage is never indexed. A `?` with ordinary text around it (a question mark) and
   `??` with no hint are left alone.

Counts: a run is "repaired" when some of it was restored (a guessed filler may be left out) and
"dropped" when nothing of it is kept.

Cost: jieba's dictionary and OpenCC load on the first `?` that looks like damage (about 1 s,
shared with the rest of ingest); then seed 004 takes 0.3-0.6 s the first time (tables warm up)
and about 0.1 s after. Text without `?`/U+FFFD returns at once.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

__all__ = ["repair_gbk_mojibake"]

LOST = "?\ufffd"  # what a lost byte became
TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_WORD = rf"[a-zü{TONED}]*[{TONED}][a-zü{TONED}]*"
_ANNOTATION = re.compile(rf"\({_PINYIN_WORD}\)")  # `(xié)` after a character
_HINT = re.compile(rf"\(?({_PINYIN_WORD})\)")  # `(yīng)`, or an orphan `shù)`
_HUNG_HINT = re.compile(rf"[{LOST}]\(?{_PINYIN_WORD}\)")  # a hint right after a `?`
_FOLDED_RUN = re.compile(r"[!-~]{1,4}")  # ASCII that NFKC may have made of a symbol

# Search limits.
MAX_RUN_CHARS = 40  # a run must come back into phase within this many characters
MAX_STEPS = 5_000  # parse states explored per run
MAX_PARSES = 12
MAX_GAPS = 4
MAX_FOLD_LEN = 4  # longest ASCII text NFKC makes of one GBK symbol: `(17)`
BEAM_WIDTH = 8
WIDE_BEAM_WIDTH = 32  # when the next character is unknown too, its neighbour cannot judge yet
CONTEXT_CHARS = 4  # characters of context on each side for the language score
MAX_WORD_LEN = 8

# Scores are natural-log probabilities; bonuses are in the same units.
MIN_MARGIN = 2.0  # a filler must beat every other one by this much, or it is a guess
# (运用/运营 总监) and is left out
HINT_BONUS = 8.0  # the lost character has the annotated reading
CACHE_BONUS = 1.5  # per bigram/trigram the document uses elsewhere
SCRIPT_PENALTY = 3.0  # 务 in a traditional document where 務 also fits
SINGLE_CHAR_PENALTY = 3.0  # a character forming no word with its neighbours (the unigram model
# alone prefers 當地|誤|服務 to 當地|政務|服務)
COMMON_CHAR_FREQ = 300  # a lone character rarer than this (jieba count) is implausible
MIN_CANDIDATE_FREQ = 30  # rarer characters are neither tried as fillers nor accepted as decoded
ASCII_FREQ = 10_000
PUNCT_FREQ = {  # pseudo-counts (jieba has none); 的 is 318,825
    ",": 600_000,
    "。": 300_000,
    "、": 150_000,
    "“": 100_000,
    "”": 100_000,
    ":": 50_000,
    "(": 40_000,
    ")": 40_000,
    ";": 30_000,
    "《": 30_000,
    "》": 30_000,
    ".": 30_000,
    "?": 20_000,
    "%": 20_000,
    '"': 20_000,
    "!": 10_000,
    "…": 10_000,
    "—": 10_000,
    "-": 10_000,
    "‘": 5_000,
    "’": 5_000,
    "·": 5_000,
    "/": 5_000,
    "'": 5_000,
    "「": 5_000,
    "」": 5_000,
    "【": 5_000,
    "】": 5_000,
}

PUNCT_CLASH_PENALTY = 6.0  # two marks in a row (`,。`), unless one is a quote or bracket
_PLAIN_MARKS = "".join(sorted(set(PUNCT_FREQ) - set("“”‘’()《》「」【】\"'") - set(LOST)))
_CLASH = re.compile(f"[{re.escape(_PLAIN_MARKS)}](?=[{re.escape(_PLAIN_MARKS)}])")

_UNSEEN = object()


# ---------------------------------------------------------------------------------------------
# Language model: word unigrams from jieba's dictionary over "plain" text (NFKC, t2s per char).


class _Lexicon:
    def __init__(self) -> None:
        import jieba
        from opencc import OpenCC

        jieba.dt.check_initialized()
        self.freq = jieba.dt.FREQ
        self.log_total = math.log(jieba.dt.total)
        self._t2s = OpenCC("t2s")
        self._s2t = OpenCC("s2t")
        self._plain: dict[str, str] = {}
        self._traditional: dict[str, str] = {}
        self._single: dict[str, float] = {}
        self._words: dict[str, float | None] = {}
        self._scores: dict[str, float] = {}

    # characters

    def plain_char(self, ch: str) -> str:
        """`，` -> `,`, `應` -> `应`: the form the dictionary and the document model compare."""
        p = self._plain.get(ch)
        if p is None:
            p = unicodedata.normalize("NFKC", ch)
            p = p if len(p) == 1 else ch
            if ord(p) > 0x7F:
                s = self._t2s.convert(p)
                p = s if len(s) == 1 else p
            self._plain[ch] = p
        return p

    def plain(self, text: str) -> str:
        return "".join(self.plain_char(ch) for ch in text)

    def to_traditional(self, ch: str) -> str:
        t = self._traditional.get(ch)
        if t is None:
            t = self._s2t.convert(ch)
            t = self._traditional[ch] = t if len(t) == 1 else ch
        return t

    def is_simplified_only(self, ch: str) -> bool:
        return self.to_traditional(ch) != ch

    def is_traditional_only(self, ch: str) -> bool:
        return self.plain_char(ch) != ch and ord(ch) > 0x7F and not 0xFF01 <= ord(ch) <= 0xFF5E

    def char_freq(self, ch: str) -> int:
        """How common a lone (plain) character is; punctuation and ASCII get pseudo-counts."""
        if ch in PUNCT_FREQ:
            return PUNCT_FREQ[ch]
        if ch.isascii():
            return ASCII_FREQ if ch.isalnum() else 1_000
        return self.freq.get(ch) or 1

    # scoring

    def _single_logp(self, ch: str) -> float:
        lp = self._single.get(ch)
        if lp is None:
            lp = math.log(self.char_freq(ch)) - self.log_total
            if ch not in PUNCT_FREQ and not ch.isascii():
                lp -= SINGLE_CHAR_PENALTY
            self._single[ch] = lp
        return lp

    def _word_logp(self, word: str) -> float | None:
        """log P(word); -inf for a mere prefix of a dictionary word; None when no word starts so."""
        lp = self._words.get(word, _UNSEEN)
        if lp is _UNSEEN:
            f = self.freq.get(word)  # jieba stores every word prefix, with count 0
            lp = self._words[word] = None if f is None else (math.log(f) - self.log_total if f else -math.inf)
        return lp

    def _best_route(self, s: str) -> tuple[list[float], list[int]]:
        """Max-probability segmentation (jieba's DAG): best[i] scores s[i:], nxt[i] ends its first word."""
        n = len(s)
        best = [0.0] * (n + 1)
        nxt = list(range(1, n + 2))
        for i in range(n - 1, -1, -1):
            b, e = self._single_logp(s[i]) + best[i + 1], i + 1
            for j in range(i + 2, min(n, i + MAX_WORD_LEN) + 1):
                lp = self._word_logp(s[i:j])
                if lp is None:
                    break
                if lp + best[j] > b:
                    b, e = lp + best[j], j
            best[i], nxt[i] = b, e
        return best, nxt

    def logprob(self, plain_text: str) -> float:
        lp = self._scores.get(plain_text)
        if lp is None:
            if len(self._scores) > 200_000:
                self._scores.clear()
            clashes = len(_CLASH.findall(plain_text))
            lp = self._best_route(plain_text)[0][0] - PUNCT_CLASH_PENALTY * clashes
            self._scores[plain_text] = lp
        return lp

    def implausible(self, plain_text: str, lo: int, hi: int) -> int:
        """How many characters in [lo, hi) stand alone in the best segmentation and are rare."""
        _, nxt = self._best_route(plain_text)
        count, i = 0, 0
        while i < len(plain_text):
            j, ch = nxt[i], plain_text[i]
            if j == i + 1 and lo <= i < hi and not ch.isspace() and self.char_freq(ch) < COMMON_CHAR_FREQ:
                count += 1
            i = j
        return count


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    return _Lexicon()


# ---------------------------------------------------------------------------------------------
# GBK and pinyin tables.

_TRAIL_BYTES = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
_LEAD_BYTES = range(0x81, 0xFF)


def _decode_pair(first: int, second: int) -> str | None:
    try:
        ch = bytes((first, second)).decode("gbk")
    except UnicodeDecodeError:
        return None
    return ch if len(ch) == 1 and unicodedata.category(ch) not in ("Co", "Cn", "Cc") else None


@cache
def _chars_with_lead(lead: int) -> tuple[str, ...]:
    return tuple(ch for t in _TRAIL_BYTES if (ch := _decode_pair(lead, t)))


@cache
def _chars_with_trail(trail: int) -> tuple[str, ...]:
    return tuple(ch for b in _LEAD_BYTES if (ch := _decode_pair(b, trail)))


@lru_cache(maxsize=1)
def _folded_symbols() -> dict[str, tuple[bytes, ...]]:
    """ASCII text -> GBK symbols NFKC turns into it: `!` <- ！ a3a1, `1` <- １ a3b1 / ① a2d9,
    `(17)` <- ⒄, ` ` <- the ideographic space a1a1: GB2312's symbol rows a1-a9."""
    table: dict[str, list[bytes]] = defaultdict(list)
    for lead in range(0xA1, 0xAA):
        for trail in range(0xA1, 0xFF):
            ch = _decode_pair(lead, trail)
            if ch:
                folded = unicodedata.normalize("NFKC", ch)
                if folded != ch and folded.isascii() and len(folded) <= MAX_FOLD_LEN:
                    table[folded].append(bytes((lead, trail)))
    return {k: tuple(v) for k, v in table.items()}


@lru_cache(maxsize=1)
def _pinyin_table() -> dict[str, str]:
    """Code point (as a string) -> "shù,shǔ,shuò", from pypinyin's character table.

    The JSON file is read directly: importing the package would also load its 170 ms phrase
    table, which is not needed here. Without pypinyin the hints are simply ignored.
    """
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _reads(ch: str | None, reading: str) -> bool:
    return bool(ch) and reading in _pinyin_table().get(str(ord(ch)), "").split(",")


@cache
def _chars_reading(reading: str) -> tuple[str, ...]:
    """The two-byte GBK characters one of whose readings is `reading`."""
    out = []
    for cp, readings in _pinyin_table().items():
        if reading in readings.split(","):
            ch = chr(int(cp))
            try:
                if len(ch.encode("gbk")) == 2:
                    out.append(ch)
            except UnicodeEncodeError:
                pass
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Parsing: damaged characters -> bytes -> original characters with unknown bytes (slots).


@dataclass(frozen=True)
class _Slot:
    """An original character with one or two unknown bytes."""

    first: int | None
    second: int | None
    hint: str | None
    left_byte: int | None  # the byte before an unknown first byte: the damaged text paired them

    def matches_hint(self, ch: str) -> bool:
        """The hint names `ch`, or the character the damaged text made of left_byte + its lost byte."""
        if not self.hint:
            return False
        if _reads(ch, self.hint):
            return True
        if self.first is None and self.left_byte is not None:
            return _reads(_decode_pair(self.left_byte, ch.encode("gbk")[0]), self.hint)
        return False


@dataclass
class _Parse:
    pieces: list  # str (a character whose bytes are known) or _Slot
    end: int  # text offset where the run ends


@dataclass(frozen=True)
class _Pending:
    """The first byte of a character whose second byte is still to come."""

    byte: int | None
    left_byte: int | None
    hint: str | None = None


class _Dead(Exception):
    """These bytes do not pair into GBK characters."""


def _pair(pending: _Pending | None, byte: int | None, prev: int | None) -> tuple[_Pending | None, object]:
    """Add one byte (None = unknown) after `pending`: returns (new pending, finished piece or None)."""
    if pending is None:
        if byte is not None and byte < 0x80:
            return None, chr(byte)
        if byte in (0x80, 0xFF):
            raise _Dead
        return _Pending(byte, prev), None
    if pending.byte is not None and byte is not None:
        ch = _decode_pair(pending.byte, byte)
        if ch is None:
            raise _Dead
        return None, ch
    return None, _Slot(pending.byte, byte, pending.hint, pending.left_byte)


def _gap_widths(hint: str | None, first: bool) -> tuple[int, ...]:
    """Bytes a `?` may stand for. Opening a run: 1 (a lead byte; what follows is out of phase) or
    2 (a whole hinted character). Later: 1 (a trail byte), 2 (trail + lead, still out of phase)
    or 3 (trail + a whole hinted character)."""
    if first:
        return (1, 2) if hint else (1,)
    return (1, 2, 3) if hint else (1, 2)


def _fill_gap(pending: _Pending | None, width: int, hint: str | None, prev: int | None) -> tuple[_Pending | None, list]:
    """Feed `width` unknown bytes. The hint names the character completed last inside the gap
    (the one the annotation followed), or the pending one when none was completed."""
    pieces: list = []
    for _ in range(width):
        pending, piece = _pair(pending, None, prev)
        prev = None
        if piece is not None:
            pieces.append(piece)
    if hint:
        if pieces:
            last = pieces[-1]
            pieces[-1] = _Slot(last.first, last.second, hint, last.left_byte)
        else:
            pending = _Pending(pending.byte, pending.left_byte, hint)
    if any(p.first is None and p.second is None and not p.hint for p in pieces):
        raise _Dead  # a wholly lost character and no hint: any guess would be invented text
    return pending, pieces


def _read_hint(text: str, pos: int) -> tuple[str | None, int]:
    m = _HINT.match(text, pos)
    return (m.group(1), m.end()) if m else (None, pos)


def _byte_readings(text: str, pos: int) -> list[tuple[bytes, int]]:
    """The bytes the damaged character(s) at `pos` may have been: [(bytes, next position)]."""
    ch = text[pos]
    if ch == "€":
        return [(b"\x80", pos + 1)]
    if not ch.isascii():
        try:
            raw = ch.encode("gbk")
        except UnicodeEncodeError:
            return []
        m = _HINT.match(text, pos + 1)  # pinyin hung on a damaged character: noise
        return [(raw, m.end() if m else pos + 1)]
    readings = [(ch.encode(), pos + 1)]  # a raw ASCII byte: survives only as a trail byte
    folded = _folded_symbols()
    for n in range(1, MAX_FOLD_LEN + 1):
        readings += [(b, pos + n) for b in folded.get(text[pos : pos + n], ())]
    return readings


def _parses(text: str, start: int, left_byte: int | None, lex: _Lexicon) -> list[_Parse]:
    """Every reading of the run at `start` that pairs into GBK, decodes to no rare character where
    its bytes are known, and comes back into phase."""
    found: list[_Parse] = []
    line_end = text.find("\n", start)
    limit = min(len(text) if line_end < 0 else line_end, start + MAX_RUN_CHARS)
    steps = 0

    def walk(pos: int, pending: _Pending | None, prev: int | None, pieces: list, gaps: int) -> None:
        nonlocal steps
        steps += 1
        if steps > MAX_STEPS or len(found) >= MAX_PARSES:
            return
        if pending is None and pos > start:  # a boundary both texts share: the run ends
            found.append(_Parse(pieces, pos))
            return
        if pos >= limit:
            return
        if text[pos] in LOST:
            if gaps < MAX_GAPS:
                hint, after = _read_hint(text, pos + 1)
                for width in _gap_widths(hint, first=(pos == start)):
                    try:
                        p, new = _fill_gap(pending, width, hint, prev)
                    except _Dead:
                        continue
                    walk(after, p, None, pieces + new, gaps + 1)
            return
        for raw, after in _byte_readings(text, pos):
            p, new, last = pending, [], prev
            try:
                for byte in raw:
                    p, piece = _pair(p, byte, last)
                    last = byte
                    if piece is not None:
                        if (
                            isinstance(piece, str)
                            and not piece.isascii()
                            and lex.char_freq(lex.plain_char(piece)) < MIN_CANDIDATE_FREQ
                        ):
                            raise _Dead  # still out of phase: 佗, á
                        new.append(piece)
            except _Dead:
                continue
            walk(after, p, last, pieces + new, gaps)

    walk(start, None, left_byte, [], 0)
    return found


# ---------------------------------------------------------------------------------------------
# Filling the slots.


@dataclass
class _Document:
    """What the document itself says: its script, whether NFKC folded its punctuation, and its
    character bigrams and trigrams (plain form) for the cache bonus."""

    traditional: bool
    folds_width: bool
    ngrams: frozenset[str]

    @classmethod
    def of(cls, text: str, lex: _Lexicon) -> _Document:
        chars = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}
        trad = sum(lex.is_traditional_only(ch) for ch in chars)
        simp = sum(lex.is_simplified_only(ch) for ch in chars)
        folds_width = not any("\uff01" <= ch <= "\uff5e" for ch in text)
        plain = lex.plain(_ANNOTATION.sub("", text))
        ngrams = {plain[i : i + n] for n in (2, 3) for i in range(len(plain) - n + 1)}
        ngrams = frozenset(g for g in ngrams if not any(c.isspace() or c in LOST for c in g))
        return cls(trad > simp, folds_width, ngrams)

    def script_penalty(self, ch: str, lex: _Lexicon) -> float:
        wrong = lex.is_simplified_only(ch) if self.traditional else lex.is_traditional_only(ch)
        return SCRIPT_PENALTY if wrong else 0.0

    def seen(self, head: str, ch: str, following: str) -> float:
        """Bonus for the n-grams around `ch` that the document also uses elsewhere."""
        grams = [head[-1:] + ch, head[-2:] + ch]
        if following:
            grams += [ch + following[:1], ch + following[:2], head[-1:] + ch + following[:1]]
        return CACHE_BONUS * sum(len(g) > 1 and g in self.ngrams for g in set(grams))


def _slot_bonus(slot: _Slot, ch: str, doc: _Document, lex: _Lexicon) -> float:
    return (HINT_BONUS if slot.matches_hint(ch) else 0.0) - doc.script_penalty(ch, lex)


def _options(slot: _Slot, doc: _Document, lex: _Lexicon) -> list[tuple[str, str, float]]:
    """(character, plain form, bonus) for each candidate of a slot."""
    if slot.first is not None:
        chars = _chars_with_lead(slot.first)
    elif slot.second is not None:
        chars = _chars_with_trail(slot.second)
    else:
        chars = _chars_reading(slot.hint)
    options = []
    for ch in chars:
        plain = lex.plain_char(ch)
        if lex.char_freq(plain) >= MIN_CANDIDATE_FREQ or slot.matches_hint(ch):
            options.append((ch, plain, _slot_bonus(slot, ch, doc, lex)))
    return options


def _following(pieces: list, k: int, tail: str, lex: _Lexicon) -> str:
    """Known characters after slot k: up to the next slot, or on into the right context."""
    following = ""
    for nxt in pieces[k + 1 :]:
        if not isinstance(nxt, str):
            return lex.plain(following)[:CONTEXT_CHARS]
        following += nxt
    return (lex.plain(following) + tail)[:CONTEXT_CHARS]


@dataclass
class _Choice:
    chars: list[str]  # one character per piece of the parse
    score: float
    parse: _Parse

    @property
    def text(self) -> str:
        return "".join(self.chars)


def _score(parse: _Parse, chars: list[str], left: str, tail: str, doc: _Document, lex: _Lexicon) -> float:
    """Language score of the run's characters in context, plus hint, script and cache bonuses."""
    plain = [lex.plain_char(ch) for ch in chars]
    whole = left + "".join(plain) + tail
    score = lex.logprob(whole)
    for k, piece in enumerate(parse.pieces):
        if isinstance(piece, _Slot):
            i = len(left) + k
            score += _slot_bonus(piece, chars[k], doc, lex) + doc.seen(whole[:i], plain[k], whole[i + 1 :])
    return score


def _fill(parse: _Parse, left: str, tail: str, doc: _Document, lex: _Lexicon) -> list[_Choice]:
    """Beam search over the slots of one parse (`left` and `tail` are plain context); returns the
    final beam, rescored as a whole."""
    beams: list[tuple[list[str], str, float]] = [([], "", 0.0)]  # (chars, plain text, bonuses)
    pieces = parse.pieces
    for k, piece in enumerate(pieces):
        if isinstance(piece, str):
            beams = [(t + [piece], s + lex.plain_char(piece), b) for t, s, b in beams]
            continue
        following = _following(pieces, k, tail, lex)
        options = _options(piece, doc, lex)
        scored = []
        for t, s, b in beams:
            head = (left + s)[-CONTEXT_CHARS - 2 :]
            for ch, plain, bonus in options:
                bonus += b + doc.seen(head, plain, following)
                scored.append((lex.logprob(head + plain + following) + bonus, t + [ch], s + plain, bonus))
        if not scored:
            return []
        scored.sort(key=lambda x: x[0], reverse=True)
        next_known = k + 1 >= len(pieces) or isinstance(pieces[k + 1], str)
        beams = [(t, s, b) for _, t, s, b in scored[: BEAM_WIDTH if next_known else WIDE_BEAM_WIDTH]]
    return [_Choice(t, _score(parse, t, left, tail, doc, lex), parse) for t, _, _ in beams]


def _guessed_slots(
    best: _Choice, rivals: list[_Choice], left: str, tail: str, doc: _Document, lex: _Lexicon
) -> set[int]:
    """Slots whose character is a guess: another filling of the same parse scores within
    MIN_MARGIN of the best one, changing that slot alone (运用/运营 总监) or with others (陌生/景色).
    Their characters are left out rather than invented."""
    plain = [lex.plain_char(ch) for ch in best.chars]
    slots = [k for k, piece in enumerate(best.parse.pieces) if isinstance(piece, _Slot)]
    guessed = set()
    for rival in rivals:
        if rival.parse is best.parse and rival.score > best.score - MIN_MARGIN:
            guessed |= {k for k in slots if lex.plain_char(rival.chars[k]) != plain[k]}
    for k in slots:
        if k in guessed:
            continue
        for ch, alt, _ in _options(best.parse.pieces[k], doc, lex):
            if alt != plain[k]:
                other = best.chars[:k] + [ch] + best.chars[k + 1 :]
                if _score(best.parse, other, left, tail, doc, lex) > best.score - MIN_MARGIN:
                    guessed.add(k)
                    break
    return guessed


# ---------------------------------------------------------------------------------------------
# Deciding each run.


def _context_left(out: str, lex: _Lexicon) -> tuple[str, int | None]:
    """Plain left context (annotations removed) and the last byte of the character before the run."""
    left = _ANNOTATION.sub("", out[-4 * CONTEXT_CHARS - 20 :]).rsplit("\n", 1)[-1][-CONTEXT_CHARS:]
    last_byte = None
    if left:
        try:
            last_byte = left[-1].encode("gbk")[-1]
        except UnicodeEncodeError:
            pass
    return lex.plain(left), last_byte


def _context_right(text: str, pos: int, lex: _Lexicon) -> str:
    right = _ANNOTATION.sub("", text[pos : pos + 4 * CONTEXT_CHARS + 20]).split("\n", 1)[0]
    return lex.plain(right[:CONTEXT_CHARS])


def _raw(text: str, start: int, end: int, lex: _Lexicon) -> str:
    """The damaged text as read, plain, without the pinyin hints."""
    return lex.plain(_HINT.sub("", text[start:end]))


def _garbage_extent(text: str, start: int, lex: _Lexicon) -> int:
    """Where an unparseable run ends: through `?`s (with their hints) and rare characters, until
    three common CJK characters follow in a row. ASCII and annotations count for neither."""
    pos = end = start
    common = 0
    while pos < len(text) and text[pos] != "\n" and common < 3 and pos - start < MAX_RUN_CHARS:
        ch = text[pos]
        if ch in LOST:
            pos = end = _read_hint(text, pos + 1)[1]
            common = 0
            continue
        pos += 1
        if ch.isascii():
            continue
        if ch == "€" or lex.char_freq(lex.plain_char(ch)) < COMMON_CHAR_FREQ:
            end, common = pos, 0
        else:
            common += 1
        m = _ANNOTATION.match(text, pos)
        if m:
            pos = m.end()
    return end


def _looks_damaged(text: str, start: int, end: int, left: str, lex: _Lexicon) -> bool:
    """Evidence that text[start:end] is mojibake, not a question mark: pinyin hung on a `?`, or
    rare characters standing alone."""
    if _HUNG_HINT.search(text, start, end):
        return True
    raw = _raw(text, start, end, lex)
    return len(raw) > 1 and lex.implausible(left + raw, len(left), len(left) + len(raw)) >= 1


def _starts_run(text: str, i: int) -> bool:
    """A `?` followed by something other than space or plain ASCII text: worth an attempt."""
    nxt = text[i + 1 : i + 2]
    if not nxt or nxt.isspace():
        return False
    if _HINT.match(text, i + 1):
        return True
    if nxt in LOST:  # `??`: a whole character lost, when followed by text
        after = text[i + 2 : i + 3]
        return bool(after) and not after.isspace() and after not in LOST
    if nxt.isascii():  # `?!叭`, `?T谕`, `?(13)鄄`: NFKC'd symbols, then out-of-phase text
        m = _FOLDED_RUN.match(text, i + 1)
        after = text[m.end() : m.end() + 1]
        return bool(after) and not after.isascii() and not after.isspace() and after not in TONED + "ü"
    return True


def _fold_width(text: str) -> str:
    """Full-width ASCII variants and the ideographic space as NFKC has them (`，` -> `,`)."""
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if folded != ch and folded.isascii() else ch)
    return "".join(out)


def _best_repair(
    text: str, start: int, parses: list[_Parse], left: str, doc: _Document, lex: _Lexicon
) -> tuple[str, int, str] | None:
    """The repair of the run at `start` as (verdict, end, replacement), or None when no reading is
    plausible and better than the damaged text. Fillers that are guesses are left out; when two
    readings of the bytes are about as good, the whole run is a guess and is dropped."""
    far = max(p.end for p in parses)
    right = _context_right(text, far, lex)
    choices = [c for p in parses for c in _fill(p, left, _raw(text, p.end, far, lex) + right, doc, lex)]
    if not choices:
        return None
    best = max(choices, key=lambda c: c.score)
    fixed = _fold_width(best.text) if doc.folds_width else best.text
    plain = lex.plain(fixed)
    between = _raw(text, best.parse.end, far, lex)
    plausible = (
        not any(ch in LOST for ch in fixed)
        and lex.implausible(left + plain + between, len(left), len(left) + len(plain)) == 0
    )
    better = lex.logprob(left + plain + between + right) > lex.logprob(left + _raw(text, start, far, lex) + right)
    if not (plausible and better):
        return None
    end = best.parse.end
    rival = max(
        (c.score for c in choices if c.parse is not best.parse and lex.plain(c.text) != plain), default=-math.inf
    )
    if best.score - rival < MIN_MARGIN:
        return "dropped", max(end, _garbage_extent(text, start, lex)), ""
    guessed = _guessed_slots(best, choices, left, between + right, doc, lex)
    kept = "".join(ch for k, ch in enumerate(best.chars) if k not in guessed)
    kept = _fold_width(kept) if doc.folds_width else kept
    return ("repaired" if kept else "dropped"), end, kept


def _repair_run(text: str, start: int, out: str, doc: _Document, lex: _Lexicon) -> tuple[str, int, str | None]:
    """One run from the `?` at `start`: (verdict, end, replacement); verdict is 'repaired',
    'dropped' or 'kept' (a question mark: it stays and nothing else is consumed)."""
    left, left_byte = _context_left(out, lex)
    parses = _parses(text, start, left_byte, lex)
    repair = _best_repair(text, start, parses, left, doc, lex) if parses else None
    if repair:
        return repair
    end = _garbage_extent(text, start, lex)
    if _looks_damaged(text, start, end, left, lex):
        return "dropped", end, ""
    return "kept", start + 1, None


def repair_gbk_mojibake(text: str) -> tuple[str, int, int]:
    """Repair GBK lost-byte mojibake; returns (text, runs_repaired, runs_dropped).

    Run it before pinyin annotations are stripped (see the module docstring for the model).
    Text without a `?` or U+FFFD comes back unchanged without loading any dictionary.
    """
    starts = [i for i, ch in enumerate(text) if ch in LOST and _starts_run(text, i)]
    if not starts:
        return text, 0, 0
    lex = _lexicon()
    doc = _Document.of(text, lex)
    out: list[str] = []
    pos = repaired = dropped = 0
    for start in starts:
        if start < pos:
            continue
        out.append(text[pos:start])
        verdict, end, replacement = _repair_run(text, start, "".join(out[-3:]), doc, lex)
        if verdict == "kept":
            out.append(text[start])
        else:
            out.append(replacement)
            repaired += verdict == "repaired"
            dropped += verdict == "dropped"
        pos = end
    out.append(text[pos:])
    return "".join(out), repaired, dropped
