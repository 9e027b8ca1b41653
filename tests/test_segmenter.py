"""Tests for streaming.segmenter: rule tables, golden corpus, split invariance, properties.

Plain sync tests; no Django, no database.
"""
from __future__ import annotations

import random

import pytest

from streaming.segmenter import Segmenter

# One segment per sentence-like unit: no early first cut, no merging.
SENT = {"first_min_words": 1000, "min_chars": 1}


def run(chunks: list[str], **kwargs: int) -> list[str]:
    """Feed ``chunks`` one by one into a fresh segmenter, then flush."""
    seg = Segmenter(**kwargs)
    out: list[str] = []
    for chunk in chunks:
        out += seg.feed(chunk)
    return out + seg.flush()


def random_chunks(text: str, rng: random.Random, max_size: int = 12) -> list[str]:
    """Split ``text`` into random-size pieces (sizes 1..max_size)."""
    chunks, i = [], 0
    while i < len(text):
        size = rng.randint(1, max_size)
        chunks.append(text[i : i + size])
        i += size
    return chunks


def squash(text: str) -> str:
    """All non-whitespace characters, in order (for no-loss/no-duplication checks)."""
    return "".join(text.split())


def segment_all_ways(text: str, **kwargs: int) -> list[str]:
    """Segment whole, char by char and in seeded random chunks; all must agree."""
    whole = run([text], **kwargs)
    assert run(list(text), **kwargs) == whole, "char-by-char differs from whole"
    for seed in range(3):
        chunks = random_chunks(text, random.Random(seed))
        assert run(chunks, **kwargs) == whole, f"random chunks (seed {seed}) differ"
    assert all(s and s == s.strip() for s in whole)
    assert squash("".join(whole)) == squash(text), "text lost or duplicated"
    return whole


def check(text: str, expected: list[str], strict: bool = True, **kwargs: int) -> None:
    """Assert the segmentation of ``text`` (any split) is ``expected``."""
    segments = segment_all_ways(text, **kwargs)
    assert segments == expected
    if strict:  # exact when every cut falls on whitespace
        assert " ".join(segments).split() == text.split()


# --- rule tables (SENT: each sentence-like unit is its own segment) ----------------

