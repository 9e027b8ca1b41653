"""Built-in rule-based LLM: an ELIZA-style responder (alias ``rules``).

This module owns :class:`OfflineLLM`, kept for demos and tests that need the same answer
every time (the default is the local model). It needs no network, no model files and no
Django: ranked keyword rules pick a reply (with pronoun reflection, a little memory of the
conversation, the real local time and simple arithmetic), which is then streamed in small
word-sized deltas like a model.
"""
from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from streaming.protocols import LLM, message_text

SELF_DESCRIPTION = (
    "I am the rule-based responder built into this app; "
    "set LLM_PROVIDER to local for the local model, or OPENAI_API_KEY for a hosted one."
)
_I = re.IGNORECASE
_CLAUSE = r"(?P<r>[^.!?;]+)"
_DELTA = re.compile(r"\S+\s*")
_SPACES = re.compile(r"\s+")


@dataclass
class _Context:
    """What a rule handler may use to build its candidate replies."""

    text: str
    name: str | None = None
    topics: list[str] = field(default_factory=list)

    @property
    def n(self) -> str:
        """``", Name"`` when the user's name is known, else ``""``."""
        return f", {self.name}" if self.name else ""


Handler = Callable[[re.Match, _Context], list[str]]


@dataclass(frozen=True)
class _Rule:
    """A keyword rule: the highest-ranked rule whose handler gives candidates wins."""

    rank: int
    pattern: re.Pattern
    handler: Handler
    greets: bool = False  # the reply already greets, so no "Hello." prefix
    recalls: bool = False  # may refer back to an earlier topic


# -- pronoun reflection -------------------------------------------------------------

_REFLECT = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "am": "are", "i'm": "you're", "im": "you're", "i've": "you've", "i'll": "you'll",
    "i'd": "you'd", "your": "my", "yours": "mine", "yourself": "myself",
    "yourselves": "ourselves", "you're": "I'm", "you've": "I've", "you'll": "I'll",
    "you'd": "I'd",
}
_AUX = {"are", "were", "do", "did", "can", "could", "will", "would", "should", "have", "has"}
_SUBJECT_NEXT = _AUX | {
    "always", "never", "really", "just", "also", "know", "think", "want", "need", "like",
    "love", "hate", "said", "say", "see", "feel", "seem", "get", "got", "make", "made",
    "don't", "didn't", "can't", "won't", "wouldn't", "aren't", "weren't", "must", "may",
}


def reflect(fragment: str) -> str:
    """Swap first and second person: ``"I am sad about my job"`` -> ``"you are sad ..."``."""
    parts = re.split(r"([A-Za-z']+)", fragment)
    words = [p.lower() for p in parts[1::2]]
    out = parts[:]
    for k, low in enumerate(words):
        prev = words[k - 1] if k else ""
        nxt = words[k + 1] if k + 1 < len(words) else ""
        if low == "you":
            word = "I" if prev in _AUX or nxt in _SUBJECT_NEXT else "me"
        elif low == "are" and "you" in (prev, nxt):
            word = "am"
        elif low == "were" and "you" in (prev, nxt):
            word = "was"
        elif low == "was" and prev == "i":
            word = "were"
        else:
            word = _REFLECT.get(low, parts[2 * k + 1])
        out[2 * k + 1] = word
    return "".join(out).strip()


# -- arithmetic -----------------------------------------------------------------------

