"""Answers from any OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp).

The model's text comes back as a ``Draft`` with the sources it was given; ``AskPipeline`` checks it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import numpy as np
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI

from askdocs import redaction
from askdocs.errors import ConfigError
from askdocs.models import Answer, Hit, LLMUsage
from askdocs.retrieval.analyzer import Analyzer, detect_language
from askdocs.retrieval.answer.base import Draft, DraftEvent, Final, LLMError, Token, refusal
from askdocs.retrieval.answer.packing import (
    Source,
    cross_relevance,
    encoding_for,
    pack_sources,
    relevance,
    seed_tiktoken_cache,
)
from askdocs.retrieval.answer.prompt import build_messages
from askdocs.retrieval.embedders import Embedder
from askdocs.retry import Backoff, retry_after
from askdocs.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


@dataclass
class _Prepared:
    sources: list[Source]
    request: dict[str, Any]


def _api_key(settings: Settings) -> str:
    """The configured key, else the provider's conventional variable; registered for redaction either way."""
    if settings.llm_api_key is not None and settings.llm_api_key.get_secret_value():
        redaction.register(settings.llm_api_key)
        return settings.llm_api_key.get_secret_value()
    env = "AZURE_OPENAI_API_KEY" if settings.llm_provider == "azure" else "OPENAI_API_KEY"
    key = os.environ.get(env, "")
    if key:
        redaction.register(key)
        return key
    if settings.llm_base_url is None:
        raise ConfigError(f"ASKDOCS_LLM_API_KEY (or {env}) is required when ASKDOCS_LLM_BASE_URL is not set")
    return "not-needed"  # local servers (llama.cpp, Ollama, vLLM) accept any key


def make_clients(settings: Settings) -> tuple[OpenAI, AsyncOpenAI]:
    """Sync and async clients for the configured endpoint; the library's own retries are off (we retry)."""
    key = _api_key(settings)
    common: dict[str, Any] = {"api_key": key, "timeout": settings.llm_timeout_s, "max_retries": 0}
    if settings.llm_provider == "azure":
        if not settings.llm_base_url:
            raise ConfigError("ASKDOCS_LLM_BASE_URL must be the Azure OpenAI endpoint when ASKDOCS_LLM_PROVIDER=azure")
        azure = {"azure_endpoint": settings.llm_base_url, "api_version": settings.llm_api_version, **common}
        return AzureOpenAI(**azure), AsyncAzureOpenAI(**azure)
    return OpenAI(base_url=settings.llm_base_url, **common), AsyncOpenAI(base_url=settings.llm_base_url, **common)


def _where(base_url: str | None) -> str:
    parts = urlsplit(base_url or "https://api.openai.com/v1")
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