SENTENCE_CASES = [
    ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."], "basic-terminators"),
    ("Really?! Yes!! Sure.", ["Really?!", "Yes!!", "Sure."], "terminator-runs"),
    ("Is it? yes it is.", ["Is it? yes it is."], "lowercase-after-question"),
    ("See fig. below. Done.", ["See fig. below.", "Done."], "lowercase-never-cut"),
    ("Ask Dr. Smith. Now.", ["Ask Dr. Smith.", "Now."], "dr"),
    ("Mr. and Mrs. Jones met Ms. Lee. Ok.", ["Mr. and Mrs. Jones met Ms. Lee.", "Ok."],
     "mr-mrs-ms"),
    ("Prof. Xavier lives on Main St. Today. Ok.", ["Prof. Xavier lives on Main St. Today.",
                                                   "Ok."], "prof-st"),
    ("John Smith Jr. And Sr. Smith came. Ok.", ["John Smith Jr. And Sr. Smith came.", "Ok."],
     "jr-sr"),
    ("Cats vs. Dogs is old. Ok.", ["Cats vs. Dogs is old.", "Ok."], "vs"),
    ("DR. Who and PROF. X met. Ok.", ["DR. Who and PROF. X met.", "Ok."], "abbrev-uppercase"),
    ("Apples, pears, etc. Then we bake.", ["Apples, pears, etc. Then we bake."],
     "etc-before-capital-not-cut"),
    ("Apples, pears, etc. are fruit. Ok.", ["Apples, pears, etc. are fruit.", "Ok."], "etc"),
    ("Use e.g. Python or i.e. Java here. Ok.", ["Use e.g. Python or i.e. Java here.", "Ok."],
     "eg-ie"),
    ("Meet at 10 a.m. Sharp at 5 p.m. Tom. Ok.", ["Meet at 10 a.m. Sharp at 5 p.m. Tom.", "Ok."],
     "am-pm"),
    ("The U.S. Army and the U.K. Navy met. Ok.", ["The U.S. Army and the U.K. Navy met.", "Ok."],
     "us-uk"),
    ("Acme Inc. And Foo Ltd. Merged. Ok.", ["Acme Inc. And Foo Ltd. Merged.", "Ok."], "inc-ltd"),
    ("See No. 5 and Fig. 3 there. Ok.", ["See No. 5 and Fig. 3 there.", "Ok."], "no-fig-number"),
    ("No. I do not think so.", ["No.", "I do not think so."], "no-as-answer"),
    ("It costs approx. 5 dollars. Ok.", ["It costs approx. 5 dollars.", "Ok."], "approx"),
    ("Pi is 3.14 roughly. Ok.", ["Pi is 3.14 roughly.", "Ok."], "decimal"),
    ("It costs $4.99 today. Ok.", ["It costs $4.99 today.", "Ok."], "price-decimal"),
    ("Get v2.0 or 1.2.3 now. Ok.", ["Get v2.0 or 1.2.3 now.", "Ok."], "versions"),
    ("It is 10:30 now, at 10:30:15 go. Ok.", ["It is 10:30 now, at 10:30:15 go.", "Ok."],
     "times"),
    ("Open https://example.com/a.b?c=d now. Ok.", ["Open https://example.com/a.b?c=d now.", "Ok."],
     "url"),
    ("Open www.example.org now. Ok.", ["Open www.example.org now.", "Ok."], "www"),
    ("Read docs.python.org and example.com daily. Ok.",
     ["Read docs.python.org and example.com daily.", "Ok."], "domains"),
    ("Visit example.com. It is great.", ["Visit example.com.", "It is great."],
     "domain-at-sentence-end"),
    ("Mail jane.doe@example.co.uk today. Ok.", ["Mail jane.doe@example.co.uk today.", "Ok."],
     "email"),
    ("Well... maybe not. Ok.", ["Well... maybe not.", "Ok."], "ellipsis-lowercase"),
    ("Well... I think so. Ok.", ["Well... I think so.", "Ok."], "ellipsis-pronoun-i"),
    ("Wait... Then it happened.", ["Wait...", "Then it happened."], "ellipsis-uppercase"),
    ("Hmm\u2026 Then silence.", ["Hmm\u2026", "Then silence."], "unicode-ellipsis"),
    ("J. R. R. Tolkien wrote it. Ok.", ["J. R. R. Tolkien wrote it.", "Ok."], "initials"),
    ("We have 1,000,000 users. Ok.", ["We have 1,000,000 users.", "Ok."], "thousands"),
    ("It was founded in 1998. Then it grew.", ["It was founded in 1998.", "Then it grew."],
     "year-at-end"),
    ("It costs $5. That is cheap.", ["It costs $5.", "That is cheap."], "price-at-end"),
    ("The total is 42. 7 more came.", ["The total is 42.", "7 more came."], "number-then-digit"),
    ('He said "Stop." Then left.', ['He said "Stop."', "Then left."], "quote-after-period"),
    ("He said \u201cStop.\u201d Then left.", ["He said \u201cStop.\u201d", "Then left."],
     "curly-quote-after-period"),
    ("(See the docs.) Then retry.", ["(See the docs.)", "Then retry."], "bracket-after-period"),
    ("This is **key.** Next one.", ["This is **key.**", "Next one."], "bold-after-period"),
    ('Done. "Quoted" starts here.', ["Done.", '"Quoted" starts here.'], "quote-opens-next"),
    ("**Bold** text. `code.py` runs. _It_ works.",
     ["**Bold** text.", "`code.py` runs.", "_It_ works."], "markdown-kept"),
    ("A\n\nB", ["A", "B"], "blank-line"),
    ("No period here\n\nNext paragraph", ["No period here", "Next paragraph"], "paragraph"),
    ("Ends.\r\n\r\nNew para.", ["Ends.", "New para."], "crlf"),
    ("Soft\nwrapped line.", ["Soft\nwrapped line."], "single-newline-is-space"),
    ("Dr.\n\nNext.", ["Dr.", "Next."], "blank-line-after-abbrev"),
    ("1. Preheat the oven.\n2. Mix the flour.", ["1. Preheat the oven.", "2. Mix the flour."],
     "numbered-list"),
    ("Steps:\n1) First\n2) Second", ["Steps:", "1) First", "2) Second"], "paren-list"),
    ("- one\n- two\n* three\n+ four\n\u2022 five",
     ["- one", "- two", "* three", "+ four", "\u2022 five"], "bullets"),
    ("1. Go\n2. Stop", ["1. Go", "2. Stop"], "list-number-not-a-sentence"),
    ("Steps: 1. Preheat. 2. Mix.", ["Steps: 1. Preheat.", "2. Mix."], "inline-list-number"),
    ("# Title\nBody text.", ["# Title", "Body text."], "heading"),
    ("Intro.\n## Part\n> quoted", ["Intro.", "## Part", "> quoted"], "heading-and-quote"),
    ("Top\n---\nEnd", ["Top\n---\nEnd"], "rule-not-a-bullet"),
    ("It is -5 degrees\n-5 again", ["It is -5 degrees\n-5 again"], "minus-not-a-bullet"),
    ("Dr." + " " * 70 + "next", ["Dr.", "next"], "huge-whitespace-gap-is-a-boundary"),
]

