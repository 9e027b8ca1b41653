"""Turn-taking decisions from speech probabilities and transcripts (plain Python).

:class:`Endpointer` turns the VAD's probability per window into an utterance: it starts
when speech has lasted ``min_speech_ms`` (with ``pre_roll_ms`` of audio before it), and
ends after ``end_silence_ms`` of silence. At its end the caller transcribes it and either
commits it (:meth:`Endpointer.commit`) or, when the words end mid-sentence, waits longer
(:meth:`Endpointer.extend`); speech that comes back before the commit continues the same
utterance. :func:`ends_mid_sentence` and :func:`is_echo` are the transcript checks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

IDLE, SPEAKING, ENDED = "idle", "speaking", "ended"

WORD = re.compile(r"[a-z0-9']+")
# Words after which an English sentence cannot end: the speaker has paused mid-sentence.
CONTINUATIONS = frozenset("""
    a an the and or but nor because if while although though unless than whose to of in
    at by for with from into onto as my your his our their very i we they she
""".split())


@dataclass
class Endpointer:
    """The utterances of one continuous stream (times in ms of that stream's audio)."""

    window_ms: float
    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_ms: float = 96.0
    end_silence_ms: float = 500.0
    pre_roll_ms: float = 256.0
    max_utterance_ms: float = 30_000.0

    def __post_init__(self) -> None:
        self.state = IDLE
        self.now_ms = 0.0
        self.start_ms: float | None = None  # of the speech (without the pre-roll)
        self.speech_ms = 0.0  # speech heard in the utterance so far
        self.silence_ms = 0.0  # silence since the last speech window
        self._end_after_ms = self.end_silence_ms
        self._run_ms = 0.0  # consecutive speech while idle
        self._in_speech = False
        self._windows: list[bytes] = []  # the utterance's audio (with its pre-roll)

    @property
    def run_ms(self) -> float:
        """Speech so far while idle (an utterance starts when it reaches
        ``min_speech_ms``; a blip falls back to 0)."""
        return self._run_ms

    @property
    def audio(self) -> bytes:
        """The utterance's audio so far (PCM of the windows fed)."""
        return b"".join(self._windows)

    def feed(self, probability: float, pcm: bytes) -> str | None:
        """One window: returns ``"onset"`` at the first window of speech (it may be a
        blip), ``"start"`` when an utterance starts (speech lasted ``min_speech_ms``),
        ``"end"`` when its silence is long enough (or it is too long), ``"resume"`` when
        speech comes back after an end that was not committed, else ``None``."""
        self.now_ms += self.window_ms
        speech = probability >= self.threshold or (
            self._in_speech and probability >= self.neg_threshold)
        self._in_speech = speech
        if self.state == IDLE:
            return self._idle(speech, pcm)
        self._windows.append(pcm)
        if speech:
            self.speech_ms += self.window_ms
            self.silence_ms = 0.0
            self._end_after_ms = self.end_silence_ms  # an extension was for that pause only
            if self.state == ENDED:
                self.state = SPEAKING
                return "resume"
        else:
            self.silence_ms += self.window_ms
        if self.state == SPEAKING and (
                self.silence_ms >= self._end_after_ms
                or self.now_ms - (self.start_ms or 0.0) >= self.max_utterance_ms):
            self.state = ENDED
            return "end"
        return None

    def _idle(self, speech: bool, pcm: bytes) -> str | None:
        self._windows.append(pcm)
        keep = int(self.pre_roll_ms // self.window_ms) + int(self.min_speech_ms //
                                                             self.window_ms) + 1
        del self._windows[:-keep]
        self._run_ms = self._run_ms + self.window_ms if speech else 0.0
        if self._run_ms < self.min_speech_ms:
            return "onset" if self._run_ms == self.window_ms else None
        self.state = SPEAKING
        self.start_ms = self.now_ms - self._run_ms
        self.speech_ms, self.silence_ms = self._run_ms, 0.0
        self._end_after_ms = self.end_silence_ms
        return "start"

    def extend(self, extra_ms: float) -> None:
        """The words so far end mid-sentence: end only after ``extra_ms`` more silence."""
        self.state = SPEAKING
        self._end_after_ms = self.silence_ms + extra_ms

    def commit(self) -> bytes:
        """Take the utterance (its audio) and listen for the next one."""
        audio = self.audio
        self.state = IDLE
        self.start_ms = None
        self.speech_ms = self.silence_ms = self._run_ms = 0.0
        self._windows = []
        return audio

    def drop(self) -> None:
        """Forget the utterance (not a turn)."""
        self.commit()


def words(text: str) -> list[str]:
    """Lower-case words without punctuation."""
    return WORD.findall(text.lower())


def ends_mid_sentence(text: str) -> bool:
    """The transcript stops where a sentence cannot end: after a comma, a dash, an
    ellipsis, or a word like "and", "the", "to" (the speaker paused to think)."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith((",", "-", "–", "—", "...", "…", ":")):
        return True
    said = words(stripped)
    return bool(said) and said[-1] in CONTINUATIONS and not stripped.endswith(("?", "!"))


def is_echo(heard: str, said: str, *, min_share: float = 0.5,
            min_sound_alike: float = 0.7) -> bool:
    """``heard`` is the bot's own voice coming back: at least ``min_share`` of its word
    pairs were said by the bot just so (Whisper changes a few words of a voice it hears
    through a room, but the bot's phrases stay; a user's own sentence shares common words
    with the answer, rarely its pairs), or, for audio chopped by a barge-in that Whisper
    garbles ("the see it is a bass" for "the sea is a vast"), at least
    ``min_sound_alike`` of its words (three or more) sound like a stretch of the bot's,
    in its order.
    A single word is an echo if the bot said it."""
    heard_words, said_words = words(heard), words(said)
    if not heard_words or not said_words:
        return False
    if len(heard_words) == 1:
        return heard_words[0] in said_words
    said_pairs = set(pairwise(said_words))
    pairs = list(pairwise(heard_words))
    if sum(pair in said_pairs for pair in pairs) / len(pairs) >= min_share:
        return True
    return (len(heard_words) >= 3 and
            sound_alike_in_order(heard_words, said_words) / len(heard_words) >= min_sound_alike)


def sound_alike_in_order(heard: list[str], said: list[str]) -> int:
    """The most ``heard`` words that match, in the same order, words of one stretch of
    ``said`` hardly longer than what was heard (an echo is a stretch of the bot's speech,
    not common words picked across it); a word matches one spelled alike ("see" and
    "sea")."""
    matches = [[alike(word, candidate) for candidate in said] for word in heard]
    span = len(heard) + 2
    best = 0
    for start in range(max(1, len(said) - span + 1)):
        row = [0] * (span + 1)  # the longest common subsequence, one row at a time
        for match in matches:
            diagonal = 0
            for j, same in enumerate(match[start:start + span], start=1):
                above = row[j]
                row[j] = diagonal + 1 if same else max(row[j], row[j - 1])
                diagonal = above
        best = max(best, row[-1])
    return best


def alike(a: str, b: str) -> bool:
    """The same word, or two of three letters or more spelled mostly alike."""
    if a == b:
        return True
    return min(len(a), len(b)) >= 3 and SequenceMatcher(None, a, b).ratio() >= 0.6
