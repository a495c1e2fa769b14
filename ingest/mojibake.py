"""Repair GBK mojibake runs that lost bytes (`?!叭缃馭MC` -> `。“如今SMC`); drop what cannot be repaired.

Call order: run this BEFORE `strip_pinyin_annotations` (and after line-ending / markup cleanup).
The pinyin annotations the damage left around a `?` are evidence: `?(yīng)` says the lost
character reads yīng, an orphan `shù)` inside a run likewise. This function removes the
annotations and fragments it consumed; annotations on ordinary characters are left for the
stripping rule.

The damage model (checked against every run in seed 004)
--------------------------------------------------------
The document was GBK. Somewhere in a stretch of its bytes one byte was replaced by `?`; the rest
was decoded with the GBK/cp936 decoder and then NFKC-normalised. Because GBK characters are two
bytes, every character after the `?` is decoded one byte out of phase, giving rare characters,
until the phase comes back by itself: an ASCII byte is taken as a trail byte (`馭` = f1 53 is
`今`'s trail f1 + the `S` of `SMC`), a lone byte decodes as `€` (0x80) or `?`. So:

* re-encoding the damaged characters as GBK gives back the original bytes;
* an ASCII punctuation mark inside a run is a full-width one (GBK a3 xx) that NFKC folded:
  `!` is ！ = a3 a1, `;` is ； = a3 bb;
* each `?` is one unknown byte (two when a whole character went, three when a byte and the
  annotated character after it went; the wider readings are only tried when a pinyin hint says
  what the lost character is).

Example: 規模化應用 is d2 8e | c4 a3 | bb af | 91 aa | d3 c3; the damaged text `規?;瘧?用` is
d2 8e | ?? | a3 bb (`；`) | af 91 (`瘧`) | ?? | d3 c3. Re-paired: ?? a3 | bb af | 91 ?? -> the
unknowns are chosen so that the result reads best: c4 a3 (模), 91 aa (應, also read yīng).

Algorithm for each `?` that is followed by damaged-looking text
---------------------------------------------------------------
1. Tokenise the characters after it back into bytes (unknown bytes for `?`; pinyin hints kept).
2. Parse the bytes as GBK from the first unknown byte; the run ends at the first character
   boundary the repaired and damaged texts share. Every way of reading the `?`s is a parse.
3. Fill each unknown byte: the candidates are the GBK characters that fit the known half of
   the pair (or, for a lost whole character, the characters with the hinted reading). A beam
   search ranks them with a word unigram model: jieba's dictionary frequencies on the
   character-wise OpenCC t2s form, with the surrounding text as context. A candidate matching
   the pinyin hint gets a bonus; a character of the other script (simplified in a traditional
   document) a penalty.
4. Accept the best repair when every repaired character is plausible (inside a dictionary word,
   a common character, punctuation, ASCII) and it reads better than the damaged text.
   Otherwise, when the damaged text is evidently garbage (rare characters, pinyin fragments),
   the run is dropped: garbage is never indexed. A `?` with ordinary text around it (a question
   mark) is left alone.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["repair_gbk_mojibake"]

LOST = "?\ufffd"                  # what a lost byte became
TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_WORD = rf"[a-zü{TONED}]*[{TONED}][a-zü{TONED}]*"
_ANNOTATION = re.compile(rf"\({_PINYIN_WORD}\)")          # `(xié)` after a character
_HINT = re.compile(rf"\(?({_PINYIN_WORD})\)")             # `(yīng)` or an orphan `shù)`
_PUNCT_LIKE = re.compile(r"[!-/:-@\[-`{-~]")              # ASCII punctuation, i.e. NFKC'd full-width

MAX_RUN_TOKENS = 40        # a run that does not resynchronise within this many characters is unparseable
MAX_PARSES = 12
MAX_GAPS = 4
BEAM_WIDTH = 8
CONTEXT_CHARS = 4          # characters of context on each side for the language score
MAX_WORD_LEN = 8

HINT_BONUS = 8.0           # nats: the lost character has the annotated reading
SCRIPT_PENALTY = 3.0       # nats: 务 in a traditional document where 務 also fits
COMMON_CHAR_FREQ = 300     # a lone character rarer than this (jieba count) is implausible
PUNCT_FREQ = 300_000       # pseudo-count for punctuation, about that of 的
ASCII_FREQ = 10_000
SINGLE_CHAR_PENALTY = 2.0  # nats: the unigram model alone underrates words (政务 vs 误)

_PUNCT = set("。，、；：？！“”‘’（）《》〈〉【】「」『』…—·,.;:?!()\"'%-/")


# ---------------------------------------------------------------------------------------------
# Language model: word unigram over jieba's dictionary, character-wise t2s.


class _Lexicon:
    def __init__(self) -> None:
        import jieba
        from opencc import OpenCC

        jieba.dt.check_initialized()
        self.freq = jieba.dt.FREQ
        self.log_total = math.log(jieba.dt.total)
        self._t2s = OpenCC("t2s")
        self._s2t = OpenCC("s2t")
        self._simple: dict[str, str] = {}
        self._single: dict[str, float] = {}

    def simplified(self, ch: str) -> str:
        s = self._simple.get(ch)
        if s is None:
            s = self._t2s.convert(ch) if ord(ch) > 0x7F else ch
            s = s if len(s) == 1 else ch
            self._simple[ch] = s
        return s

    def simplify(self, text: str) -> str:
        return "".join(self.simplified(ch) for ch in text)

    def is_simplified_only(self, ch: str) -> bool:
        return self._s2t.convert(ch) != ch

    def is_traditional_only(self, ch: str) -> bool:
        return self.simplified(ch) != ch

    def char_freq(self, ch: str) -> int:
        """How common a lone (simplified) character is; punctuation and ASCII get pseudo-counts."""
        if ch in _PUNCT:
            return PUNCT_FREQ
        if ch.isascii() and ch.isalnum():
            return ASCII_FREQ
        return self.freq.get(ch) or 1

    def _single_logp(self, ch: str) -> float:
        lp = self._single.get(ch)
        if lp is None:
            lp = math.log(self.char_freq(ch)) - self.log_total
            if ch not in _PUNCT and not ch.isascii():
                lp -= SINGLE_CHAR_PENALTY       # a character that forms no word with its neighbours
            self._single[ch] = lp
        return lp

    def _best_route(self, s: str) -> tuple[list[float], list[int]]:
        """Max-probability segmentation (jieba's DAG idea): best[i] scores s[i:], nxt[i] its first word end."""
        n = len(s)
        best = [0.0] * (n + 1)
        nxt = list(range(1, n + 2))
        for i in range(n - 1, -1, -1):
            b, e = self._single_logp(s[i]) + best[i + 1], i + 1
            for j in range(i + 2, min(n, i + MAX_WORD_LEN) + 1):
                f = self.freq.get(s[i:j])
                if f is None:          # jieba stores every prefix of a word; no prefix, no longer word
                    break
                if f:
                    lp = math.log(f) - self.log_total + best[j]
                    if lp > b:
                        b, e = lp, j
            best[i], nxt[i] = b, e
        return best, nxt

    def logprob(self, simplified_text: str) -> float:
        return self._best_route(simplified_text)[0][0]

    def implausible(self, simplified_text: str, lo: int, hi: int) -> int:
        """How many characters in [lo, hi) stand alone in the best segmentation and are rare."""
        _, nxt = self._best_route(simplified_text)
        count, i = 0, 0
        while i < len(simplified_text):
            j = nxt[i]
            ch = simplified_text[i]
            if j == i + 1 and lo <= i < hi and not ch.isspace() and self.char_freq(ch) < COMMON_CHAR_FREQ:
                count += 1
            i = j
        return count


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    return _Lexicon()


# ---------------------------------------------------------------------------------------------
# GBK helpers.

_TRAIL_BYTES = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
_LEAD_BYTES = range(0x81, 0xFF)


def _decode_pair(first: int, second: int) -> str | None:
    try:
        ch = bytes((first, second)).decode("gbk")
    except UnicodeDecodeError:
        return None
    return ch if len(ch) == 1 and unicodedata.category(ch) not in ("Co", "Cn", "Cc") else None


@lru_cache(maxsize=None)
def _chars_with_lead(lead: int) -> tuple[str, ...]:
    return tuple(ch for t in _TRAIL_BYTES if (ch := _decode_pair(lead, t)))


@lru_cache(maxsize=None)
def _chars_with_trail(trail: int) -> tuple[str, ...]:
    return tuple(ch for b in _LEAD_BYTES if (ch := _decode_pair(b, trail)))


@lru_cache(maxsize=1)
def _pinyin_table() -> dict[int, list[str]] | None:
    try:
        from pypinyin.pinyin_dict import pinyin_dict
    except ImportError:       # without pypinyin the hints are ignored; repairs rely on the words alone
        return None
    return {cp: readings.split(",") for cp, readings in pinyin_dict.items()}


def _reads(ch: str | None, reading: str) -> bool:
    table = _pinyin_table()
    return bool(ch and table and reading in table.get(ord(ch), ()))


@lru_cache(maxsize=None)
def _chars_reading(reading: str) -> tuple[str, ...]:
    table = _pinyin_table() or {}
    out = []
    for cp, readings in table.items():
        if reading in readings:
            ch = chr(cp)
            try:
                if len(ch.encode("gbk")) == 2:
                    out.append(ch)
            except UnicodeEncodeError:
                pass
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Tokens -> byte cells -> parses.


@dataclass(frozen=True)
class _Gap:
    """A `?`: one or more lost bytes, maybe with the pinyin of the lost character."""
    hint: str | None


@dataclass(frozen=True)
class _Boundary:
    """End of a damaged character at text offset `pos`; the run may end here."""
    pos: int


_DEAD = object()   # a character that cannot be turned back into bytes: the parse stops


@dataclass(frozen=True)
class _Slot:
    """An original character with one or two unknown bytes."""
    first: int | None
    second: int | None
    hint: str | None
    left_byte: int | None      # byte before an unknown first byte (the damaged text paired them)

    def candidates(self) -> tuple[str, ...]:
        if self.first is not None:
            return _chars_with_lead(self.first)
        if self.second is not None:
            return _chars_with_trail(self.second)
        return _chars_reading(self.hint) if self.hint else ()

    def matches_hint(self, ch: str) -> bool:
        if not self.hint:
            return False
        if _reads(ch, self.hint):
            return True
        if self.first is None and self.left_byte is not None:   # the damaged text read left_byte+lost
            lost = ch.encode("gbk")[0]
            return _reads(_decode_pair(self.left_byte, lost), self.hint)
        return False


@dataclass
class _Parse:
    pieces: list            # str (known character) or _Slot
    end: int                # text offset where the run ends
    fullwidth: bool         # an ASCII mark was read as full-width: the document was NFKC'd


def _read_hint(text: str, pos: int) -> tuple[str | None, int]:
    m = _HINT.match(text, pos)
    return (m.group(1), m.end()) if m else (None, pos)


def _cells(text: str, start: int) -> tuple[list, bool]:
    """Bytes (int), gaps and boundaries for the damaged characters from the `?` at `start`."""
    cells: list = []
    fullwidth = False
    pos, tokens = start, 0
    while pos < len(text) and tokens < MAX_RUN_TOKENS and text[pos] != "\n":
        ch = text[pos]
        pos += 1
        if ch in LOST:
            hint, pos = _read_hint(text, pos)
            cells.append(_Gap(hint))
        else:
            if ch == "€":
                cells.append(0x80)
            elif ch.isascii() and (ch == " " or _PUNCT_LIKE.match(ch)):
                cells += [0xA1, 0xA1] if ch == " " else [0xA3, ord(ch) | 0x80]
                fullwidth = True
            else:
                try:
                    cells += list(ch.encode("gbk"))
                except UnicodeEncodeError:
                    cells.append(_DEAD)
            m = _ANNOTATION.match(text, pos)        # annotation on a damaged character: noise
            if m and not ch.isascii():
                pos = m.end()
        cells.append(_Boundary(pos))
        tokens += 1
    return cells, fullwidth


def _gap_widths(gap: _Gap, first: bool) -> tuple[int, ...]:
    """How many bytes a `?` may stand for. At the start of a run: 1 (a lead byte, the text after
    it is out of phase) or 2 (a whole hinted character). Later: 1 (a trail byte), 2 (trail + lead,
    still out of phase) or 3 (trail + a whole hinted character)."""
    if first:
        return (1, 2) if gap.hint else (1,)
    return (1, 2, 3) if gap.hint else (1, 2)


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


def _fill_gap(pending: _Pending | None, width: int, hint: str | None, prev: int | None) -> tuple[_Pending | None, list]:
    """Feed `width` unknown bytes; the hint names the character completed last inside the gap
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
    return pending, pieces


def _parses(cells: list, left_byte: int | None, fullwidth: bool) -> list[_Parse]:
    """Every reading of the gaps that re-pairs the bytes into GBK and comes back into phase."""
    found: list[_Parse] = []

    def walk(i: int, pending: _Pending | None, prev: int | None, pieces: list, gaps: int) -> None:
        if len(found) >= MAX_PARSES or i >= len(cells):
            return
        cell = cells[i]
        if isinstance(cell, _Boundary):
            if pending is None:                       # back in phase: the run ends here
                found.append(_Parse(pieces, cell.pos, fullwidth))
            else:
                walk(i + 1, pending, prev, pieces, gaps)
        elif isinstance(cell, _Gap):
            if gaps < MAX_GAPS:
                for width in _gap_widths(cell, first=(i == 0)):
                    try:
                        p, new = _fill_gap(pending, width, cell.hint, prev)
                    except _Dead:
                        continue
                    walk(i + 1, p, None, pieces + new, gaps + 1)
        elif cell is not _DEAD:
            try:
                p, piece = _pair(pending, cell, prev)
            except _Dead:
                return
            walk(i + 1, p, cell, pieces + [piece] if piece is not None else pieces, gaps)

    walk(0, None, left_byte, [], 0)
    return found


# ---------------------------------------------------------------------------------------------
# Choosing the characters.


@dataclass
class _Choice:
    text: str
    score: float                    # language score + hint/script bonuses
    parse: _Parse = field(repr=False)


def _candidate_bonus(slot: _Slot, ch: str, traditional: bool, lex: _Lexicon) -> float:
    bonus = HINT_BONUS if slot.matches_hint(ch) else 0.0
    wrong_script = lex.is_simplified_only(ch) if traditional else lex.is_traditional_only(ch)
    return bonus - (SCRIPT_PENALTY if wrong_script else 0.0)


def _fill(parse: _Parse, left: str, tail: str, traditional: bool, lex: _Lexicon) -> _Choice | None:
    """Beam search over the slots of one parse; `left`/`tail` are simplified context strings."""
    beams = [("", "", 0.0)]   # (text, simplified text, bonus)
    pieces = parse.pieces
    for k, piece in enumerate(pieces):
        if isinstance(piece, str):
            beams = [(t + piece, s + lex.simplified(piece), b) for t, s, b in beams]
            continue
        following, last_slot = "", True
        for nxt in pieces[k + 1:]:
            if not isinstance(nxt, str):
                last_slot = False
                break
            following += nxt
        following = (lex.simplify(following) + (tail if last_slot else ""))[:CONTEXT_CHARS]
        options = [(ch, lex.simplified(ch), _candidate_bonus(piece, ch, traditional, lex))
                   for ch in piece.candidates()]
        if not options:
            return None
        scored = []
        for t, s, b in beams:
            head = (left + s)[-CONTEXT_CHARS - 2:]
            for ch, sch, cb in options:
                score = lex.logprob(head + sch + following) + b + cb
                scored.append((score, t + ch, s + sch, b + cb))
        scored.sort(key=lambda x: x[0], reverse=True)
        beams = [(t, s, b) for _, t, s, b in scored[:BEAM_WIDTH]]
    best = max(beams, key=lambda tb: lex.logprob(left + tb[1] + tail) + tb[2])
    text, simple, bonus = best
    return _Choice(text, lex.logprob(left + simple + tail) + bonus, parse)


def _strip_annotations(text: str) -> str:
    return _ANNOTATION.sub("", text)


def _context_left(out: str, lex: _Lexicon) -> tuple[str, int | None]:
    left = _strip_annotations(out[-4 * CONTEXT_CHARS - 20:]).rsplit("\n", 1)[-1][-CONTEXT_CHARS:]
    last_byte = None
    if left:
        try:
            last_byte = left[-1].encode("gbk")[-1]
        except UnicodeEncodeError:
            pass
    return lex.simplify(left), last_byte


def _context_right(text: str, pos: int, lex: _Lexicon) -> str:
    right = _strip_annotations(text[pos:pos + 4 * CONTEXT_CHARS + 20]).split("\n", 1)[0]
    return lex.simplify(right[:CONTEXT_CHARS])


def _raw(text: str, start: int, end: int) -> str:
    """The damaged text as read: hints and annotations removed."""
    return _HINT.sub("", text[start:end])


def _heuristic_extent(text: str, start: int, lex: _Lexicon) -> int:
    """End of an unparseable run: `?`s, pinyin fragments, ASCII marks right after a `?`, and rare
    characters, up to the first ordinary character."""
    pos = start
    while pos < len(text):
        ch = text[pos]
        if ch in LOST or ch == "€":
            pos = _read_hint(text, pos + 1)[1]
            if pos < len(text) and text[pos - 1] in LOST and _PUNCT_LIKE.match(text[pos]):
                pos += 1
        elif not ch.isascii() and lex.char_freq(lex.simplified(ch)) < COMMON_CHAR_FREQ:
            pos += 1
            m = _ANNOTATION.match(text, pos)
            pos = m.end() if m else pos
        else:
            break
    return pos


def _looks_damaged(text: str, start: int, end: int, left: str, lex: _Lexicon) -> bool:
    """Evidence that text[start:end] is mojibake rather than a question mark: pinyin hung on a
    `?` or a fragment of one, or rare characters."""
    if _HINT.search(text, start, end):
        return True
    raw = lex.simplify(_raw(text, start, end))
    return lex.implausible(left + raw, len(left), len(left) + len(raw)) >= 1 and len(raw) > 1


def _starts_run(text: str, i: int) -> bool:
    """A `?` followed by something other than space/ASCII text: worth a repair attempt."""
    if text[i] not in LOST:
        return False
    nxt = text[i + 1:i + 2]
    if not nxt or nxt.isspace() or nxt in LOST:
        return False
    if _HINT.match(text, i + 1):
        return True
    if nxt.isascii():
        after = text[i + 2:i + 3]
        return bool(_PUNCT_LIKE.match(nxt)) and nxt not in "()" and bool(after) and not after.isascii()
    return True


@dataclass
class _Outcome:
    end: int
    replacement: str | None     # None: leave the `?` alone


def _repair_run(text: str, start: int, out: str, traditional: bool, lex: _Lexicon) -> tuple[_Outcome, str]:
    """Decide one run starting at the `?` at `start`: 'repaired', 'dropped' or 'kept'."""
    left, left_byte = _context_left(out, lex)
    cells, fullwidth = _cells(text, start)
    parses = _parses(cells, left_byte, fullwidth)
    if not parses:
        end = _heuristic_extent(text, start, lex)
        if end > start + 1 and _looks_damaged(text, start, end, left, lex):
            return _Outcome(end, ""), "dropped"
        return _Outcome(start + 1, None), "kept"

    far = max(p.end for p in parses)
    right = _context_right(text, far, lex)
    choices = []
    for p in parses:
        between = lex.simplify(_raw(text, p.end, far))
        choice = _fill(p, left, between + right, traditional, lex)
        if choice:
            choices.append(choice)
    best = max(choices, key=lambda c: c.score, default=None)

    if best:
        fixed = _nfkc_marks(best.text) if best.parse.fullwidth else best.text
        simple = lex.simplify(fixed)
        between = lex.simplify(_raw(text, best.parse.end, far))
        raw = lex.simplify(_raw(text, start, far))
        plausible = lex.implausible(left + simple + between, len(left), len(left) + len(simple)) == 0
        better = lex.logprob(left + simple + between + right) > lex.logprob(left + raw + right)
        if plausible and better:
            return _Outcome(best.parse.end, fixed), "repaired"

    primary = min(parses, key=lambda p: p.end)
    if _looks_damaged(text, start, primary.end, left, lex):
        return _Outcome(primary.end, ""), "dropped"
    return _Outcome(start + 1, None), "kept"


def _nfkc_marks(text: str) -> str:
    """Full-width ASCII variants back to ASCII, as the damaged document had them (`，` -> `,`)."""
    return "".join(unicodedata.normalize("NFKC", ch) if "\uff01" <= ch <= "\uff5e" or ch == "\u3000" else ch
                   for ch in text)


def _is_traditional(text: str, lex: _Lexicon) -> bool:
    chars = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}
    trad = sum(lex.is_traditional_only(ch) for ch in chars)
    simp = sum(lex.is_simplified_only(ch) for ch in chars)
    return trad > simp


def repair_gbk_mojibake(text: str) -> tuple[str, int, int]:
    """Repair GBK lost-byte mojibake runs; returns (text, runs_repaired, runs_dropped).

    Run this before pinyin annotations are stripped (see the module docstring for the model).
    Text without a `?`/U+FFFD is returned unchanged without loading any dictionary.
    """
    if not any(ch in text for ch in LOST):
        return text, 0, 0
    starts = [i for i in range(len(text)) if _starts_run(text, i)]
    if not starts:
        return text, 0, 0
    lex = _lexicon()
    traditional = _is_traditional(text, lex)
    out: list[str] = []
    pos = repaired = dropped = 0
    for start in starts:
        if start < pos:
            continue
        out.append(text[pos:start])
        outcome, verdict = _repair_run(text, start, "".join(out[-3:]), traditional, lex)
        if verdict == "kept":
            out.append(text[start])
            pos = start + 1
            continue
        out.append(outcome.replacement or "")
        pos = outcome.end
        repaired += verdict == "repaired"
        dropped += verdict == "dropped"
    out.append(text[pos:])
    return "".join(out), repaired, dropped