MISSING_SPACE_CASES = [
    ("This is the end.Next one starts.", ["This is the end.", "Next one starts."], "cut"),
    ("Step one.Then two.And three.", ["Step one.", "Then two.", "And three."], "chain"),
    ("It ended.I left.", ["It ended.", "I left."], "pronoun-i"),
    ("Visit example.Com today.", ["Visit example.Com today."], "tld-not-cut"),
    ("Visit www.Example.com today.", ["Visit www.Example.com today."], "www-not-cut"),
    ("Ask Dr.Smith today.", ["Ask Dr.Smith today."], "abbrev-not-cut"),
    ("The st.Louis case.", ["The st.Louis case."], "lowercase-abbrev-not-cut"),
    ("Plan a.B is bad.", ["Plan a.B is bad."], "single-letter-not-cut"),
    ("Read file.Txt.gz now.", ["Read file.Txt.gz now."], "dotted-rest-not-cut"),
    ("Email x@y.Com now.", ["Email x@y.Com now."], "email-not-cut"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=i) for t, e, i in SENTENCE_CASES]
)
def test_sentence_rules(text: str, expected: list[str]) -> None:
    check(text, expected, **SENT)


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=i) for t, e, i in MISSING_SPACE_CASES]
)
def test_missing_space_after_period(text: str, expected: list[str]) -> None:
    check(text, expected, strict=False, **SENT)


# --- golden corpus: what other voice pipelines get wrong ---------------------------

