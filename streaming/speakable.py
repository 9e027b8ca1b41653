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
* Numbers stay digits (espeak-ng reads them well, "1,299" included); what surrounds them
  becomes words where espeak reads the symbol badly ("$5" is "dollar five", "5-10" is
  "five dash ten", "300 ms" is "M S", "12:00" is "twelve zero zero"):

  - Prices, with the symbol ($ € £ ¥ ₹ US$) before or after, or a code (USD, EUR, GBP,
    JPY, CAD, AUD, CHF, CNY, INR): "$5" -> "5 dollars", "$1" -> "1 dollar", "$19.99" ->
    "19 dollars 99", "$19.05" -> "19 dollars and 5 cents", "$0.50" -> "50 cents",
    "$1,299.00" -> "1,299 dollars", "€19,99" (a decimal comma: two digits) -> "19 euros
    99", "$2.5 million" / "$2.5M" / "$3bn" / "$10k" -> "2.5 million dollars" etc. (after
    a currency sign "m" is million), "USD 20" -> "20 US dollars", "$5-10" -> "5 to 10
    dollars", "$5/mo" -> "5 dollars per month", "-$5" -> "minus 5 dollars". ¥ is yen.
  - Units, only right after a number (attached, a space, or a hyphen) and not followed
    by a letter, so words are never units and "12 m2", "5G", "4K", "1st" stay: time (ns
    µs ms s sec min h hr hrs wk mo yr), length and area (nm µm mm cm m km mi ft yd m²
    sq ft), mass (µg mcg mg g kg lb lbs oz), volume (ml L l cl gal tsp tbsp fl oz), speed
    (mph km/h kph), °C °F ° %, ¢, data (KB MB GB TB PB, KiB..., Kb Mb Gb, kbps Mbps Gbps),
    Hz kHz MHz GHz, W kW MW Wh kWh V mV kV mA mAh, px fps bpm dB kcal cal. Case matters
    ("Mb" megabits, "MB" megabytes; "gb"/"mb"/"kb" are taken as bytes). "m" is meters,
    never minutes; millions only glued to a number before what is counted ("5m users",
    "2.5m downloads"; "5m tall" is meters). "1" takes the singular ("1 second", "1 degree
    Celsius"), other numbers the plural; a hyphen makes a compound adjective ("a 5-min
    walk" -> "a 5 minute walk"); "/unit" is "per unit" ("50 MB/s", "5 mg/kg"). An "s" glued to a
    decade ("1990s", "the 90s", "mid-80s") or in "1s and 0s" stays. "in", "t", "A", "B",
    "K", "M" (without a currency) and "x" are never units.
  - Ranges: a dash between numbers is "to" ("5-10 min" -> "5 to 10 minutes", "3-5 days",
    "2020-2022", "5–10"), except with a hyphen when it cannot be a range: the first
    number not the smaller (a score "4-3", "x = 5-3"), three then four digits (a phone
    number "555-1234"), chains ("2024-01-15", "555-123-4567"), or arithmetic after it.
  - Times: "3:45 p.m." / "3:45pm" -> "3:45 PM", "10 a.m." -> "10 AM", "12:00 PM" -> "12
    PM", "9 a.m.-5 p.m." -> "9 AM to 5 PM" (hours 1-12 only); the dot of "p.m." is kept
    where it ends the sentence (end of the segment, or a capital follows). Without AM/PM
    ":00" and ":0x" are said ("9:00" -> "9 o'clock", "17:00" -> "17 hundred", "00:00" ->
    "midnight", "15:05" -> "15 oh 5"); other "h:mm" ("15:30", "John 3:16") stay, espeak
    reads them as times; "noon" and "12 noon" stay words.
  - Versions: "v2.3.1" -> "version 2.3.1" (a lowercase "v" right before the number;
    "V8" stays); "Python 3.12" stays (espeak says "three point one two").
  - Negative numbers keep their sign for the later "-5" -> "minus 5"; ordinals, years,
    phone numbers, IP addresses and numbers without a symbol are left alone.
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
# Prices, units and times (see "Choices made here"). Numbers stay digits: espeak reads
# them well; only what sits around them becomes words.
_DIGIT = re.compile(r"\d")
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # 5, 2.5, 1,299.00
_CURRENCIES = {  # symbol or code: (one, many, one hundredth, many hundredths)
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("US dollar", "US dollars", "cent", "cents"),
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "GBP": ("British pound", "British pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "JPY": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
    "CNY": ("yuan", "yuan", "", ""),
}
_CODES = "|".join(k for k in _CURRENCIES if k.isalpha())
_SIGN = r"US\$|[$€£¥₹]"
_AMOUNT = rf"\d+,\d\d(?![\d,])|{_NUM}"  # 19,99 (a decimal comma) or a _NUM
_MAGNITUDES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million",
               "MM": "million", "mn": "million", "b": "billion", "B": "billion",
               "bn": "billion", "T": "trillion", "tn": "trillion"}
_MAGNITUDE = (r"(?P<mag>\s?(?:thousand|million|billion|trillion|mn|bn)\b"
              r"|(?:MM|[kKmMbBT]|tn)(?!\w))?")
_MONEY_BEFORE = re.compile(
    rf"(?<![\w$€£¥₹])(?P<cur>{_SIGN}|(?:{_CODES})(?=\s?\d))\s?(?P<neg>[-−])?(?P<a>{_AMOUNT})"
    rf"(?:(?:\s?[-–—]\s?|\s+to\s+)(?:{_SIGN})?(?P<b>{_AMOUNT}))?{_MAGNITUDE}"
    r"(?P<per>(?:/[A-Za-z]+)*)(?![\d\w])")
_MONEY_AFTER = re.compile(
    rf"(?<![\w.,:/'’$€£¥₹])(?P<a>{_AMOUNT})(?:\s?[-–—]\s?(?P<b>{_AMOUNT}))?"
    rf"(?P<mag>\s(?:thousand|million|billion|trillion))?\s?(?P<cur>[$€£¥₹]|(?:{_CODES})\b)"
    r"(?P<per>(?:/[A-Za-z]+)*)(?!\s?\d|\w)")
_UNITS = {  # after a number: (one, many); case matters ("5G" and "4K" stay)
    "ns": ("nanosecond", "nanoseconds"), "µs": ("microsecond", "microseconds"),
    "ms": ("millisecond", "milliseconds"), "msec": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "wk": ("week", "weeks"), "wks": ("week", "weeks"), "mo": ("month", "months"),
    "yr": ("year", "years"), "yrs": ("year", "years"),
    "nm": ("nanometer", "nanometers"), "µm": ("micrometer", "micrometers"),
    "mm": ("millimeter", "millimeters"), "cm": ("centimeter", "centimeters"),
    "m": ("meter", "meters"), "km": ("kilometer", "kilometers"), "mi": ("mile", "miles"),
    "ft": ("foot", "feet"), "yd": ("yard", "yards"), "yds": ("yard", "yards"),
    "m²": ("square meter", "square meters"), "km²": ("square kilometer", "square kilometers"),
    "cm²": ("square centimeter", "square centimeters"), "ft²": ("square foot", "square feet"),
    "sq ft": ("square foot", "square feet"), "m³": ("cubic meter", "cubic meters"),
    "cm³": ("cubic centimeter", "cubic centimeters"),
    "µg": ("microgram", "micrograms"), "mcg": ("microgram", "micrograms"),
    "mg": ("milligram", "milligrams"), "g": ("gram", "grams"), "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "fl oz": ("fluid ounce", "fluid ounces"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour",
                                                         "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit",
                                                      "degrees Fahrenheit"),
    "℃": ("degree Celsius", "degrees Celsius"), "℉": ("degree Fahrenheit",
                                                     "degrees Fahrenheit"),
    "°": ("degree", "degrees"), "%": ("percent", "percent"), "¢": ("cent", "cents"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"),
    "kb": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "mb": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
    "gb": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "tb": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "KiB": ("kibibyte", "kibibytes"), "MiB": ("mebibyte", "mebibytes"),
    "GiB": ("gibibyte", "gibibytes"), "TiB": ("tebibyte", "tebibytes"),
    "Kb": ("kilobit", "kilobits"), "Mb": ("megabit", "megabits"), "Gb": ("gigabit", "gigabits"),
    "kbps": ("kilobit per second", "kilobits per second"),
    "Kbps": ("kilobit per second", "kilobits per second"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"), "mW": ("milliwatt", "milliwatts"), "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"), "GW": ("gigawatt", "gigawatts"),
    "Wh": ("watt hour", "watt hours"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "MWh": ("megawatt hour", "megawatt hours"), "V": ("volt", "volts"),
    "mV": ("millivolt", "millivolts"), "kV": ("kilovolt", "kilovolts"),
    "mA": ("milliamp", "milliamps"), "mAh": ("milliamp hour", "milliamp hours"),
    "L": ("liter", "liters"), "l": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "cl": ("centiliter", "centiliters"),
    "gal": ("gallon", "gallons"), "tsp": ("teaspoon", "teaspoons"),
    "tbsp": ("tablespoon", "tablespoons"), "px": ("pixel", "pixels"),
    "fps": ("frame per second", "frames per second"),
    "bpm": ("beat per minute", "beats per minute"), "dB": ("decibel", "decibels"),
    "kcal": ("kilocalorie", "kilocalories"), "cal": ("calorie", "calories"),
}
_UNIT_SPELLINGS = {"μs": "µs", "μm": "µm", "μg": "µg", "º": "°", "ºC": "°C", "ºF": "°F"}
_PER_WORDS = {"d": "day"}
_UNIT = "|".join([r"[°º] ?[CF]"] + [re.escape(u) for u in sorted(
    [*_UNITS, *_UNIT_SPELLINGS], key=len, reverse=True)])
_QUANTITY = re.compile(
    rf"(?<![\w.,:/'’])(?P<a>{_NUM})(?:(?P<dash>\s?[-–—]\s?)(?P<b>{_NUM}))?(?P<sep>\s?|-)"
    rf"(?P<unit>{_UNIT})(?P<per>(?:/(?:{_UNIT}|[A-Za-z]+))*)(?![\w'’])(?:\.(?=\s+[a-z]))?")
# What is counted in millions ("5m users"), never measured in meters ("a 5m drop").
_COUNTED = re.compile(
    r"\s+(?:users|people|customers|subscribers|downloads|views|visitors|viewers|members|"
    r"players|followers|listeners|readers|copies|devices|accounts|installs|streams|votes|"
    r"residents|employees|jobs|requests|rows|records|tokens|parameters|times)\b")
_DECADE_BEFORE = re.compile(r"(?:\b(?:the|my|your|his|her|its|our|their|early|late)\s+|mid-)$",
                            re.IGNORECASE)
_BITS_BEFORE = re.compile(r"\b[01]s\s+(?:and|or)\s+$")
_BITS_AFTER = re.compile(r"\s+(?:and|or)\s+[01]s\b")
_CLOCK_AMPM = re.compile(
    r"(?<![\w.:,])(?P<h>\d{1,2})(?::(?P<m>[0-5]\d))?(?:(?:\s?[-–]\s?|\s+to\s+)"
    r"(?P<h2>\d{1,2})(?::(?P<m2>[0-5]\d))?)?\s?(?P<ap>[AaPp])(?P<dots>\.?)[Mm](?P<dot>\.?)"
    r"(?!\w)")
_CLOCK = re.compile(
    r"(?<![\w.:,])(?P<h>\d{1,2}):(?P<m>[0-5]\d)(?:\s?[-–]\s?(?P<h2>\d{1,2}):(?P<m2>[0-5]\d))?"
    r"(?![\d:]|[.,]\d)(?P<noon>\s+(?:noon|midnight)\b)?")
_AMPM_END = re.compile(r"\d\s?[AaPp]\.[Mm]\.$")
_AMPM_TO = re.compile(r"(?<=\b[AP]M)\s?[-–]\s?(?=\d)")
_VERSION = re.compile(r"(?<![\w.\-/@])v(?=\d+(?:\.\d+)*(?!\w|\.\d))")
_RANGE = re.compile(
    rf"(?<![\w.,:/'’\-–—])(?P<a>{_NUM})(?P<dash>[-–—])(?P<b>{_NUM})"
    r"(?![\w'’]|[.,:]\d|[-–—/]\d|\s*[-=<>+*/^×÷])")
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
    """``s`` with a closing period unless it already ends in punctuation (the dot of a
    closing "a.m."/"p.m." does not count: it goes with the abbreviation)."""
    end = _PICTOGRAPH.sub("", s).rstrip("*_` ")
    return s if _END_PUNCT.search(end) and not _AMPM_END.search(end) else s + "."


def _compare(m: re.Match) -> str:
    op = m.group(1) or m.group(2)
    return f" {_COMPARE_WORDS.get(op, 'equals')} "


def _degrees(m: re.Match) -> str:
    unit = m.group(1) or {"℃": "C", "℉": "F"}.get(m.group(2) or "")
    return {"C": " degrees Celsius", "F": " degrees Fahrenheit"}.get(unit, " degrees ")


def _value(number: str) -> float:
    return float(number.replace(",", ""))


def _per(per: str) -> str:
    """``"/kg/day"`` after a quantity as ``" per kilogram per day"``."""
    words = []
    for word in filter(None, per.split("/")):
        unit = _UNITS.get(_UNIT_SPELLINGS.get(word, word))
        words.append(f" per {unit[0] if unit else _PER_WORDS.get(word, word)}")
    return "".join(words)


def _money_amount(amount: str, names: tuple[str, str, str, str]) -> str:
    """One amount of a currency in words: ``19.99`` -> "19 dollars 99", ``0.5`` -> "50 cents"."""
    one, many, cent, cents = names
    if re.fullmatch(r"\d+,\d\d", amount):  # a decimal comma: 19,99 €
        whole, frac = amount.split(",")
    else:
        whole, _, frac = amount.partition(".")
    if frac.strip("0") and (not cent or len(frac) > 2):
        return f"{amount} {many}"  # 1.5 yen, 0.125 dollars
    main = f"{whole} {one if whole == '1' else many}"
    hundredths = int(frac.ljust(2, "0")) if frac else 0
    if not hundredths:
        return main
    small = f"{hundredths} {cent if hundredths == 1 else cents}"
    if not whole.strip("0"):
        return small
    return f"{main} and {small}" if hundredths < 10 else f"{main} {hundredths}"


def _money(m: re.Match) -> str:
    names = _CURRENCIES[m["cur"].strip()]
    a, b, mag = m["a"], m["b"], (m["mag"] or "").strip()
    neg = "-" if m.groupdict().get("neg") else ""
    if mag:
        amount = f"{a} to {b}" if b else a
        text = f"{amount} {_MAGNITUDES.get(mag, mag)} {names[1]}"
    elif b and not any("." in x or re.fullmatch(r"\d+,\d\d", x) for x in (a, b)):
        text = f"{a} to {b} {names[1]}"
    elif b:
        text = f"{_money_amount(a, names)} to {_money_amount(b, names)}"
    else:
        text = _money_amount(a, names)
    return neg + text + _per(m["per"])


def _not_seconds(m: re.Match) -> bool:
    """Whether an ``s`` glued to a number is a plural ("the 1990s", "1s and 0s")."""
    a, before = m["a"], m.string[:m.start()]
    if a.endswith("0") and (len(a) == 4 or _DECADE_BEFORE.search(before)):
        return True
    return a in ("0", "1") and bool(
        _BITS_BEFORE.search(before) or _BITS_AFTER.match(m.string, m.end()))


def _quantity(m: re.Match) -> str:
    a, b, sep, unit = m["a"], m["b"], m["sep"], _UNIT_SPELLINGS.get(m["unit"], m["unit"])
    if unit[0] in "°º" and len(unit) > 1:
        unit = "°" + unit[1:].strip()
    if unit == "s" and not sep and b is None and _not_seconds(m):
        return m.group()
    if unit == "m" and not sep and b is None and _COUNTED.match(m.string, m.end()):
        return f"{a} million"  # "5m users"
    one, many = _UNITS[unit]
    per = _per(m["per"])
    if b is not None:
        if _value(a) < _value(b):
            return f"{a} to {b} {many}{per}"
        return f"{a}{m['dash']}{b} {one if b == '1' else many}{per}"  # not a range: 15 - 5 kg
    if sep == "-":  # a compound adjective: "a 5-min walk"
        return f"{a} {one}{per}"
    return f"{a} {one if a == '1' else many}{per}"


def _hour_minutes(h: str, m: str | None) -> str:
    """``3:45`` as written, ``3:05`` as "3 oh 5", ``3:00`` as "3" (espeak reads "3 zero 5")."""
    h = str(int(h))
    if not m or m == "00":
        return h
    return f"{h} oh {m[1]}" if m[0] == "0" else f"{h}:{m}"


def _clock_ampm(m: re.Match) -> str:
    if not all(1 <= int(h) <= 12 for h in filter(None, (m["h"], m["h2"]))):
        return m.group()
    text = _hour_minutes(m["h"], m["m"])
    if m["h2"]:
        text += f" to {_hour_minutes(m['h2'], m['m2'])}"
    text += " AM" if m["ap"] in "Aa" else " PM"
    if m["dot"]:  # "p.m." may also end the sentence; "pm." always does
        rest = m.string[m.end():]
        if not m["dots"] or not rest.strip() or re.match(r"\s+[A-Z]", rest):
            text += "."
    return text


def _clock_words(h: str, m: str, noon: bool) -> str | None:
    """A time without AM/PM: ``9:00`` "9 o'clock", ``17:00`` "17 hundred", ``0:00``
    "midnight", ``15:05`` "15 oh 5"; ``None`` if it is no time."""
    hour = int(h)
    if hour > 24:
        return None
    if m != "00":
        return _hour_minutes(h, m) if m[0] == "0" else f"{h}:{m}"
    if noon:
        return str(hour)
    if hour in (0, 24):
        return "midnight"
    return f"{hour} o'clock" if hour <= 12 else f"{hour} hundred"


def _clock(m: re.Match) -> str:
    first = _clock_words(m["h"], m["m"], bool(m["noon"]) and not m["h2"])
    second = _clock_words(m["h2"], m["m2"], bool(m["noon"])) if m["h2"] else ""
    if first is None or second is None:
        return m.group()
    return first + (f" to {second}" if second else "") + (m["noon"] or "")


def _range(m: re.Match) -> str:
    a, b = m["a"], m["b"]
    if m["dash"] == "-" and (_value(a) >= _value(b) or (len(a), len(b)) == (3, 4)):
        return m.group()  # 4-3 (a score), 555-1234 (a phone number)
    return f"{a} to {b}"


def _speak_numbers(s: str) -> str:
    """Prices, units, times, versions and ranges around numbers in words."""
    if not _DIGIT.search(s):
        return s
    s = _VERSION.sub("version ", s)
    s = _CLOCK_AMPM.sub(_clock_ampm, s)
    s = _AMPM_TO.sub(" to ", s)
    s = _CLOCK.sub(_clock, s)
    s = _MONEY_BEFORE.sub(_money, s)
    s = _MONEY_AFTER.sub(_money, s)
    s = _QUANTITY.sub(_quantity, s)
    return _RANGE.sub(_range, s)


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
    s = _speak_numbers(s)
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
