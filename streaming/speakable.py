"""Markdown-to-speech text cleanup for the TTS side of a stream.

This module owns :func:`to_speakable`, which turns one segment of an LLM's markdown answer
into the plain words a TTS engine should read aloud (the page keeps showing the original),
and :class:`SpeakableFilter`, the same cleanup with code-fence state carried across the
segments of one answer. Stdlib only, no Django; all regexes are compiled at import time
because this runs once per segment on the hot path.

Choices made here:

* Code fences are dropped entirely, fence lines included. Segments are cut from a stream,
  so a stateless call guesses: an unmatched fence drops everything from it to the end,
  except that a segment *ending* in an unmatched bare fence (the usual cut right after a
  closing fence) is taken as the tail of a code block and dropped up to that fence, so
  a segment that is only a closing fence gives ``""``. Code lines of a block whose
  fences are in other segments cannot be recognised without state: that is what
  :class:`SpeakableFilter` (one per answer) is for.
* Inline code keeps its text. ``snake_case`` is read as "snake case" (underscores inside
  words become spaces); ``~~struck~~`` text is kept like other emphasis.
* Numbered-list markers become ``"1, "`` so the count is still heard. Headings, list
  items, table rows and paragraphs get a closing period when they have no end
  punctuation, so the voice pauses between them. Table cells are joined with ``", "``.
* Links read their text, images their alt text, bare URLs their domain.
* Emoji and other pictographic symbols are dropped; common symbols become words.
"""
from __future__ import annotations

import re
import unicodedata

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")

# Block-level (per line) patterns.
_RULE_LINE = re.compile(r"^(?:[-*_][ \t]*){3,}$|^={3,}$")
_TABLE_SEP = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$")
_LINK_DEF = re.compile(r"^\[[^\]]+\]:\s*\S+")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?$")
_QUOTE = re.compile(r"^(?:>[ \t]?)+")
_BULLET = re.compile(r"^[-*+•][ \t]+(?:\[[ xX]\][ \t]+)?")
_NUMBERED = re.compile(r"^(\d{1,3})[.)][ \t]+")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_END_PUNCT = re.compile(r"[.!?:;,…][\"'”’)\]]*$")

# Inline patterns, applied in this order.
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_AUTOLINK = re.compile(r"<((?:https?://|www\.)[^>\s]+)>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|nbsp|#39);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " ",
             "#39": "'"}
_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_FOOTNOTE = re.compile(r"\[\^[^\]]*\]")
_URL = re.compile(
    r"\b(?:https?://(?:www\.)?|www\.)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?"
    r"(?:[/?#][^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"])?/?", re.IGNORECASE)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_STRONG = re.compile(r"(\*\*|__)(?=[^\s*_])(.+?)(?<=[^\s*_])\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w])")
_TIMES = re.compile(r"(?<=\d)\s*\*\s*(?=\d)")
_INNER_UNDERSCORE = re.compile(r"(?<=[^\W_])_+(?=[^\W_])")
_ARROW = re.compile(r"\s*(?:-+>|=>|[→⇒⟶⟹➔➜➡]\ufe0f?)\s*")
_DEGREES = re.compile(r"\s*(?:°|º)\s*([CF])\b|\s*([℃℉])|\s*°")
_PERCENT = re.compile(r"\s*%")
_ABOUT = re.compile(r"(?:~|≈)\s*(?=[-+$€£]?\d)")
_COMPARE = re.compile(r"\s*(!=|≠|<=|≤|>=|≥|={1,3})\s*|\s+([<>])\s+")
_COMPARE_WORDS = {"!=": "is not equal to", "≠": "is not equal to", "<=": "less than or equal to",
                  "≤": "less than or equal to", ">=": "greater than or equal to",
                  "≥": "greater than or equal to", "<": "less than", ">": "greater than"}
_MINUS = re.compile(r"(?<![\w.])[-−](?=\d)")
_POWER = re.compile(r"(?<=\d)\s*\^\s*(?=\d)")
_NUMBER_SIGN = re.compile(r"#(?=\d)")
_WORD_SYMBOLS = {"&": " and ", "+": " plus ", "×": " times ", "÷": " divided by ", "|": ", ",
                 "•": ", ", "−": " minus "}
_SYMBOL = re.compile("|".join(map(re.escape, _WORD_SYMBOLS)))
_LEFTOVER = re.compile(r"[*_~`#^\\]+|\(\s*\)|\[\s*\]")
_PICTOGRAPH = re.compile(
    "[\U0001F000-\U0001FBFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\u2190-\u21FF"
    "\uFE00-\uFE0F\u200D\u20E3\U000E0000-\U000E007F\u3030\u303D\u3297\u3299"
    "\u2122\u00A9\u00AE\u2139\u24C2\u203C\u2049]+")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[.,!?;:…](?:\s|$))")
_REPEATED_PUNCT = re.compile(r"([,;:])(?:\s*[,;:])+|[,;:]\s*(?=[.!?])|(?<=[.!?])[,;:]+")
_LEADING_PUNCT = re.compile(r"^[\s,;:.!?)\]]+")
_SPEAKABLE = re.compile(r"[^\W_]")


def _drop_code(text: str, fence: str | None) -> tuple[list[str], str | None]:
    """Lines outside code fences, and the fence still open at the end (or ``None``)."""
    kept: list[str] = []
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None:
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = m.group(1)
                kept.append("")  # a code block ends the paragraph before it
            else:
                kept.append(line)
        elif (m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
              and not m.group(2).strip()):
            fence = None
    return kept, fence