_UNITS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen"))}
_TENS = {w: 10 * (i + 2) for i, w in enumerate((
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"))}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6}
_OP_PHRASES = [
    (re.compile(r"\bmultiplied by\b"), " * "), (re.compile(r"\bdivided by\b"), " / "),
    (re.compile(r"\b(?:raised )?to the power of\b"), " ^ "),
    (re.compile(r"\bsquare root of\b"), " sqrt "), (re.compile(r"(?<=\d),(?=\d{3})"), ""),
]
_MATH_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+|[-+*/^×÷]")
_OPS = {"+": "+", "plus": "+", "-": "-", "minus": "-", "*": "*", "x": "*", "×": "*",
        "times": "*", "/": "/", "÷": "/", "over": "/", "^": "^"}
_OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "^": "to the power of"}
# Words allowed around a sum for the message to count as an arithmetic question.
_MATH_FILLER = {
    "what", "s", "is", "how", "much", "the", "answer", "to", "of", "please", "can", "could",
    "you", "tell", "me", "calculate", "compute", "work", "out", "solve", "equal", "equals",
    "do", "does", "make", "makes", "hi", "hello", "hey", "ok", "okay", "so", "um", "uh",
    "and", "now", "then", "exactly", "quick", "question", "result", "i", "know", "want",
}


class _Calc:
    """Recursive-descent evaluator over number/operator tokens (precedence: ^ > */ > +-)."""

    def __init__(self, items: list) -> None:
        self.items, self.pos, self.ops = items, 0, 0

    def _peek(self) -> object:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def _binary(self, ops: tuple[str, ...], sub: Callable[[], tuple]) -> tuple:
        value, words = sub()
        while isinstance(op := self._peek(), str) and op in ops:
            self.pos += 1
            right, rwords = sub()
            value, words = _apply(op, value, right), f"{words} {_OP_WORDS[op]} {rwords}"
            self.ops += 1
        return value, words

    def expr(self) -> tuple:
        return self._binary(("+", "-"), lambda: self._binary(("*", "/"), self._power))

    def _power(self) -> tuple:
        base, words = self._unary()
        if self._peek() == "^":
            self.pos += 1
            exp, ewords = self._power()
            self.ops += 1
            return _apply("^", base, exp), f"{words} to the power of {ewords}"
        return base, words

    def _unary(self) -> tuple:
        item = self._peek()
        self.pos += 1
        if item == "-":
            value, words = self._unary()
            return -value, f"negative {words}"
        if item == "sqrt":
            value, words = self._unary()
            self.ops += 1
            if value < 0:
                raise ValueError("negative root")
            return math.sqrt(value), f"the square root of {words}"
        if isinstance(item, (int, float)):
            return item, _fmt(item)
        raise SyntaxError("operand expected")


def _apply(op: str, a: float, b: float) -> float:
    """One binary operation, refusing numbers too large to say."""
    if op == "^" and (abs(b) > 64 or (a < 0 and b != int(b))):
        raise OverflowError
    if op == "+":
        result = a + b
    elif op == "-":
        result = a - b
    elif op == "*":
        result = a * b
    else:
        result = a / b if op == "/" else a**b
    if abs(result) >= 1e15:
        raise OverflowError
    return result


def _fmt(x: float) -> str:
    """A number the way it should be said: integers plain, others to 4 decimals."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    if isinstance(x, int):
        return str(x)
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _math_items(text: str) -> list:
    """Tokens of ``text``: numbers, operators (``+ - * / ^ sqrt``) and other words."""
    low = text.lower().replace("what's", "what is")
    for pattern, repl in _OP_PHRASES:
        low = pattern.sub(repl, low)
    items: list = []
    total: int | None = None  # a number being said in words ("one hundred and five")
    current, after_scale = 0, False
    for tok in [*_MATH_TOKEN.findall(low), ""]:
        if tok in _UNITS or tok in _TENS or (tok in _SCALES and total is not None):
            total = total or 0
            if tok == "hundred":
                current = (current or 1) * 100
            elif tok in _SCALES:
                total, current = total + (current or 1) * _SCALES[tok], 0
            else:
                current += _UNITS[tok] if tok in _UNITS else _TENS[tok]
            after_scale = tok in _SCALES
            continue
        if tok == "and" and after_scale:
            continue
        if total is not None:
            items.append(total + current)
            total, current, after_scale = None, 0, False
        if tok[:1].isdigit():
            items.append(float(tok) if "." in tok else int(tok))
        elif tok in ("squared", "cubed"):
            items += ["^", 2 if tok == "squared" else 3]
        elif tok in ("sqrt", "negative"):
            items.append("sqrt" if tok == "sqrt" else "-")
        elif tok:
            items.append(_OPS.get(tok, tok))
    return items


def solve(text: str) -> list[str]:
    """Candidate answers to a simple arithmetic question in ``text`` ([] if there is none).

    The message must be just the sum and a few filler words ("what is", "please"), so
    that "what happened in 2020-2021" is not taken for a subtraction.
    """
    items = _math_items(text)
    words_only = all(w in _MATH_FILLER or w in _OPS or w == "sqrt" for w in items
                     if isinstance(w, str))
    for start, item in enumerate(items):
        if isinstance(item, str) and item not in ("-", "sqrt"):
            continue
        calc = _Calc(items[start:])
        try:
            value, said = calc.expr()
        except (SyntaxError, TypeError):
            continue
        except ZeroDivisionError:
            error = "You can't divide by zero, so there's no answer to that one."
        except OverflowError:
            error = "That number is too big for me to say out loud."
        except ValueError:
            error = "The square root of a negative number isn't a real number."
        else:
            rest = items[:start] + items[start + calc.pos:]
            if not calc.ops or not all(w in _MATH_FILLER for w in rest):
                return []
            said, value = f"{said[0].upper()}{said[1:]}", _fmt(value)
            return [f"{said} is {value}.", f"{said} equals {value}.", f"That comes to {value}."]
        return [error] if words_only else []
    return []


# -- rules ----------------------------------------------------------------------------


def _t(*templates: str) -> Handler:
    """A handler that formats templates with ``{r}`` (reflected clause) and ``{n}``."""

    def handler(m: re.Match, ctx: _Context) -> list[str]:
        groups = m.groupdict()
        r = reflect(groups.get("r") or "").rstrip(" ,:-")
        if "r" in groups and not r:
            return []
        return [t.format(r=r, n=ctx.n) for t in templates]

    return handler


def _name_said(m: re.Match, ctx: _Context) -> list[str]:
    if not ctx.name or m.group(1).lower() in _NOT_NAMES:
        return []
    return [f"Nice to meet you, {ctx.name}. What would you like to talk about?",
            f"Hello {ctx.name}, it's good to meet you. How are you feeling today?",
            f"Nice to meet you, {ctx.name}. What's on your mind today?"]


def _name_asked(m: re.Match, ctx: _Context) -> list[str]:
    if ctx.name:
        return [f"Your name is {ctx.name}.", f"You told me your name is {ctx.name}.",
                f"You're {ctx.name}, if I remember correctly."]
    return ["You haven't told me your name yet. What should I call you?",
            "I don't know your name yet. What is it?"]


def _clock(m: re.Match, ctx: _Context) -> list[str]:
    now = datetime.now()
    clock = f"{now.hour % 12 or 12}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"
    date = f"{now:%A}, {now:%B} {now.day}, {now.year}"
    low = ctx.text.lower()
    wants_date = bool(re.search(r"\b(?:date|day|today)\b", low))
    if wants_date and "time" in low:
        return [f"It's {clock} on {date}.", f"Right now it's {clock} on {date}."]
    if wants_date:
        return [f"Today is {date}.", f"It's {date} today."]
    return [f"It's {clock}.", f"Right now it's {clock}.", f"The time is {clock}."]


def _greeting(m: re.Match, ctx: _Context) -> list[str]:
    part = re.search(r"good (morning|afternoon|evening)", ctx.text, _I)
    if part:
        hi = f"Good {part.group(1).lower()}{ctx.n}"
        return [f"{hi}. How are you feeling today?", f"{hi}! What's on your mind?"]
    return [f"Hello{ctx.n}. How are you feeling today?",
            f"Hi{ctx.n}! What would you like to talk about?",
            f"Hey there{ctx.n}. What's on your mind?"]


def _want(m: re.Match, ctx: _Context) -> list[str]:
    verb, r = m.group("v").lower(), reflect(m.group("r")).rstrip(" ,:-")
    if r.lower().startswith("to "):
        r = r[3:]
        return [f"Why do you {verb} to {r}?", f"What would it mean to you if you could {r}?",
                f"What is stopping you from being able to {r}?"]
    return [f"Why do you {verb} {r}?", f"What would it mean to you if you got {r}?",
            f"Suppose you got {r} soon. What would you do then?"]


def _family(m: re.Match, ctx: _Context) -> list[str]:
    member, rest = m.group("f").lower(), reflect(m.group("r") or "").rstrip(" ,:-")
    out = [f"Tell me more about your {member}.",
           f"How do you get along with your {member}?"]
    if rest:
        out.append(f"Your {member} {rest}? How does that make you feel?")
    return out


_NEG = ("sad|unhappy|depressed|down|upset|angry|mad|anxious|worried|nervous|scared|"
        "afraid|stressed|tired|exhausted|lonely|frustrated|bored|sick|hurt|miserable|"
        "overwhelmed|confused|lost|terrible|awful|bad")
_POS = ("happy|glad|excited|great|good|fine|okay|ok|well|wonderful|fantastic|amazing|"
        "relaxed|calm|proud|grateful|better|cheerful")
_I_AM = r"\bi(?:'m| am|m)\s+(?:(?:so|very|really|feeling|a bit|kind of|quite|pretty|too)\s+)*"
_FAMILY = ("mother|mom|mum|father|dad|sister|brother|wife|husband|son|daughter|family|"
           "parents|children|kids|grandmother|grandma|grandfather|grandpa|aunt|uncle|"
           "cousin|partner|girlfriend|boyfriend|friends?|boss")
_NAME = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+([A-Za-z][A-Za-z'-]*)", _I)
_NOT_NAMES = {"not", "a", "an", "the", "what", "is", "just", "actually", "really"}


def _rule(rank: int, pattern: str, handler: Handler, **flags: bool) -> _Rule:
    return _Rule(rank, re.compile(pattern, _I), handler, **flags)


_RULES = [
    _rule(85, _NAME.pattern, _name_said, greets=True),
    _rule(85, r"\b(?:what(?:'s| is) my name|do you (?:know|remember) my name|who am i)\b",
          _name_asked),
    _rule(80, r"\bwhat(?:'s| is)? (?:the )?(?:time|date|day)\b|\bwhat time is it\b|"
          r"\bwhat day is it\b|\btoday'?s date\b|\bcurrent (?:time|date)\b|"
          r"\btell me the (?:time|date)\b|\bwhat is today\b", _clock),
    _rule(70, r"\b(?:who|what) are you\b|\bwhat(?:'s| is) your name\b|\bwho (?:made|built|"
          r"created) you\b|\btell me about yourself\b|\bare you (?:a |an )?(?:bot|robot|"
          r"human|person|real|ai|machine|computer|program|chatgpt|gpt|language model|llm)\b",
          _t(SELF_DESCRIPTION, "Good question. " + SELF_DESCRIPTION,
             "I'm a small set of rules, not a language model. " + SELF_DESCRIPTION)),
    _rule(65, r"^(?:help|help me|can you help(?: me)?|what can i (?:say|ask|do))\W*$|"
          r"\bwhat can you do\b|\bhow does this work\b",
          _t("I'm a simple offline responder. You can tell me how you feel, ask me the time "
             "or the date, or give me a sum like 12 times 7. For a real model, configure "
             "OPENAI_API_KEY or OPENAI_BASE_URL.",
             "Just talk to me about what's on your mind, and I'll listen. I can also tell "
             "you the time and do simple arithmetic. A real model needs OPENAI_API_KEY or "
             "OPENAI_BASE_URL.")),
    _rule(60, r"\bhow (?:are|r) (?:you|u)\b|\bhow(?:'s| is) it going\b|\bhow are things\b|"
          r"\bhow do you do\b|\bhow have you been\b",
          _t("I'm doing well{n}, thank you for asking. How are you feeling today?",
             "I'm fine, thanks. I'm always happy to talk. How about you?",
             "Pretty good, thanks for asking. What's on your mind today?"), greets=True),
    _rule(55, r"\b(?:bye|goodbye|good night|goodnight|see you|see ya|farewell|"
          r"talk to you later|gotta go|have to go)\b",
          _t("Goodbye{n}. It was nice talking with you.",
             "Take care{n}. Come back any time you want to talk.",
             "Bye for now{n}. I enjoyed our conversation."), greets=True),
    _rule(50, r"\b(?:thanks|thank you|thank u|thx|cheers|appreciate it)\b",
          _t("You're welcome{n}. Is there anything else on your mind?",
             "Happy to help. What else would you like to talk about?",
             "Any time{n}. How are you feeling now?")),
    _rule(45, r"\b(?:sorry|i apologi[sz]e)\b",
          _t("There's no need to apologize.", "Please don't worry about it. Go on.",
             "Apologies aren't necessary. What were you thinking about?")),
    _rule(36, rf"{_I_AM}(?P<r>(?:{_NEG})\b[^.!?;]*)",
          _t("Why do you say you are {r}?", "How long have you been {r}?",
             "I'm sorry to hear you are {r}. What do you think is behind it?")),
    _rule(36, rf"{_I_AM}(?P<r>(?:{_POS})\b[^.!?;]*)",
          _t("I'm glad you are {r}. What has been going well?",
             "It's nice to hear you are {r}. Tell me more.", "Why do you say you are {r}?")),
    _rule(34, r"\bi (?:feel|felt|am feeling|'m feeling|have been feeling)\s+" + _CLAUSE,
          _t("Why do you feel {r}?", "Do you often feel {r}?",
             "Tell me more about feeling {r}.")),
    _rule(30, rf"\bmy\s+(?P<f>{_FAMILY})\b(?P<r>[^.!?;]*)", _family),
    _rule(30, r"\bi (?:really |just |do )?(?P<v>want|need)\s+" + _CLAUSE, _want),
    _rule(28, r"\b(?:can|could|would|will) you\s+" + _CLAUSE,
          _t("I'm only a simple offline responder, so I may not be able to {r}. What would "
             "it mean to you if I could?", "You'd like me to {r}? Tell me more about that.",
             "Whether I can {r} depends on how much a few rules can do. Why do you ask?")),
    _rule(27, r"\bcan i\s+" + _CLAUSE,
          _t("Whether you can {r} depends more on you than on me.",
             "Do you want to be able to {r}?", "What would happen if you did {r}?")),
    _rule(25, r"\byou(?:'re| are| r)\s+" + _CLAUSE,
          _t("What makes you think I am {r}?", "Does it please you to believe I am {r}?",
             "Perhaps you would like me to be {r}.")),
    _rule(24, r"\bare you\s+" + _CLAUSE,
          _t("Why are you interested in whether I am {r}?",
             "Would you prefer it if I were not {r}?", "Perhaps you believe I am {r}.")),
    _rule(24, r"\bbecause\b",
          _t("Is that the real reason?", "What other reasons come to mind?",
             "Does that reason explain anything else?")),
    _rule(26, r"\bi (?:think|believe|guess|suppose)\s+(?:that\s+)?" + _CLAUSE,
          _t("Do you really think {r}?", "But you are not sure {r}?",
             "Why do you think {r}?")),
    _rule(20, r"\bi (?:can't|cannot|can not)\s+" + _CLAUSE,
          _t("How do you know you can't {r}?", "Have you tried?",
             "Perhaps you could {r} if you tried.")),
    _rule(20, _I_AM + _CLAUSE,
          _t("Why do you say you are {r}?", "How long have you been {r}?",
             "Do you enjoy being {r}?")),
    _rule(18, r"\b(?:always|never|everyone|everybody|nobody|no one)\b",
          _t("Can you think of a specific example?", "What incident are you thinking of?",
             "Is it really that absolute?")),
    _rule(15, r"^why\b", _t("Why do you ask?", "What do you think?",
                            "That's a good question. What answer would satisfy you?")),
    _rule(13, r"^(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening))\b",
          _greeting, greets=True),
    _rule(12, r"\?\s*$|^(?:what|who|where|when|how|which|is|do|does|did|should|will)\b",
          _t("That's a good question. I'm a simple offline responder and can't look things "
             "up, so what do you think?", "Why do you ask?",
             "I can't answer that well without a real model. What made you wonder?"),
          recalls=True),
    _rule(10, r"^(?:yes|yeah|yep|yup|sure|certainly|definitely|absolutely|of course)\b",
          _t("You seem quite sure. Can you tell me more?", "I see. Why do you say so?",
             "Okay. Tell me more about that."), recalls=True),
    _rule(10, r"^(?:no|nope|nah|not really|never mind)\b",
          _t("Why not?", "I see. What would you rather talk about?", "Okay. Are you sure?"),
          recalls=True),
    _rule(5, r"\bmy\s+" + _CLAUSE,
          _t("Your {r}? Tell me more.", "Why do you say your {r}?",
             "I see. Your {r}. How do you feel about that?"), recalls=True),
]
_FALLBACK = _rule(0, r"", _t(
    "Please tell me more.", "I see. How does that make you feel?",
    "That's interesting. Why do you say that?", "Go on{n}, I'm listening.",
    "How do you feel about that?", "What does that suggest to you?"), recalls=True)
_RULES.sort(key=lambda r: -r.rank)  # stable: equal ranks keep their listed order
_GREETING = next(r for r in _RULES if r.handler is _greeting)
_TOPIC = re.compile(r"\bmy\s+(?:(?:new|old|best|little|big)\s+)?([a-z]+)", _I)
_NOT_TOPICS = {"name", "own", "god", "gosh", "goodness", "mind", "opinion", "guess", "turn",
               "self", "bad", "pleasure", "fault", "way"}


class OfflineLLM(LLM):
    """Rule-based responder implementing the ``LLM`` protocol without any model."""

    label = "Rule-based responder (built-in, deterministic)"

    def __init__(self, *, token_delay_ms: float = 0.0, seed: int | None = None) -> None:
        self._delay = max(0.0, float(token_delay_ms)) / 1000.0
        self._seed = seed

    async def stream(self, messages: list[dict]) -> AsyncIterator[str]:
        """Yield the reply to the last user message in word-sized deltas."""
        for delta in _DELTA.findall(self.reply(messages)):
            await asyncio.sleep(self._delay)
            yield delta

    def reply(self, messages: list[dict]) -> str:
        """The whole reply to the last user message (deterministic for seed and input)."""
        users = [message_text(m) for m in messages
                 if isinstance(m, dict) and m.get("role") == "user"]
        said = [_SPACES.sub(" ", message_text(m)).strip() for m in messages
                if isinstance(m, dict) and m.get("role") == "assistant"]
        text = _SPACES.sub(" ", users[-1].replace("\u2019", "'")).strip() if users else ""
        rng = random.Random(f"{self._seed}|{len(messages)}|{text}")
        if not users:
            cands = ["Hello! I'm the offline responder. What would you like to talk about?",
                     "Hi there! What would you like to talk about today?"]
        elif not text:
            cands = ["I didn't catch that. Could you say it again?",
                     "Sorry, I didn't hear anything. Could you try again?",
                     "I didn't quite catch that. Could you repeat it?"]
        else:
            cands = self._candidates(text, users, rng)
        return _pick(cands, said, rng)

    def _candidates(self, text: str, users: list[str], rng: random.Random) -> list[str]:
        """Candidate replies from the best matching rule (or arithmetic)."""
        ctx = _Context(text=text)
        for earlier in users:
            for m in _NAME.finditer(earlier):
                if m.group(1).lower() not in _NOT_NAMES:
                    ctx.name = m.group(1)[0].upper() + m.group(1)[1:]
        for earlier in reversed(users[:-1]):
            for m in _TOPIC.finditer(earlier):
                topic = m.group(1).lower()
                if topic not in _NOT_TOPICS | set(ctx.topics) and topic not in text.lower():
                    ctx.topics.append(topic)
        cands = solve(text)
        rule: _Rule | None = None
        if not cands:
            rule = _FALLBACK
            for candidate in _RULES:
                m = candidate.pattern.search(text)
                if m and (cands := candidate.handler(m, ctx)):
                    rule = candidate
                    break
            else:
                cands = _FALLBACK.handler(_FALLBACK.pattern.search(text), ctx)
        if rule is not None and rule.recalls and ctx.topics:
            topic = ctx.topics[0] if rng.random() < 0.6 else rng.choice(ctx.topics)
            cands += [f"Earlier you mentioned your {topic}. Is that connected to this?",
                      f"Let's go back to your {topic} for a moment. How is that going?"]
        if (rule is None or not rule.greets) and _GREETING.pattern.search(text):
            cands = [f"Hello{ctx.n}. {c}" for c in cands]
        return cands


def _pick(cands: list[str], said: list[str], rng: random.Random) -> str:
    """Choose a candidate, avoiding recent replies and never repeating the last one."""
    cands = cands[:]
    rng.shuffle(cands)
    last, recent = (said[-1] if said else ""), set(said[-3:])
    for pool in ([c for c in cands if c not in recent], [c for c in cands if c != last]):
        if pool:
            return pool[0]
    for prefix in ("As I said: ", "Like I said: ", "Once more: "):
        if prefix + cands[0] != last:
            return prefix + cands[0]
    return cands[0]  # unreachable: at most one prefix can equal the last reply
