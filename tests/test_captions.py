"""Word timings: estimated over a segment's audio, carried from spoken to shown words."""
from __future__ import annotations

from itertools import pairwise

from streaming.captions import as_rows, estimate_words, onto_text, words_heard
from streaming.protocols import Word


def test_estimated_words_cover_the_audio_in_order_longer_words_longer() -> None:
    words = estimate_words("I understand completely.", 2000)

    assert [w.text for w in words] == ["I", "understand", "completely."]
    assert words[0].start_ms == 0 and words[-1].end_ms == 2000
    assert all(a.end_ms <= b.start_ms for a, b in pairwise(words))
    durations = [w.end_ms - w.start_ms for w in words]
    assert durations[0] < durations[1] < durations[2]


def test_estimated_words_leave_a_pause_after_a_comma_only() -> None:
    words = estimate_words("yes, no maybe", 1000)

    assert words[1].start_ms - words[0].end_ms > 0
    assert words[2].start_ms == words[1].end_ms


def test_estimate_of_silent_or_empty_text_gives_instants() -> None:
    assert estimate_words("", 500) == []
    assert estimate_words("two words", 0) == [Word("two", 0, 0), Word("words", 0, 0)]


def test_same_words_keep_their_timings() -> None:
    spoken = [Word("Hello,", 10, 300), Word("world.", 400, 800)]

    assert onto_text("Hello, world.", spoken) == spoken


def test_a_word_said_differently_takes_the_time_of_what_was_said_for_it() -> None:
    spoken = [Word("It", 0, 100), Word("costs", 100, 400), Word("5", 400, 600),
              Word("dollars.", 600, 1000)]

    words = onto_text("It costs $5.", spoken)

    assert [w.text for w in words] == ["It", "costs", "$5."]
    assert (words[2].start_ms, words[2].end_ms) == (400, 1000)


def test_markup_not_said_gets_an_instant_where_it_stands() -> None:
    spoken = [Word("Use", 0, 200), Word("the", 200, 300), Word("tool.", 300, 700)]

    words = onto_text("Use **the** tool. ```", spoken)

    assert [w.text for w in words] == ["Use", "**the**", "tool.", "```"]
    assert (words[1].start_ms, words[1].end_ms) == (200, 300)  # same word without markup
    assert words[3].start_ms == words[3].end_ms == 700


def test_a_word_is_heard_once_more_than_half_of_it_played() -> None:
    words = [Word("one", 0, 900), Word("two", 900, 950), Word("three", 950, 1000)]

    assert words_heard(words, 449) == 0
    assert words_heard(words, 450) == 1
    assert words_heard(words, 930) == 2
    assert words_heard(words, 1000) == 3


def test_rows_are_text_start_end_rounded() -> None:
    assert as_rows([Word("a", 1.234, 5.678)]) == [["a", 1.2, 5.7]]
