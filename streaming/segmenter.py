"""Incremental text segmenter: cuts streamed LLM text into speakable segments for TTS.

This module owns *where* streamed text is cut (pure Python, stdlib only, no Django).
A boundary is decided only once enough lookahead has arrived, and every decision is a
pure function of the text since the previous cut, so any split of the input into
deltas yields exactly the same segments as feeding it whole.

Rules (see also tests/test_segmenter.py, and tests/segmenter_corpus.py for the conformance
corpus they are scored on):

* The first segment is cut early, at the first clause boundary (``, ; :``, spaced
  ``-``/``–`` or ``—``) once it holds ``first_min_words`` words, or at any sentence end;
  when neither comes by ``first_max_words`` + 2 words (0: never), at a clause boundary
  before them, else before the first word from the ``first_min_words``-th on that starts
  a phrase ("and", "over", "the"), else after the ``first_max_words``-th word or a later
  one: never after a number, an article, a preposition, a conjunction or
  a possessive (they belong with what follows), nor between two capitalised words (a
  name). It cannot tell a compound noun ("voice | assistant") from two phrases.
* Later segments are sentences; a pending segment shorter than ``min_chars`` is merged
  with the next one unless that would exceed ``max_chars``. A unit reaching
  ``max_chars`` is force-cut at its last clause boundary (if at least ``min_chars`` in),
  else at its last whitespace; a single token longer than that is never split.
* ``. ! ? … ...`` (plus closing quotes/brackets/markdown emphasis) end a sentence only
  when followed by whitespace and then a non-lowercase character. A ``.`` is not a
  sentence end after an abbreviation (case-insensitive, *including* ``etc.`` and
  ``Inc.`` even before a capital: we prefer not cutting), a single capital initial or a
  dotted acronym (``a.m``, ``U.S``, ``Ph.D``) unless a word that starts sentences and
  never a name follows ("vitamin C. They", "in the U.S. How", not "U.S. Army", nor "6
  p.m. I": "I" is both; ``e.g.``/``i.e.`` never end one), ``No./N°./Fig./p./Jan./ft.``
  and the like before a number ("Eq. (3)"), or a list item marker (``1.``-``999.``,
  ``a.``, ``iv.``, ``2.)``) that opens a list: first in the unit (after markup or a
  bullet: "• 9."), a first item after a colon ("Steps: 1. Mix"), numbering a one-word
  label ("**Step 1.**"), or the next marker of a list the unit opened. Other numbers
  (years, prices, ``42.``) do end sentences; ``3.14``, ``10:30`` and ``1,000`` never
  contain a boundary (no whitespace after the mark).
* Inline lists: in a unit that opened a list, the next marker (``2.``, ``b)``, ``(c)``,
  ``iii.``, ``•``) starts a new segment, cut before it, unless the item before it is
  empty or ends in a word like "and"/"or" ("1. The first item | 2. The second item";
  "choices: (a) now, or (b) later" is one). Never a cut between a marker and its item.
* Ellipses: a spaced ``. . .`` is one mark. An ellipsis does not end a sentence before
  the pronoun ``I`` ("Well... I think so"), inside an open quotation ('"I... Never
  mind," she said'), as an omission ``[...]``/``(...)``, nor when spaced with only three
  dots (``. . . .`` ends one).
* A sentence end before a closing quote is none when a speech attribution follows: up
  to three capitalised words (a name, a pronoun) or a determiner and a noun, then a
  speech verb ('"Stop!" John shouted.', '"Run!" The guard shouted.').
* Missing space ("end.Next"): a cut when the left token is a plain lowercase word of
  2+ letters (not an abbreviation, not ``www``) or a year ("in 2019.The"), or before
  ``? !`` a plain word ("Really?Yes"), and the right token is a capitalised word with
  nothing word-like after it that is not a common TLD/file extension ("example.Com" is
  not cut); never inside a code span ("`config.Debug`").
* A blank line is always a boundary; so is a single newline before a list item,
  bullet, heading, quote or table line, after a heading, or after a list item's line
  before an unindented capitalised one ("- milk\nThat's all."). Such boundaries are
  never merged across. Markdown is kept verbatim.

Segments are stripped and never empty; no character is lost or duplicated. Joining
them with spaces reproduces the whitespace-normalised input, except that a cut made
without whitespace ("end.|Next", "word—|word") gains a space there.
"""
from __future__ import annotations