def _block(line: str) -> tuple[str, bool]:
    """One line without its block markup, and whether it was a heading/item/row."""
    s = _QUOTE.sub("", line.strip()).strip()
    if not s or _RULE_LINE.match(s) or _TABLE_SEP.match(s) or _LINK_DEF.match(s):
        return "", True
    structured = True
    if m := _HEADING.match(s):
        s = m.group(1)
    elif m := _BULLET.match(s):
        s = s[m.end():]
    elif m := _NUMBERED.match(s):
        s = f"{m.group(1)}, {s[m.end():]}"
    elif s.startswith("|") or s.endswith("|") or s.count("|") >= 2:
        s = ", ".join(c.strip() for c in _CELL_SPLIT.split(s) if c.strip())
    else:
        structured = False
    return s, structured


def _end_sentence(s: str) -> str:
    """``s`` with a closing period unless it already ends in punctuation."""
    return s if _END_PUNCT.search(_PICTOGRAPH.sub("", s).rstrip("*_` ")) else s + "."


def _compare(m: re.Match) -> str:
    op = m.group(1) or m.group(2)
    return f" {_COMPARE_WORDS.get(op, 'equals')} "


def _degrees(m: re.Match) -> str:
    unit = m.group(1) or {"℃": "C", "℉": "F"}.get(m.group(2) or "")
    return {"C": " degrees Celsius", "F": " degrees Fahrenheit"}.get(unit, " degrees ")


def _inline(s: str) -> str:
    """Inline markup, URLs, symbols and pictographs turned into plain spoken text."""
    s = _BR.sub(" ", s)
    s = _AUTOLINK.sub(r"\1", s)
    s = _TAG.sub("", s)
    s = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], s)
    s = _CODE.sub(r"\2", s)
    s = _IMAGE_OR_LINK.sub(r"\1", s)
    s = _REF_LINK.sub(r"\1", s)
    s = _FOOTNOTE.sub("", s)
    s = _URL.sub(lambda m: m.group(1).lower(), s)
    s = _STRIKE.sub(r"\1", s)
    s = _STRONG.sub(r"\2", s)
    s = _EM_STAR.sub(r"\1", s)
    s = _EM_UNDER.sub(r"\1", s)
    s = _TIMES.sub(" times ", s)
    s = _INNER_UNDERSCORE.sub(" ", s)
    s = _ARROW.sub(" to ", s)
    s = _DEGREES.sub(_degrees, s)
    s = _PERCENT.sub(" percent ", s)
    s = _ABOUT.sub("about ", s)
    s = _COMPARE.sub(_compare, s)
    s = _MINUS.sub("minus ", s)
    s = _POWER.sub(" to the power of ", s)
    s = _NUMBER_SIGN.sub("number ", s)
    s = _SYMBOL.sub(lambda m: _WORD_SYMBOLS[m.group()], s)
    s = _LEFTOVER.sub("", s)
    if not s.isascii():
        s = _PICTOGRAPH.sub(" ", s)
        s = "".join(c for c in s if c.isascii() or unicodedata.category(c) != "So")
    return s


def _finish(lines: list[str]) -> str:
    """Join cleaned lines, tidy spacing and punctuation; ``""`` if nothing is speakable.

    Headings, list items and table rows end a sentence, and so does a paragraph (a line
    followed by a blank line, a block or a code fence); a soft line break does not.
    """
    blocks = [_block(line) for line in lines]
    parts = []
    for i, (text, structured) in enumerate(blocks):
        if text and (structured or (i + 1 < len(blocks) and blocks[i + 1][1])):
            text = _end_sentence(text)
        parts.append(text)
    s = _inline(" ".join(filter(None, parts)))
    s = _SPACE.sub(" ", s)
    s = _SPACE_BEFORE_PUNCT.sub("", s)
    s = _REPEATED_PUNCT.sub(lambda m: m.group(1) or "", s)
    s = _LEADING_PUNCT.sub("", s).strip()
    return s if _SPEAKABLE.search(s) else ""


def to_speakable(text: str) -> str:
    """What a TTS engine should read aloud for one markdown segment (``""``: skip it)."""
    if not text or text.isspace():
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines, _ = _drop_code(text, _tail_fence(text) if "``" in text or "~~" in text else None)
    return _finish(lines)


def _tail_fence(text: str) -> str | None:
    """The marker of a closing fence that ends ``text`` with no opening fence before it.

    Without state, a segment whose last line is a bare fence and that has an odd number
    of fence lines is taken as the tail of a code block (the usual cut right after a
    closing fence), so everything before that fence is code.
    """
    fences = [m for m in map(_FENCE.match, text.strip().split("\n")) if m]
    bare = fences and not fences[-1].group(2).strip() and text.rstrip().endswith(
        fences[-1].group(1))
    return fences[-1].group(1) if bare and len(fences) % 2 else None


class SpeakableFilter:
    """:func:`to_speakable` for consecutive segments of one answer, tracking open fences.

    A fence opened in one segment stays open until its closing fence arrives, so code that
    a segmenter split across several segments is never spoken. Instances are callable, so
    a fresh one per answer can stand in wherever ``to_speakable`` is passed.
    """

    def __init__(self) -> None:
        self.fence: str | None = None  # the open fence marker, e.g. "```"

    @property
    def in_code(self) -> bool:
        """Whether the segments fed so far end inside a code fence."""
        return self.fence is not None

    def feed(self, text: str) -> str:
        """The speakable text of the next segment (``""``: skip it)."""
        if not text:
            return ""
        lines, self.fence = _drop_code(text.replace("\r\n", "\n").replace("\r", "\n"),
                                       self.fence)
        return _finish(lines)

    __call__ = feed

    def reset(self) -> None:
        """Forget any open fence (start of a new answer)."""
        self.fence = None
