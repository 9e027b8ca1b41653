"""The lazy ``openai.AsyncOpenAI`` client shared by the OpenAI adapters (LLM, STT, TTS) and
the translation of SDK errors into ``ProviderError``. Django-free except for
``ImproperlyConfigured`` on configuration problems.
"""
from __future__ import annotations

import asyncio
import os
from types import ModuleType
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import ProviderError

if TYPE_CHECKING:
    import openai

# Local OpenAI-compatible servers ignore the key, but the SDK refuses an empty one.
PLACEHOLDER_API_KEY = "not-needed"


def import_openai() -> ModuleType:
    """Import the openai SDK, turning its absence into ``ImproperlyConfigured``."""
    try:
        import openai
    except ImportError as exc:
        raise ImproperlyConfigured(
            "The OpenAI providers need the openai SDK: pip install openai"
        ) from exc
    return openai


def describe_openai_error(exc: BaseException) -> str:
    """One readable line for an SDK error: HTTP status, error class and server message."""
    message = getattr(exc, "message", None) or str(exc) or "no details"
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        message = body["message"]
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{type(exc).__name__}: {message}"


class OpenAIClientHolder:
    """Owns one lazily created ``AsyncOpenAI`` client, built inside the running loop.

    The client (and its connection pool) is created on first use and reused; it is only
    rebuilt if the adapter is later used from a different event loop, since pooled
    connections are bound to the loop that opened them.
    """

    error_prefix = "OpenAI request failed"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
    ) -> None:
        """Validate and store the client options; nothing is imported or opened yet."""
        if timeout <= 0:
            raise ImproperlyConfigured(f"OpenAI timeout must be positive, got {timeout!r}")
        if max_retries < 0:
            raise ImproperlyConfigured(f"OpenAI max_retries must be >= 0, got {max_retries!r}")
        self.base_url = base_url or None
        self.api_key = api_key or None
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def check(self) -> None:
        """Raise ``ImproperlyConfigured`` when there is neither a key nor a server URL."""
        if not (self.api_key or self.base_url or os.environ.get("OPENAI_API_KEY")):
            raise ImproperlyConfigured(
                "OpenAI is not configured: set OPENAI_API_KEY (or OPENAI_BASE_URL for an "
                "OpenAI-compatible server such as Ollama)")

    async def _get_client(self) -> openai.AsyncOpenAI:
        """Return the client for the running loop, creating it on first use."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return self._client
        # The first SDK import takes a few hundred ms: keep it off the event loop.
        sdk = await asyncio.to_thread(import_openai)
        if self._client is not None and self._client_loop is loop:  # built meanwhile
            return self._client
        api_key = self.api_key
        if not api_key and self.base_url:
            api_key = PLACEHOLDER_API_KEY
        try:
            client = sdk.AsyncOpenAI(
                api_key=api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        except sdk.OpenAIError as exc:  # e.g. no API key anywhere
            raise ImproperlyConfigured(f"OpenAI client configuration: {exc}") from exc
        self._client, self._client_loop = client, loop
        return client

    def _provider_error(self, exc: BaseException) -> ProviderError:
        """Wrap an SDK failure in ``ProviderError`` (the caller raises it ``from exc``)."""
        return ProviderError(f"{self.error_prefix}: {describe_openai_error(exc)}")

    async def aclose(self) -> None:
        """Close the pooled HTTP connections (call from the loop that used the adapter)."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            await client.close()