import re

_BULLETS = "\u2022\u2023\u2043\u25e6\u25aa"  # • ‣ ⁃ ◦ ▪
_CANDIDATE_RE = re.compile(rf"[.!?\u2026,;:\n\-\u2013\u2014){_BULLETS}]")
# A run of sentence marks; dots spaced by one blank (". . .", "word. . . .") are one run,
# but not a dot that starts a word (". .NET").
_RUN_RE = re.compile(
    r"[.!?\u2026]+(?:[ \u00a0][.\u2026]+(?![^\s\"'\u201d\u2019\u00bb)\]}*_`]))*"
)
_NONSPACE_RE = re.compile(r"\S")
_SPACE_RE = re.compile(r"\s")
_LAST_SPACE_RE = re.compile(r".*\s", re.DOTALL)
_ALNUM_RE = re.compile(r"[^\W_]")
_WORD_RE = re.compile(r"\S*[^\W_]\S*")
_LOWER_WORD_RE = re.compile(r"[a-z]{2,}")
_PLAIN_WORD_RE = re.compile(r"[A-Za-z][a-z]+")
_YEAR_RE = re.compile(r"1\d{3}|20\d{2}")
_RIGHT_WORD_RE = re.compile(r"([A-Z][a-z]*)(?:['\u2019][a-z]+)?[^\w/@]*")
_INITIALS_RE = re.compile(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]")
# A list item marker: "1.", "2)", "3.)", "(4)", "a.", "B)", "iv.", "• 9." or "⁃10."
_ITEM = r"(?:\d{1,3}|[A-Za-z]|[ivx]{2,6}|[IVX]{2,6})"
_ITEM_MARKER_RE = re.compile(rf"[{_BULLETS}]?(\(?)({_ITEM})(\.\)|[.)])")
_ANY_ITEM_MARKER_RE = re.compile(rf"(?<!\S)[{_BULLETS}]?\(?{_ITEM}(?:\.\)|[.)])(?!\S)")
_ROMAN = {
    numeral: value for value, numeral in enumerate(
        (f"{tens}{ones}" for tens in ("", "x", "xx", "xxx") for ones in
         ("", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix")), start=0) if numeral
}
_LEAD_MARKUP_RE = re.compile(rf"[\s#*+>_`\-{_BULLETS}]*")
_LABEL_RE = re.compile(rf"[\s#*+>_`\-{_BULLETS}]*([A-Z][a-z]+)\s+")
_HEADING_RE = re.compile(r"#{1,6}\s")
_MARKER_RE = re.compile(rf"(?:[-*+>|{_BULLETS}]|\(?{_ITEM}(?:\.\)|[.)])|#{{1,6}})[ \t]")
_MARKER_PARTIAL_RE = re.compile(rf"[-*+>|{_BULLETS}]|\(?{_ITEM}?(?:\.\)?|\))?|#{{1,6}}")

_CLOSERS = "\"'\u201d\u2019\u00bb)]}*_`"
_OPENERS = "\"'\u201c\u2018\u00ab([{*_`"
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "gen", "col", "capt", "lt",
    "sgt", "gov", "sen", "rep", "st", "mt", "jr", "sr", "vs", "etc", "inc", "ltd", "co",
    "corp", "approx", "cf", "al", "dept", "ph.d", "ave", "blvd", "bros", "messrs", "mme",
    "mlle", "pres", "supt", "univ", "assn", "esq", "fr",
})
# Abbreviations only before a number ("No. 5", "N°. 1026", "Jan. 5", "6 ft. 2 in.", "Eq. (3)")
_NUMBER_ABBREVIATIONS = frozenset({
    "no", "nos", "n\u00b0", "n\u00ba", "nr", "num", "fig", "figs", "vol", "vols", "p", "pp",
    "ch", "chap", "sec", "art", "eq", "eqs", "ca", "c", "est", "ed", "eds", "ref", "para",
    "pt", "ex", "tel", "ext", "op", "apt", "rm", "bldg", "ft", "lb", "lbs", "oz", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
_TLDS = frozenset({
    "com", "org", "net", "io", "dev", "ai", "co", "uk", "edu", "gov", "info", "app",
    "html", "htm", "php", "js", "py", "md", "txt", "json", "pdf", "xml",
})

# Words that belong with the next one: a forced first cut never falls after them.
_NO_CUT_AFTER = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its",
    "our", "their", "some", "any", "no", "every", "each", "of", "to", "in", "on", "at",
    "by", "for", "with", "from", "into", "onto", "about", "over", "under", "after",
    "before", "between", "through", "during", "without", "within", "around", "near",
    "and", "or", "but", "nor", "so", "than", "as", "if", "because", "very", "not",
    "mr", "mrs", "ms", "dr", "st", "prof",
})
# Words that start a phrase: the forced first cut prefers to fall just before one.
_PHRASE_STARTERS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into",
    "about", "over", "under", "after", "before", "between", "through", "during", "without",
    "and", "or", "but", "so", "because", "which", "who", "that", "when", "where", "while",
    "if",
})
_NEVER_FINAL = frozenset({"e.g", "i.e", "a.k.a", "c.f", "n.b"})  # never end a sentence
# Function words that start sentences and never continue a name or a label: after a
# capital initial or a dotted acronym ("vitamin C. They", "the U.S. How") they begin a
# new sentence. Not "I" ("At 6 p.m. I left" is one sentence) nor "A" (an initial too).
_STARTERS = frozenset({
    "the", "this", "that", "these", "those", "there", "then", "they", "their", "it", "its",
    "we", "our", "he", "his", "she", "her", "you", "your", "my", "but", "and", "so", "yet",
    "however", "how", "what", "when", "where", "why", "who", "which", "if", "is", "are",
    "was", "were", "do", "does", "did", "can", "would", "should", "could", "let",
    "please", "also", "now", "many", "most", "some", "all", "each", "every", "both", "after",
    "before", "since", "while", "once", "here", "today", "yes", "no", "thanks", "not",
})
_SPEECH_VERBS = frozenset({
    "said", "says", "asked", "asks", "replied", "replies", "shouted", "shouts", "cried",
    "whispered", "yelled", "called", "added", "answered", "muttered", "murmured", "exclaimed",
    "continued", "insisted", "explained", "screamed", "sighed", "snapped", "admitted", "wrote",
    "told", "laughed", "groaned", "protested", "demanded", "warned", "agreed", "repeated",
    "shrieked", "gasped", "hissed", "growled", "barked", "pleaded", "begged", "stammered",
    "announced", "declared", "observed", "noted", "remarked", "suggested", "urged", "mumbled",
    "roared", "retorted", "responded", "joked", "teased", "sobbed", "boomed",
})
_DETERMINERS = frozenset({"the", "a", "an", "his", "her", "their", "my", "our", "your"})
_QUOTES = "\"'\u201d\u2019\u00bb"
_NAME_RE = re.compile(r"[A-Z][a-z]+(?:['\u2019]s)?")
_FIRST_WINDOW = 3  # words at which the forced first cut may fall: the n-th and two more
_TRIM = _OPENERS + _CLOSERS + ".,;:!?"