GOLDEN = [
    ("Apple was founded in 1976. It grew fast.", ["Apple was founded in 1976.", "It grew fast."],
     "year-at-end"),
    ("The plan costs $20. That is fair.", ["The plan costs $20.", "That is fair."],
     "price-at-end"),
    ("We saw **3.5%** growth this year. Nice.",
     ["We saw **3.5%** growth this year.", "Nice."], "markdown-decimal"),
    ("Go to docs.python.org for help. Thanks.",
     ["Go to docs.python.org for help.", "Thanks."], "domain"),
    ("1. Preheat the oven.\n2. Mix the flour and sugar.\n3. Bake for 20 minutes.",
     ["1. Preheat the oven.", "2. Mix the flour and sugar.", "3. Bake for 20 minutes."],
     "list-numbers"),
    ("The U.S. economy grew by 2% last year. Ok.",
     ["The U.S. economy grew by 2% last year.", "Ok."], "us-mid-sentence"),
    ("Try fruit, e.g. Apples, or grains, i.e. Oats. Done.",
     ["Try fruit, e.g. Apples, or grains, i.e. Oats.", "Done."], "eg-ie"),
    ("The meeting is at 10:30. Be on time.", ["The meeting is at 10:30.", "Be on time."],
     "time-at-end"),
    ("Write to jane.doe@example.co.uk for details. Thanks.",
     ["Write to jane.doe@example.co.uk for details.", "Thanks."], "email"),
    ("See https://example.com/docs/v1.2/page.html?q=a.b&x=1 for more. Ok.",
     ["See https://example.com/docs/v1.2/page.html?q=a.b&x=1 for more.", "Ok."], "url"),
    ("Well... I guess so. But... No! Fine.", ["Well... I guess so.", "But...", "No!", "Fine."],
     "ellipses"),
    ("J. K. Rowling wrote it. Ok.", ["J. K. Rowling wrote it.", "Ok."], "initials"),
    ("Python 3.11.7 is out. Upgrade now.", ["Python 3.11.7 is out.", "Upgrade now."],
     "version"),
    ("It sold 1,250,000 copies. Wow.", ["It sold 1,250,000 copies.", "Wow."], "thousands"),
    ("Dr. Smith will see you. Mr. Brown too.", ["Dr. Smith will see you.", "Mr. Brown too."],
     "abbrev-before-name"),
    ('She said "Yes." Then she left.', ['She said "Yes."', "Then she left."], "quote-after"),
    ("I was done.Then I left.", ["I was done.", "Then I left."], "missing-space"),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for t, e, i in GOLDEN])
def test_golden_corpus(text: str, expected: list[str]) -> None:
    check(text, expected, strict="missing" not in text and ".Then" not in text, **SENT)


# --- first segment, merging and splitting (default lengths unless given) -----------