class LLMAnswerer:
    """Packs relevant hits into a token budget and asks the model; its answer is a ``Draft`` to be checked."""

    name = "llm"
    backoff_base_s = 0.5

    def __init__(
        self,
        settings: Settings,
        analyzer: Analyzer,
        clients: tuple[OpenAI, AsyncOpenAI] | None = None,
        multilingual: Embedder | None = None,
    ) -> None:
        if not settings.llm_model:
            raise ConfigError("ASKDOCS_LLM_MODEL is not set")
        self.settings = settings
        self.model: str = settings.llm_model
        self.analyzer = analyzer
        self.client, self.aclient = clients or make_clients(settings)
        seed_tiktoken_cache(settings.data_dir / "tiktoken")
        self.encoding = encoding_for(self.model)
        self.where = _where(settings.llm_base_url)
        self.multilingual = multilingual  # judges hits in another language than the question

    # --- preparing and finishing ---

    def _prepare(self, question: str, hits: list[Hit]) -> _Prepared | None:
        language = detect_language(question)
        texts = [h for h in hits if h.text.strip()]
        multilingual = self.multilingual
        other = multilingual is not None and any(h.language != language for h in texts)
        query = multilingual.embed_query(question) if multilingual is not None and other else None
        relevant = [h for h in texts if self._relevant(question, query, h, h.language != language)]
        sources = pack_sources(relevant, self.settings.llm_context_tokens, self.encoding)
        if not sources:
            return None
        request: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(question, sources, self.settings.answer_max_sentences + 1),
            "max_tokens": self.settings.llm_max_answer_tokens,
            "temperature": self.settings.llm_temperature,
        }
        if self.settings.llm_stop:
            request["stop"] = list(self.settings.llm_stop)
        return _Prepared(sources, request)

    def _relevant(self, question: str, query: np.ndarray | None, hit: Hit, other_language: bool) -> bool:
        """Enough of the question's terms in the hit; for a hit in the other language (with a multilingual model;
        ``query`` is the question's vector, embedded once per question), a multilingual cosine of at least
        ``llm_xling_relevance_floor`` instead."""
        if other_language and self.multilingual is not None and query is not None:
            return cross_relevance(self.multilingual, query, hit) >= self.settings.llm_xling_relevance_floor
        return relevance(self.analyzer, question, hit) >= self.settings.llm_relevance_floor

    def _refusal(self, question: str, hits: list[Hit], usage: LLMUsage | None = None) -> Answer:
        return refusal(question, hits, self.name, model=self.model, usage=usage)

    def _draft(self, question: str, hits: list[Hit], prepared: _Prepared, text: str, usage: LLMUsage) -> Draft:
        sources = {s.n: s.text for s in prepared.sources}
        source_hits = {s.n: s.hit for s in prepared.sources}
        return Draft(question, text, sources, source_hits, hits, self.name, self.model, usage)

    def _usage(self, prepared: _Prepared, raw: Any, finish_reason: str | None) -> LLMUsage:
        return LLMUsage(
            source_tokens=sum(s.tokens for s in prepared.sources),
            sources=len(prepared.sources),
            prompt_tokens=getattr(raw, "prompt_tokens", None),
            completion_tokens=getattr(raw, "completion_tokens", None),
            finish_reason=finish_reason,
        )

    # --- the AnswerGenerator protocol ---

    def answer(self, question: str, hits: list[Hit]) -> Answer | Draft:
        """Ask the model (blocking); refuse without calling it when no hit clears the relevance floor."""
        prepared = self._prepare(question, hits)
        if prepared is None:
            return self._refusal(question, hits)
        started = time.perf_counter()
        completion = self._sync_retrying(lambda: self.client.chat.completions.create(**prepared.request))
        if not completion.choices:
            log.error("llm answer from %s had no choices", self.where)
            raise LLMError(502, "the language model sent an invalid response")
        choice = completion.choices[0]
        text = choice.message.content or ""
        usage = self._usage(prepared, completion.usage, choice.finish_reason)
        log.info(
            "llm answer: model=%s sources=%d source_tokens=%d completion_tokens=%s finish=%s in %.2fs",
            self.model, usage.sources, usage.source_tokens, usage.completion_tokens, usage.finish_reason,
            time.perf_counter() - started,
        )  # fmt: skip
        return self._draft(question, hits, prepared, text, usage)

    async def stream(self, question: str, hits: list[Hit]) -> AsyncIterator[DraftEvent]:
        """Tokens as they arrive, then the draft; closing this generator closes the upstream request."""
        prepared = self._prepare(question, hits)
        if prepared is None:
            refusal = self._refusal(question, hits)
            yield Token(refusal.text)
            yield Final(refusal)
            return
        request = {**prepared.request, "stream": True}
        upstream = await self._async_retrying(lambda: self.aclient.chat.completions.create(**request))
        parts: list[str] = []
        finish_reason: str | None = None
        raw_usage: Any = None
        try:
            async for chunk in upstream:
                raw_usage = getattr(chunk, "usage", None) or raw_usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
                    yield Token(choice.delta.content)
        except Exception as exc:  # noqa: BLE001 - a broken stream is the LLM's failure: 502
            error = self._as_error(exc)
            log.error("llm stream failed: %s (%s)", error.message, self._detail(exc))
            raise error from None
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled request (client gone) must still close upstream
                await upstream.close()
        usage = self._usage(prepared, raw_usage, finish_reason)
        yield self._draft(question, hits, prepared, "".join(parts), usage)

    # --- errors and retries ---

    def _as_error(self, exc: Exception) -> LLMError:
        """What the API tells the caller: a generic reason and status, never upstream text (see ``_detail``)."""
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(503, f"the language model did not answer within {self.settings.llm_timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(503, "the language model is unreachable")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429:
                retry = retry_after(exc.response.headers)
                return LLMError(503, "the language model is rate limiting requests (429)", retry)
            if status in (401, 403):
                return LLMError(502, f"the language model rejected the API key ({status})")
            if status == 404:
                return LLMError(502, f"the language model does not know model {self.model!r} (404)")
            return LLMError(502, f"the language model failed: {status}")
        return LLMError(502, "the language model sent an invalid response")

    def _detail(self, exc: Exception) -> str:
        """What the log gets: where, and the upstream's own words, redacted and cut to 300 characters."""
        said = getattr(exc, "message", "") or str(exc)
        return redaction.redact(f"{self.where}: {type(exc).__name__}: {' '.join(said.split())[:300]}")

    def _delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or None when ``exc`` is final."""
        if attempt >= self.settings.llm_retries or isinstance(exc, openai.APITimeoutError):
            return None
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code not in _RETRYABLE:
                return None
            after = retry_after(exc.response.headers)
            if after is not None:
                return after if after <= self.settings.llm_retry_max_wait_s else None
        elif not isinstance(exc, openai.APIConnectionError):
            return None
        return Backoff(self.backoff_base_s, self.settings.llm_retry_max_wait_s).delay(attempt)

    def _failed(self, exc: Exception, attempt: int) -> float:
        delay = self._delay(exc, attempt)
        error = self._as_error(exc)
        if delay is None:
            log.error("llm request failed: %s (%s)", error.message, self._detail(exc))
            raise error from None
        log.warning(
            "llm request failed (%s; %s); retry %d in %.2f s", error.message, self._detail(exc), attempt + 1, delay
        )
        return delay

    def _sync_retrying(self, call: Callable[[], T]) -> T:
        for attempt in range(self.settings.llm_retries + 1):
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - openai errors and undecodable replies alike become LLMError
                time.sleep(self._failed(exc, attempt))
        raise LLMError(503, "the language model is unavailable")  # unreachable: the last attempt raises

    async def _async_retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.settings.llm_retries + 1):
            try:
                return await call()
            except Exception as exc:  # noqa: BLE001
                await asyncio.sleep(self._failed(exc, attempt))
        raise LLMError(503, "the language model is unavailable")