_MAX_TOKEN = 64  # longest token looked at around a period
_MAX_GAP = 64  # a whitespace run this long after a mark or newline is a hard boundary
_HUGE_GAP = -2
_NEED = ("need", 0, False)  # not decidable until more text arrives
_Decision = tuple[str, int, bool]  # (kind, position, hard)


class Segmenter:
    """Feed text deltas, get back speakable segments; ``flush()`` at end of input."""

    def __init__(
        self, *, first_min_words: int = 4, first_max_words: int = 0, min_chars: int = 40,
        max_chars: int = 250,
    ) -> None:
        """Configure the early first cut and the merge/split lengths."""
        self._first_min = first_min_words
        self._first_max = max(first_max_words, first_min_words) if first_max_words else 0
        self._min = min_chars
        self._max = max(max_chars, 2)
        self._reset()

    def _reset(self) -> None:
        self._buf = ""  # unconsumed text, always starting at a non-space char
        self._pos = 0  # next index of _buf to scan for candidates
        self._clause_end = 0  # end of the last clause boundary seen in the unit
        self._pending = ""  # short segment waiting to be merged with the next
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add a delta; return the segments it completed (maybe none)."""
        self._buf += delta if self._buf else delta.lstrip()
        return self._scan(final=False)

    def flush(self) -> list[str]:
        """End of input: return all remaining text as segments and reset."""
        out = self._scan(final=True)
        self._push(self._buf, True, out)
        if self._pending:
            out.append(self._pending)
        self._reset()
        return out

    # -- scanning -------------------------------------------------------------------

    def _scan(self, final: bool) -> list[str]:
        out: list[str] = []
        while self._buf:
            buf, limit = self._buf, self._max
            m = _CANDIDATE_RE.search(buf, self._pos)
            j = m.start() if m else len(buf)
            if self._first and self._first_max:
                end = self._forced_first_end(min(j, limit))
                if end is not None:
                    self._cut(end, False, out)
                    continue
            if j >= limit and len(buf) > limit:
                end = self._forced_end()
                if end is None:
                    break
                self._cut(end, False, out)
                continue
            if m is None:
                self._pos = len(buf)
                break
            kind, pos, hard = self._decide(j, final)
            if kind == "need":
                self._pos = j
                break
            if kind == "cut" or (
                kind == "clause" and self._first and self._words(pos) >= self._first_min
            ):
                self._cut(pos, hard, out)
                continue
            if kind == "clause":
                self._clause_end = pos
            self._pos = pos
        return out

    def _cut(self, end: int, hard: bool, out: list[str]) -> None:
        unit = self._buf[:end]
        self._buf = self._buf[end:].lstrip()
        self._pos = self._clause_end = 0
        self._push(unit, hard, out)

    def _push(self, unit: str, hard: bool, out: list[str]) -> None:
        """Merge a finished unit into the pending segment; emit what is complete."""
        unit = unit.strip()
        if not unit:
            return
        if self._first:
            self._first = False
            out.append(unit)
            return
        if self._pending and len(self._pending) + 1 + len(unit) > self._max:
            out.append(self._pending)
            self._pending = ""
        self._pending = f"{self._pending} {unit}" if self._pending else unit
        if hard or len(self._pending) >= self._min:
            out.append(self._pending)
            self._pending = ""

    def _forced_end(self) -> int | None:
        """Where to cut a unit that reached ``max_chars`` (None: wait for whitespace)."""
        buf, limit = self._buf, self._max
        if self._clause_end and self._clause_end >= self._min:  # (min_chars 0: no cut at 0)
            return self._clause_end
        last_space = _LAST_SPACE_RE.match(buf, 1, limit + 1)
        if last_space:
            return last_space.end() - 1
        m = _SPACE_RE.search(buf, max(limit, self._pos))
        if m:
            return m.start()
        self._pos = len(buf)
        return None

    def _forced_first_end(self, limit: int) -> int | None:
        """Where the first segment is cut when no clause boundary came before ``limit``
        (the next undecided mark, or ``max_chars``), or None (not yet): at a clause
        boundary if there was one; else before the first word to start a phrase ("and",
        "over", "the") from the ``first_min_words``-th word to two after the
        ``first_max_words``-th; else after the first of those from the
        ``first_max_words``-th on that may end a phrase."""
        words = list(_WORD_RE.finditer(self._buf, 0, limit))
        known = len(words)
        if words and words[-1].end() == limit == len(self._buf):
            known -= 1  # the last word may go on
        first = self._first_max - 1
        if known < first + _FIRST_WINDOW + 1:
            return None
        if self._clause_end:
            return self._clause_end  # a clause too short for an early cut, but a clause
        earliest = max(self._first_min - 1, 0)
        ends = [(k, words[k].end(), words[k + 1].group().strip(_TRIM).lower())
                for k in range(earliest, known - 1)
                if self._may_end_phrase(words[k], words[k + 1])]
        for k, end, following in ends:
            if k >= first + _FIRST_WINDOW:
                break
            if following in _PHRASE_STARTERS:
                return end
        return next((end for k, end, _ in ends if k >= first), None)

    @staticmethod
    def _may_end_phrase(word: re.Match, following: re.Match) -> bool:
        """Not a number, not a word that belongs with the next, not inside a name."""
        text = word.group()
        return not (any(c.isdigit() for c in text) or text.strip(_TRIM).lower() in _NO_CUT_AFTER
                    or (text.lstrip(_OPENERS)[:1].isupper()
                        and following.group().lstrip(_OPENERS)[:1].isupper()))

    def _words(self, end: int) -> int:
        return len(_WORD_RE.findall(self._buf, 0, end))

    # -- decisions: each looks only at _buf (the current unit plus lookahead) --------

    def _decide(self, j: int, final: bool) -> _Decision:
        ch = self._buf[j]
        if ch == "\n":
            return self._decide_newline(j, final)
        if ch in ",;:":
            return self._decide_clause(j, final)
        if ch in "-\u2013\u2014":
            return self._decide_dash(j, final)
        if ch == ")":
            return self._decide_paren(j, final)
        if ch in _BULLETS:
            return self._decide_bullet(j, final)
        return self._decide_terminator(j, final)

    def _miss(self, final: bool) -> _Decision:
        """Lookahead ran off the buffer: wait, or at end of input, no cut here."""
        return ("skip", len(self._buf), False) if final else _NEED

    def _decide_newline(self, j: int, final: bool) -> _Decision:
        n = self._next_nonspace(j)
        if n == _HUGE_GAP:
            return ("cut", j, True)
        if n < 0:
            return self._miss(final)
        hard = self._gap_hard(j, n, final)
        if hard is None:
            return _NEED
        return ("cut", j, True) if hard else ("skip", n, False)

    def _decide_clause(self, j: int, final: bool) -> _Decision:
        buf = self._buf
        c = self._skip_closers(j + 1)
        if c == len(buf):
            return self._miss(final)
        if not buf[c].isspace() or not _ALNUM_RE.search(buf, 0, j):
            return ("skip", j + 1, False)
        return ("clause", c, False)

    def _decide_dash(self, j: int, final: bool) -> _Decision:
        buf = self._buf
        if buf[j] != "\u2014":  # hyphen / en dash: only when spaced on both sides
            if j == 0 or buf[j - 1] not in " \t":
                return ("skip", j + 1, False)
            if j + 1 == len(buf):
                return self._miss(final)
            if not buf[j + 1].isspace():
                return ("skip", j + 1, False)
        if not _ALNUM_RE.search(buf, 0, j):
            return ("skip", j + 1, False)
        return ("clause", j + 1, False)

    def _decide_terminator(self, j: int, final: bool) -> _Decision:
        buf = self._buf
        run_match = _RUN_RE.match(buf, j)
        e = run_match.end() if run_match else j + 1
        c = self._skip_closers(e)
        if c == len(buf):
            return self._miss(final)
        run = buf[j:e]
        if not buf[c].isspace():
            if run == "." or not run.strip("!?"):
                return self._missing_space(j, e, c, final)
            return ("skip", e, False)
        n = self._next_nonspace(c)
        if n == _HUGE_GAP:
            return ("cut", c, True)
        if n < 0:
            return self._miss(final)
        y = buf[n]
        if run == ".":
            raw, start = self._token_before(j)
            item = self._list_item(raw.lstrip("*_") + buf[j:c].rstrip("*_"), start, e)
            if item is not None:
                return item
        if y.islower():
            return ("skip", e, False)
        if run == ".":
            tok = raw.lstrip(_OPENERS)
            low = tok.lower()
            if low in _NUMBER_ABBREVIATIONS and self._number_at(n) is None:
                return self._miss(final)
            initials = _INITIALS_RE.fullmatch(tok) or low == "ph.d"
            if initials and low not in _NEVER_FINAL:
                starter = self._starter_at(n, final)  # "vitamin C. They", "the U.S. How"
                if starter is None:
                    return _NEED
                if not starter:
                    return ("skip", e, False)
            elif (initials or low in _ABBREVIATIONS
                  or (low in _NUMBER_ABBREVIATIONS and self._number_at(n))):
                return ("skip", e, False)
        elif "!" not in run and "?" not in run:  # an ellipsis
            goes_on = self._ellipsis_goes_on(j, e, c, n)
            if goes_on is None:
                return self._miss(final)
            if goes_on:
                return ("skip", e, False)
        if any(q in _QUOTES for q in buf[e:c]):  # '"Stop!" John shouted.'
            attribution = self._attribution_at(n, final)
            if attribution is None:
                return _NEED
            if attribution:
                return ("skip", c, False)
        hard = self._gap_hard(c, n, final)
        return _NEED if hard is None else ("cut", c, hard)

    def _decide_paren(self, j: int, final: bool) -> _Decision:
        """``)``: the end of an item marker "2)" or "(2)" that may start the next item
        ("2.)" is decided at its period)."""
        buf = self._buf
        if j + 1 == len(buf):
            return self._miss(final)
        raw, start = self._token_before(j + 1)
        if buf[j + 1].isspace() and buf[j - 1 : j] != ".":
            item = self._list_item(raw.lstrip("*_"), start, j + 1)
            if item is not None:
                return item
        return ("skip", j + 1, False)

    def _decide_bullet(self, j: int, final: bool) -> _Decision:
        """An inline bullet ("• one • two") starts the next item of a unit opened by one."""
        buf = self._buf
        if j + 1 == len(buf):
            return self._miss(final)
        if (j and buf[j - 1].isspace() and buf[j + 1] in " \t" and buf[0] == buf[j]
                and self._item_may_end(1, j)):
            return ("cut", j, False)
        return ("skip", j + 1, False)

    # -- list items ---------------------------------------------------------------------

    def _list_item(self, token: str, start: int, e: int) -> _Decision | None:
        """A list item marker ``token`` (at ``start``, scanned up to ``e``) never ends a
        sentence: it opens a list (the unit, or after a colon or a label: "Steps: 1.",
        "Step 1."), or continues one ("1. The first item 2. The second"), where it starts
        the next item: a cut before it. None: not a marker."""
        marker = _parse_marker(token)
        if marker is None:
            return None
        prev_end = self._list_continued(start, marker)
        if prev_end is not None:
            if self._item_may_end(prev_end, start):
                return ("cut", self._item_start(start), False)
            return ("skip", e, False)
        if self._opens_list(start, marker):
            return ("skip", e, False)
        return None

    def _opens_list(self, start: int, marker: tuple[str, set[tuple[str, int]]]) -> bool:
        """Does the marker at ``start`` open a list: first in the unit (after markup or a
        bullet), a first item after a colon ("Steps: 1."), or numbering a label ("**Step
        1.**")?"""
        buf = self._buf
        if _LEAD_MARKUP_RE.fullmatch(buf, 0, start):
            return True
        if buf[:start].rstrip().rstrip("*_`").endswith(":"):
            return any(place == 1 for _, place in marker[1])  # "Steps: 1.", not "Answer: 4."
        label = _LABEL_RE.fullmatch(buf, 0, start)
        return (any(system == "1" for system, _ in marker[1]) and label is not None
                and label[1].lower() not in _STARTERS)  # a number after "Step", not "Then"

    def _list_continued(self, start: int, marker: tuple[str, set[tuple[str, int]]]) -> int | None:
        """If the unit holds a list that the marker at ``start`` continues (the same kind
        of marker, numbered one less, the first one opening the list), the end of the
        previous marker, else None."""
        kind, values = marker
        prev: set[tuple[str, int]] | None = None
        prev_end = 0
        for m in _ANY_ITEM_MARKER_RE.finditer(self._buf, 0, start):
            other = _parse_marker(m.group())
            if other is None or other[0] != kind:
                continue
            if prev is None and not self._opens_list(m.start(), other):
                continue
            if prev is None or _follows(prev, other[1]):
                prev, prev_end = other[1], m.end()
        return prev_end if prev is not None and _follows(prev, values) else None

    def _item_may_end(self, begin: int, end: int) -> bool:
        """Is ``_buf[begin:end]`` an item that may end here (words, not "... and")?"""
        words = _WORD_RE.findall(self._buf, begin, end)
        return bool(words) and words[-1].strip(_TRIM).lower() not in _NO_CUT_AFTER

    def _item_start(self, start: int) -> int:
        """Where the item whose marker is at ``start`` begins: before a lone bullet."""
        buf = self._buf
        i = start
        while i and buf[i - 1].isspace():
            i -= 1
        if i and buf[i - 1] in _BULLETS and (i == 1 or buf[i - 2].isspace()):
            return i - 1
        return start

    def _attribution_at(self, n: int, final: bool) -> bool | None:
        """Does a speech attribution start at ``n``: up to three capitalised words or a
        determiner and a noun, then a speech verb ("John shouted", "Dr. Lee asked", "The
        guard said")? None: need more text."""
        buf = self._buf
        i, determiner = n, False
        for k in range(4):
            m = _SPACE_RE.search(buf, i, i + _MAX_TOKEN)
            if m is None and not final and len(buf) < i + _MAX_TOKEN:
                return None
            end = m.start() if m else len(buf)
            word = buf[i:end]
            if k and word.rstrip(",.!?;:").lower() in _SPEECH_VERBS:
                return True
            name = _NAME_RE.fullmatch(word) or (  # "Dr." too
                word[-1] == "." and word[:-1].lower() in _ABBREVIATIONS and word[0].isupper())
            if m is None or not (name or (determiner and word.isalpha())):
                return False
            determiner = k == 0 and word.lower() in _DETERMINERS
            i = self._next_nonspace(end)
            if i == _HUGE_GAP:
                return False
            if i < 0:
                return False if final else None
        return False

    def _ellipsis_goes_on(self, j: int, e: int, c: int, n: int) -> bool | None:
        """Does the ellipsis ``_buf[j:e]`` (closers up to ``c``, then a word that is not
        lowercase at ``n``) leave its sentence open? None: need the next character."""
        buf = self._buf
        run = buf[j:e]
        if j and buf[j - 1] in "[(" and buf[e] in "])":  # "[...]", "(...)": an omission
            return True
        if (" " in run or "\u00a0" in run) and run.count(".") + 3 * run.count("\u2026") < 4:
            return True  # ". . ." within a sentence (". . . ." ends one)
        if buf.count("\u201c", 0, c) > buf.count("\u201d", 0, c) or buf.count('"', 0, c) % 2:
            return True  # trailing off inside an open quotation: '"I... Never mind," she'
        if buf[n] != "I":
            return False
        if n + 1 == len(buf):
            return None
        return not buf[n + 1].isalpha()  # "Well... I think" (not "It")

    def _missing_space(self, j: int, e: int, c: int, final: bool) -> _Decision:
        """``end.Next``, ``in 2019.The``, ``Really?Yes``: cut after the mark ``_buf[j:e]``
        if both sides look like plain words (and not in a code span)."""
        buf = self._buf
        raw = self._token_before(j)[0]
        left = raw.lstrip(_OPENERS)
        plain = _LOWER_WORD_RE if buf[j] == "." else _PLAIN_WORD_RE
        if (
            c != e
            or not buf[c].isupper()
            or not (plain.fullmatch(left) or (buf[j] == "." and _YEAR_RE.fullmatch(left)))
            or left in _ABBREVIATIONS
            or left == "www"
            or buf.count("`", 0, j) % 2
        ):
            return ("skip", e, False)
        m = _SPACE_RE.search(buf, c, c + _MAX_TOKEN)
        if m is None and len(buf) >= c + _MAX_TOKEN:  # too long to be a word
            return ("skip", e, False)
        if m is None and not final:
            return _NEED
        right = _RIGHT_WORD_RE.fullmatch(buf, c, m.start() if m else len(buf))
        if right is None or right.group(1).lower() in _TLDS:
            return ("skip", e, False)
        return ("cut", c, False)

    # -- small helpers ----------------------------------------------------------------

    def _gap_hard(self, start: int, n: int, final: bool) -> bool | None:
        """Is the whitespace ``_buf[start:n]`` a paragraph/list break? None: need more."""
        buf = self._buf
        newlines = buf.count("\n", start, n)
        if newlines == 0:
            return False
        if newlines >= 2 or _HEADING_RE.match(buf) or _MARKER_RE.match(buf, n):
            return True
        if (_MARKER_RE.match(buf) and buf[n - 1] == "\n" and buf[n].isupper()
                and self._item_may_end(0, start)):
            return True  # a list item's line, then an unindented line: "- milk\nThat's all."
        if not final and _MARKER_PARTIAL_RE.fullmatch(buf, n):
            return None
        return False

    def _starter_at(self, n: int, final: bool) -> bool | None:
        """Is the word at ``n`` one that starts a sentence ("The", "It's", not "I")?"""
        buf = self._buf
        i = n
        while i < len(buf) and buf[i].isalpha() and i - n < 16:
            i += 1
        if i == len(buf) and not final:
            return None
        return buf[n:i].lower() in _STARTERS

    def _number_at(self, n: int) -> bool | None:
        """Does a number start at ``n`` ("5", "(3)", "#4")? None: need the next char."""
        buf = self._buf
        if buf[n] in "(#":
            if n + 1 == len(buf):
                return None
            n += 1
        return buf[n].isdigit()

    def _next_nonspace(self, i: int) -> int:
        """Index of the next non-space char; -1 if none yet; _HUGE_GAP if far away."""
        m = _NONSPACE_RE.search(self._buf, i, i + _MAX_GAP)
        if m:
            return m.start()
        return _HUGE_GAP if len(self._buf) >= i + _MAX_GAP else -1

    def _skip_closers(self, i: int) -> int:
        buf = self._buf
        while i < len(buf) and buf[i] in _CLOSERS:
            i += 1
        return i

    def _token_before(self, j: int) -> tuple[str, int]:
        """The whitespace-delimited token ending at ``j`` and its start index.

        Tokens longer than ``_MAX_TOKEN`` are no word/abbreviation: ``("", -1)``.
        """
        buf = self._buf
        i, lo = j, max(0, j - _MAX_TOKEN)
        while i > lo and not buf[i - 1].isspace():
            i -= 1
        if i == lo > 0 and not buf[i - 1].isspace():
            return "", -1
        return buf[i:j], i


def _parse_marker(token: str) -> tuple[str, set[tuple[str, int]]] | None:
    """``"2."`` -> ``(".", {("1", 2)})``: the marker's kind and its possible places (a
    number, a letter, a roman numeral: "i" is both); None if not a marker."""
    m = _ITEM_MARKER_RE.fullmatch(token)
    if m is None or (m[1] and m[3] != ")"):
        return None
    value = m[2]
    if value.isdigit():
        return m[1] + m[3], {("1", int(value))}
    places = set()
    if len(value) == 1:
        places.add(("a" if value.islower() else "A", ord(value.lower()) - ord("a") + 1))
    if value in (value.lower(), value.upper()) and value.lower() in _ROMAN:
        places.add(("i" if value.islower() else "I", _ROMAN[value.lower()]))
    return (m[1] + m[3], places) if places else None


def _follows(prev: set[tuple[str, int]], places: set[tuple[str, int]]) -> bool:
    """Is a marker at ``places`` the one right after ``prev`` ("2." after "1.")?"""
    return any((system, place - 1) in prev for system, place in places)
