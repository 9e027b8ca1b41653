"""OpenAI-compatible chat LLM adapter: streams answer deltas from ``/chat/completions``.

Works with OpenAI and with local OpenAI-compatible servers (Ollama, llama.cpp, vLLM)
through ``base_url``; the shared client handling lives in ``streaming.openai_client``.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from streaming.openai_client import OpenAIClientHolder, import_openai
from streaming.protocols import LLM


class OpenAILLM(OpenAIClientHolder, LLM):
    """Streams chat-completion text deltas from an OpenAI-compatible server."""

    error_prefix = "OpenAI LLM request failed"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
        temperature: float | None = None,
    ) -> None:
        """Store the options; the SDK is imported and the client built on first ``stream``."""
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        if not model:
            raise ImproperlyConfigured("OpenAILLM needs a model name")
        self.model = model
        self.temperature = temperature
        self.usage: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The model's name for the page."""
        return f"{self.model} (OpenAI-compatible)"

    async def stream(self, messages: list[dict]) -> AsyncIterator[str]:
        """Yield the non-empty content deltas of the answer to ``messages``, in order.

        Sets ``self.usage`` to the final usage report (or ``None`` if the server sent none).
        Raises ``ProviderError`` on any request, HTTP, timeout or mid-stream error.
        """
        client = await self._get_client()
        sdk = import_openai()
        self.usage = None
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        try:
            response = await client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **options,
            )
            async with response:  # closes the HTTP response even if we stop early
                async for chunk in response:
                    if chunk.usage is not None:
                        self.usage = chunk.usage.to_dict(mode="json")
                    if not chunk.choices:
                        continue
                    content = chunk.choices[0].delta.content
                    if content:
                        yield content
        except (sdk.OpenAIError, ValueError) as exc:  # ValueError: malformed JSON payloads
            raise self._provider_error(exc) from exc