SHAPE_CASES = [
    ("Well, I think that the answer, in short, is yes.",
     ["Well, I think that the answer,", "in short, is yes."], {}, "first-clause-cut"),
    (("Well, I think that the answer, in short, is yes. After that, the rest, which is "
      "long, stays whole as one sentence."),
     ["Well, I think that the answer,",
      "in short, is yes. After that, the rest, which is long, stays whole as one sentence."],
     {}, "later-segments-whole-sentences"),
    ("Hi. How are you doing today?", ["Hi.", "How are you doing today?"], {},
     "first-short-sentence"),
    ("Yes, I think so, because it works.", ["Yes, I think so,", "because it works."], {},
     "comma-before-min-words-not-cut"),
    ("Yes, indeed, it works well.", ["Yes, indeed,", "it works well."],
     {"first_min_words": 2}, "first-min-words-param"),
    ("Note; this is fine; really.", ["Note; this is fine;", "really."], {}, "semicolon"),
    ("Here is the plan for you: we ship.", ["Here is the plan for you:", "we ship."], {},
     "colon"),
    ("The answer is simple \u2014 we ship it.", ["The answer is simple \u2014", "we ship it."],
     {}, "em-dash"),
    ("The plan is simple - we ship it.", ["The plan is simple -", "we ship it."], {},
     "spaced-hyphen"),
    ("The span 1990\u20132000 was long \u2013 very long.",
     ["The span 1990\u20132000 was long \u2013", "very long."], {}, "en-dash"),
    ("A well-known e-mail trick works, mostly.", ["A well-known e-mail trick works,",
                                                  "mostly."], {}, "hyphen-in-word"),
    ("We have 1,000,000 users, and more.", ["We have 1,000,000 users,", "and more."], {},
     "thousands-not-clause"),
    ("At 10:30:15 we start, then go.", ["At 10:30:15 we start,", "then go."], {},
     "time-not-clause"),
    ("Hi. Yes. No. Maybe. Sure thing. Okay then. Fine.",
     ["Hi.", "Yes. No. Maybe. Sure thing. Okay then. Fine."], {}, "merge-short"),
    (("First one is here. Short one. Another short one. This one is a fair bit longer "
      "than forty."),
     ["First one is here.",
      "Short one. Another short one. This one is a fair bit longer than forty."],
     {}, "merge-until-min-chars"),
    ("Start here now. Tiny. This sentence is rather long and must not merge.",
     ["Start here now.", "Tiny.", "This sentence is rather long and must not merge."],
     {"max_chars": 50}, "merge-never-exceeds-max"),
    (("Start. This first sentence runs on for quite a while, with a comma much later on "
      "here, and then keeps going past the limit."),
     ["Start.",
      "This first sentence runs on for quite a while, with a comma much later on here,",
      "and then keeps going past the limit."],
     {"max_chars": 90}, "long-sentence-clause-split"),
    ("Start. " + " ".join(["Word"] * 30) + ".",
     ["Start.", " ".join(["Word"] * 12), " ".join(["Word"] * 12),
      " ".join(["Word"] * 6) + "."], {"max_chars": 60}, "long-sentence-word-split"),
    ("Start. " + "x" * 80 + " tail.", ["Start.", "x" * 80, "tail."], {"max_chars": 60},
     "giant-token-not-split"),
    ("Start. Tiny para.\n\nTiny next para.", ["Start.", "Tiny para.", "Tiny next para."], {},
     "no-merge-across-paragraph"),
    ("Ingredients:\n- flour\n- sugar\n- eggs", ["Ingredients:", "- flour", "- sugar", "- eggs"],
     {}, "no-merge-across-list-items"),
    ("Here's a quick recipe for you:\n\n1. Preheat the oven.\n2. Mix.",
     ["Here's a quick recipe for you:", "1. Preheat the oven.", "2. Mix."], {},
     "intro-then-list"),
    ("## Summary\n\nThe results are in, and they look good.",
     ["## Summary", "The results are in, and they look good."], {}, "heading-first"),
]


@pytest.mark.parametrize(
    ("text", "expected", "kwargs"), [pytest.param(t, e, k, id=i) for t, e, k, i in SHAPE_CASES]
)
def test_segment_shapes(text: str, expected: list[str], kwargs: dict[str, int]) -> None:
    check(text, expected, **kwargs)


# --- API behaviour ------------------------------------------------------------------


def test_empty_and_whitespace_input() -> None:
    seg = Segmenter()
    assert seg.feed("") == []
    assert seg.feed("  \n\n \t") == []
    assert seg.flush() == []
    assert seg.flush() == []


def test_feed_returns_segments_as_soon_as_decided() -> None:
    seg = Segmenter()
    assert seg.feed("Well, I think that the answer,") == []  # needs the space after ","
    assert seg.feed(" in") == ["Well, I think that the answer,"]
    assert seg.feed(" short. Done") == []  # short: waits to be merged
    assert seg.flush() == ["in short. Done"]


def test_flush_resets_for_the_next_stream() -> None:
    seg = Segmenter()
    first = seg.feed("Well, I think that the answer, is yes. ") + seg.flush()
    second = seg.feed("Well, I think that the answer, is yes. ") + seg.flush()
    assert first == second == ["Well, I think that the answer,", "is yes."]


# --- properties (seeded random, no hypothesis) --------------------------------------

CORPUS = [t for t, _, _ in SENTENCE_CASES + MISSING_SPACE_CASES + GOLDEN] + [
    t for t, _, _, _ in SHAPE_CASES
]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\n- ", "\n1. ", ""]


