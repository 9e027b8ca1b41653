"""Tests for streaming.speakable: markdown answer segments -> text a TTS engine reads."""
from __future__ import annotations

import pytest

from streaming.segmenter import Segmenter
from streaming.speakable import SpeakableFilter, to_speakable

MODEL_ANSWER = """## How to brew great coffee ☕

Brewing at home is **easy** and _cheap_. Here's what you need:

- Fresh beans (15 g per cup)
- Water at ~93°C
* A good grinder

### Steps

1. Grind the beans __medium-fine__.
2) Heat the kettle → 93°C, then pour.
3. Press and enjoy! 😄

> **Tip:** 80% of the flavor comes from the beans.

---
"""

CASES = [
    pytest.param(
        MODEL_ANSWER,
        "How to brew great coffee. Brewing at home is easy and cheap. Here's what you "
        "need: Fresh beans (15 grams per cup). Water at about 93 degrees Celsius. A good "
        "grinder. Steps. 1, Grind the beans medium-fine. 2, Heat the kettle to 93 degrees "
        "Celsius, then pour. 3, Press and enjoy! Tip: 80 percent of the flavor comes from "
        "the beans.",
        id="full-answer",
    ),
    pytest.param(
        "Here's the script:\n```python\nimport os\nprint(os.getcwd())\n```\n"
        "Run it with `python script.py`.",
        "Here's the script: Run it with python script.py.",
        id="code-fence-dropped",
    ),
    pytest.param("```python\nimport os\nprint(os.getcwd())\n```", "", id="only-code"),
    pytest.param("Install it:\n```bash\npip install requests\n", "Install it:",
                 id="fence-opened-not-closed"),
    pytest.param("```", "", id="only-closing-fence"),
    pytest.param("```\n", "", id="only-closing-fence-newline"),
    pytest.param("    print(os.getcwd())\nmain()\n```", "", id="tail-of-code-block"),
    pytest.param("```js\nx()\n```\nDone.\n```", "Done.", id="block-then-bare-fence"),
    pytest.param("Use ```x = 1``` inline.", "Use x equals 1 inline.", id="inline-triple"),
    pytest.param(
        'See [the guide](https://example.com/guide "Guide") or '
        "https://www.python.org/downloads/release/.",
        "See the guide or python.org.",
        id="links-and-bare-url",
    ),
    pytest.param("Visit <https://Example.org/a?b=c> or www.test.co.uk for more.",
                 "Visit example.org or test.co.uk for more.", id="autolink-and-www"),
    pytest.param("![Architecture diagram](img/arch.png) Footnote here[^1].",
                 "Architecture diagram Footnote here.", id="image-and-footnote"),
    pytest.param("Great job 👨‍👩‍👧‍👦🇫🇷👍🏽!", "Great job!", id="zwj-flag-skin-tone"),
    pytest.param("Thanks! 🙏🏼 Bye 👋", "Thanks! Bye", id="emoji-between-words"),
    pytest.param("🇺🇸🇯🇵🏳️‍🌈 ✅", "", id="only-emoji"),
    pytest.param("I ❤️ Python, 你好！ Привет, мир. مرحبا café",
                 "I Python, 你好！ Привет, мир. مرحبا café", id="keeps-all-scripts"),
    pytest.param("Sales grew 12.5% year over year; margins fell 3 %.",
                 "Sales grew 12.5 percent year over year; margins fell 3 percent.",
                 id="percentages"),
    pytest.param(
        "Tomorrow: 18°C → 24 °C, tonight 50°F, about 10℃, and -5°C at dawn.",
        "Tomorrow: 18 degrees Celsius to 24 degrees Celsius, tonight 50 degrees "
        "Fahrenheit, about 10 degrees Celsius, and minus 5 degrees Celsius at dawn.",
        id="temperatures-and-arrow",
    ),
    pytest.param("Flow: A -> B => C ⟶ D", "Flow: A to B to C to D", id="arrows"),
    pytest.param(
        "The answer is x = 2 + 3 = 5, and 6 × 7 = 42; 2 * 3 != 5.",
        "The answer is x equals 2 plus 3 equals 5, and 6 times 7 equals 42; 2 times 3 is "
        "not equal to 5.",
        id="math-symbols",
    ),
    pytest.param("Takes ~3 hours & costs ≈ $5; 10 >= 5 and 2 > 1.",
                 "Takes about 3 hours and costs about 5 dollars; 10 greater than or equal to 5 and "
                 "2 greater than 1.", id="about-and-comparisons"),
    pytest.param(
        "| Plan | Price | Storage |\n|:-----|------:|:-------:|\n| Free | $0 | 5 GB |\n"
        "| Pro | $9.99 | 1 TB |",
        "Plan, Price, Storage. Free, 0 dollars, 5 gigabytes. Pro, 9 dollars 99, 1 terabyte.",
        id="table",
    ),
    pytest.param("***Warning:*** do not ~~skip~~ this <em>step</em>.<br>Really &amp; truly.",
                 "Warning: do not skip this step. Really and truly.", id="emphasis-html"),
    pytest.param("Set `OPENAI_API_KEY` and call `get_json()` in snake_case code.",
                 "Set OPENAI API KEY and call get json in snake case code.",
                 id="inline-code-underscores"),
    pytest.param("- [x] Done\n- [ ] Todo\n+ Plus item\n• Dot item",
                 "Done. Todo. Plus item. Dot item.", id="bullets-and-tasks"),
    pytest.param("> Quoted line\n\n***\n\nNext paragraph\nwraps here",
                 "Quoted line. Next paragraph wraps here", id="quote-rule-paragraphs"),
    pytest.param("# Title #\n## **Bold heading:**", "Title. Bold heading:", id="headings"),
    pytest.param("C++ is #1 for 2^10 speed", "C plus plus is number 1 for 2 to the power of "
                 "10 speed", id="plus-number-power"),
    pytest.param("Wait... what?!", "Wait... what?!", id="plain-punctuation-kept"),
    pytest.param("Hello   world\r\n  again ", "Hello world again", id="whitespace"),
    pytest.param("   \n\n  ", "", id="blank"),
    pytest.param("", "", id="empty"),
    pytest.param("---", "", id="only-rule"),
    pytest.param("**", "", id="only-markers"),
    pytest.param("🎉.", "", id="emoji-and-dot"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_to_speakable(text: str, expected: str) -> None:
    assert to_speakable(text) == expected


def test_fence_split_across_two_segments_stateless() -> None:
    first = "To install it, run:\n```bash\npip install requests\n"
    second = "```"
    assert to_speakable(first) == "To install it, run:"
    assert to_speakable(second) == ""


def test_filter_tracks_fence_across_segments() -> None:
    speak = SpeakableFilter()
    segments = [
        "To install it, run:\n```bash\npip install requests\n",
        "pip install httpx\n",
        "```\nThen restart the **server** 🚀.",
        "Done ✅",
    ]
    assert [speak.feed(s) for s in segments] == [
        "To install it, run:", "", "Then restart the server.", "Done"]
    assert not speak.in_code


def test_filter_with_real_segmenter_never_speaks_code() -> None:
    answer = (
        "Sure! Here's a small script that prints the current directory.\n\n"
        "```python\nimport os\n\n\ndef main() -> None:\n"
        "    print(os.getcwd())  # Print it. Then exit.\n\n\nmain()\n```\n\n"
        "Save it as `cwd.py` and run it with `python cwd.py`. It prints a path 🎉."
    )
    segmenter = Segmenter()
    segments = [s for i in range(0, len(answer), 5) for s in segmenter.feed(answer[i:i + 5])]
    segments += segmenter.flush()
    speak = SpeakableFilter()
    spoken = " ".join(filter(None, map(speak, segments)))
    assert spoken == (
        "Sure! Here's a small script that prints the current directory. "
        "Save it as cwd.py and run it with python cwd.py. It prints a path."
    )


def test_filter_reset_forgets_open_fence() -> None:
    speak = SpeakableFilter()
    assert speak.feed("Example:\n~~~\ncode") == "Example:"
    assert speak.in_code
    speak.reset()
    assert speak.feed("Plain text.") == "Plain text."


def test_filter_and_function_agree_on_whole_segments() -> None:
    speak = SpeakableFilter()
    for text, _ in (case.values for case in CASES):
        if "```" not in text and "~~~" not in text:
            assert speak.feed(text) == to_speakable(text)
