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


# (segment, what TTS is given): prices, units, times, ranges and versions become words;
# the numbers stay digits, and numbers without such a symbol are left exactly as written.
NUMBER_CASES = [
    # prices
    ("It costs $19.99 today.", "It costs 19 dollars 99 today."),
    ("Now $1,299.00, was $1,499.", "Now 1,299 dollars, was 1,499 dollars."),
    ("$5 or $1", "5 dollars or 1 dollar"),
    ("Tip $0.50 or $0.01", "Tip 50 cents or 1 cent"),
    ("$19.05 and $2.5", "19 dollars and 5 cents and 2 dollars 50"),
    ("Raised $2.5 million", "Raised 2.5 million dollars"),
    ("Valued at $3B, then $10k, then $5m", "Valued at 3 billion dollars, then 10 thousand "
     "dollars, then 5 million dollars"),
    ("Pay USD 20 or 20 USD", "Pay 20 US dollars or 20 US dollars"),
    ("€19,99 or 19,99 € or 5€ or €1", "19 euros 99 or 19 euros 99 or 5 euros or 1 euro"),
    ("£4.50 and £1 and £0.99", "4 pounds 50 and 1 pound and 99 pence"),
    ("¥500 and ¥1,000", "500 yen and 1,000 yen"),
    ("$5-10 or $5 to $10", "5 to 10 dollars or 5 to 10 dollars"),
    ("$9.99/mo or $0.10/kWh", "9 dollars 99 per month or 10 cents per kilowatt hour"),
    ("Lost -$5 and gained +$5", "Lost minus 5 dollars and gained plus 5 dollars"),
    # percent
    ("Save 15% or 10-15% off", "Save 15 percent or 10 to 15 percent off"),
    # units: after a number only, singular for 1, plural otherwise
    ("Ping 300 ms, then 1 ms", "Ping 300 milliseconds, then 1 millisecond"),
    ("Wait 1 s, 2.5s, 30s or 5 sec", "Wait 1 second, 2.5 seconds, 30 seconds or 5 seconds"),
    ("1 min, 5 mins, 1 hr, 2 hrs, 24h", "1 minute, 5 minutes, 1 hour, 2 hours, 24 hours"),
    ("I am 5 m tall", "I am 5 meters tall"),
    ("It has 5m users, 2.5m downloads and is 5m tall",
     "It has 5 million users, 2.5 million downloads and is 5 meters tall"),
    ("Run 5 km at 12 km/h or 10 mph", "Run 5 kilometers at 12 kilometers per hour or 10 "
     "miles per hour"),
    ("Take 500 mg, 1 g, 2 kg, 5 lbs, 1 lb, 8 oz", "Take 500 milligrams, 1 gram, 2 kilograms, "
     "5 pounds, 1 pound, 8 ounces"),
    ("Add 250 ml, 1 L, 2 tbsp", "Add 250 milliliters, 1 liter, 2 tablespoons"),
    ("5 GB, 1 TB, 512 MB, 64 KB", "5 gigabytes, 1 terabyte, 512 megabytes, 64 kilobytes"),
    ("100 Mbps down, 50 MB/s disk", "100 megabits per second down, 50 megabytes per "
     "second disk"),
    ("3.2 GHz, 60 Hz, 60 W, 5 V, 5000 mAh, 10 kWh", "3.2 gigahertz, 60 hertz, 60 watts, "
     "5 volts, 5000 milliamp hours, 10 kilowatt hours"),
    ("1°C, 70°F, -5°C, 90°", "1 degree Celsius, 70 degrees Fahrenheit, minus 5 degrees "
     "Celsius, 90 degrees"),
    ("The room is 12 m²", "The room is 12 square meters"),
    ("A 5-min walk", "A 5 minute walk"),
    ("Wait 5 min. then stir", "Wait 5 minutes then stir"),
    # ranges
    ("5-10 min", "5 to 10 minutes"),
    ("18-24°C", "18 to 24 degrees Celsius"),
    ("3-5 days, 1-2 cups, from 2020-2022, pages 5–10",
     "3 to 5 days, 1 to 2 cups, from 2020 to 2022, pages 5 to 10"),
    # times
    ("Meet at 3:45 p.m. tomorrow", "Meet at 3:45 PM tomorrow"),
    ("Meet at 3:45 p.m. Bring coffee.", "Meet at 3:45 PM. Bring coffee."),
    ("Meet at 3 p.m.", "Meet at 3 PM."),
    ("- Meet at 3 p.m.\n- lunch after", "Meet at 3 PM. lunch after."),
    ("3:45pm, 3:05 PM, 10 a.m., 12pm", "3:45 PM, 3 oh 5 PM, 10 AM, 12 PM"),
    ("Open 9 a.m.-5 p.m. and 9-11 am", "Open 9 AM to 5 PM and 9 to 11 AM"),
    ("At 15:30, 15:05, 9:00, 17:00, 00:00", "At 15:30, 15 oh 5, 9 o'clock, 17 hundred, "
     "midnight"),
    ("12:00 noon", "12 noon"),
    # versions
    ("Upgrade to v2.3.1 or v2", "Upgrade to version 2.3.1 or version 2"),
    # left as written
    ("Call me at 5", "Call me at 5"),
    ("Room 12 m2", "Room 12 m2"),
    ("Press the m key", "Press the m key"),
    ("at 5 I met him", "at 5 I met him"),
    ("version 3", "version 3"),
    ("I'm here", "I'm here"),
    ("A-5", "A-5"),
    ("2024", "2024"),
    ("On 2024-01-15", "On 2024-01-15"),
    ("Call 555-1234 or 555-123-4567 or (555) 123-4567",
     "Call 555-1234 or 555-123-4567 or (555) 123-4567"),
    ("Dial 1-800-555-1234", "Dial 1-800-555-1234"),
    ("They won 4-3", "They won 4-3"),
    ("COVID-19", "COVID-19"),
    ("In the 1990s and the 90s, in your 30s, 1s and 0s",
     "In the 1990s and the 90s, in your 30s, 1s and 0s"),
    ("5G, 4K, V8, 1st, 2nd and 21st", "5G, 4K, V8, 1st, 2nd and 21st"),
    ("5 in a row, top 10 tips", "5 in a row, top 10 tips"),
    ("John 3:16, a 16:9 screen, 13 pm", "John 3:16, a 16:9 screen, 13 pm"),
    ("Lunch at noon or 12 noon", "Lunch at noon or 12 noon"),
    ("Python 3.12 at 10.0.0.1", "Python 3.12 at 10.0.0.1"),
    ("$HOME and $PATH", "$HOME and $PATH"),
    ("The quick brown fox jumps over the lazy dog.",
     "The quick brown fox jumps over the lazy dog."),
]


@pytest.mark.parametrize(("text", "expected"), NUMBER_CASES)
def test_prices_units_and_times_are_spoken_as_words_and_other_numbers_stay(
        text: str, expected: str) -> None:
    assert to_speakable(text) == expected