def generated_texts(count: int, seed: int) -> list[tuple[str, dict[str, int]]]:
    """Texts stitched from corpus pieces, each with a random segmenter config."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = rng.sample(CORPUS, rng.randint(1, 6))
        text = "".join(p + rng.choice(SEPARATORS) for p in parts)
        config = {
            "first_min_words": (first_min := rng.randint(1, 6)),
            "first_max_words": rng.choice([0, first_min, first_min + 2]),
            "min_chars": rng.randint(1, 60),
            "max_chars": rng.randint(30, 250),
        }
        texts.append((text, config))
    return texts


@pytest.mark.parametrize("seed", range(4))
def test_property_corpus_split_invariance_and_no_loss(seed: int) -> None:
    rng = random.Random(seed)
    for text, config in generated_texts(100, seed):
        segments = segment_all_ways(text, **config)
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, 8)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert run(pieces, **config) == segments  # arbitrary cut points, empty deltas too
        for s in segments:  # bounded length unless the segment is one giant token
            assert len(s) <= config["max_chars"] + 8 or not any(c.isspace() for c in s)


FUZZ_ALPHABET = [*"aaaAAbb  \n\n.,;:1-\u2014\u2026\"*#)I", "e.g.", "Dr.", "1. ", "\n- ",
                 "www.", ".com", "...", "3.14", "U.S.", " " * 70, "\n" * 70, "Xy" * 40]


@pytest.mark.parametrize("seed", range(3))
def test_property_fuzz_split_invariance_and_no_loss(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(100):
        text = "".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 120)))
        config = {
            "first_min_words": (first_min := rng.randint(1, 5)),
            "first_max_words": rng.choice([0, first_min, first_min + 2]),
            "min_chars": rng.randint(1, 30),
            "max_chars": rng.randint(5, 60),
        }
        segment_all_ways(text, **config)


def test_property_first_clause_cut_has_min_words() -> None:
    """A first segment ending at a clause mark (not at a line break) has enough words."""
    for text, config in generated_texts(200, 99):
        first = run([text], **config)[0]
        rest = text.lstrip()[len(first) :]
        gap = rest[: len(rest) - len(rest.lstrip())]
        if first[-1] in ",;:\u2014-\u2013" and "\n" not in gap:
            assert len(first.split()) >= config["first_min_words"], first


def test_long_token_stream_loses_nothing() -> None:
    text = ("Hello there, this is a sentence with words. It has 3.14 and Dr. Who.\n\n"
            "- item one\n") * 2000
    tokens = [text[i : i + 4] for i in range(0, len(text), 4)]
    segments = run(tokens)
    assert squash("".join(segments)) == squash(text)
    assert len(segments) >= 2000


# --- the forced first cut (no clause boundary in the first words) ---------------------


@pytest.mark.parametrize("text, first", [
    # before a phrase starts, from the 4th word to the 7th
    ("The quick brown fox jumps over the lazy dog near the river bank today.",
     "The quick brown fox jumps"),
    ("Streaming speech synthesis lets the voice start talking early.",
     "Streaming speech synthesis lets"),
    # never after a number, nor inside a name
    ("In 2024 there were 12 students waiting outside the old library.",
     "In 2024 there were 12 students"),
    ("Yesterday I flew from Boston to New York City with my whole family.",
     "Yesterday I flew from Boston"),
    ("My old friend Anna Maria Lopez wrote a long letter home last week.",
     "My old friend Anna Maria Lopez wrote"),
    # a clause boundary or a sentence end that comes first wins
    ("Well, my friend, the answer is simple and short.", "Well, my friend,"),  # too short
    ("It is well known that this old city was built on seven hills.",
     "It is well known"),
    ("Sure! The capital of France is Paris, of course.", "Sure!"),
    # too short to force: one sentence
    ("It is a very short one.", "It is a very short one."),
])
def test_the_first_segment_is_forced_after_a_few_words_at_a_phrase_end(
        text: str, first: str) -> None:
    segments = segment_all_ways(text, first_max_words=5)
    assert segments[0] == first
    assert " ".join(segments).split() == text.split()


def test_without_first_max_words_the_first_segment_waits_for_a_clause() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank today."
    assert segment_all_ways(text) == [text]
