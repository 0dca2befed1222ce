"""Dense embedders behind an endpoint that speaks OpenAI's ``/v1/embeddings``.

``openai:<model>`` is OpenAI (or Azure OpenAI, when ``ASKDOCS_EMBEDDER_AZURE_ENDPOINT`` is set: the model is the
deployment name); ``openai-compatible:<model>@<base URL>`` is any server speaking the protocol (Text Embeddings
Inference, vLLM, Ollama, llama.cpp). Options follow the spec after ``;``: ``dimensions=N`` (models that shorten
their vectors), ``max_tokens=N`` (the model's input limit), ``prefixes=e5|bge|nomic|none``. Passages are sent in
batches bounded by count and by tokens, ``concurrency`` requests at a time; 429/5xx/timeouts are retried, honouring
``Retry-After``. Vectors of the wrong size are a clear error, raised before anything is written.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
import openai
from openai import AzureOpenAI, OpenAI

from askdocs.errors import ConfigError
from askdocs.retrieval.answer.packing import encoding_for, seed_tiktoken_cache
from askdocs.retrieval.remote_spec import OPENAI_MODELS, PREFIXES, RemoteOptions, RemoteSpec
from askdocs.retrieval.request_queue import RequestQueue
from askdocs.retry import retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


class EmbeddingError(ValueError):
    """The endpoint failed or answered something unusable; the message names the endpoint, never a key."""


@dataclass
class EmbeddingUsage:
    """Counters of one remote embedder: what a sync cost and how fast it went."""

    requests: int = 0
    inputs: int = 0
    tokens: int = 0
    retries: int = 0
    seconds: float = 0.0  # wall time with at least one request in flight

    def minus(self, earlier: EmbeddingUsage) -> EmbeddingUsage:
        """The usage since ``earlier``."""
        return EmbeddingUsage(
            self.requests - earlier.requests,
            self.inputs - earlier.inputs,
            self.tokens - earlier.tokens,
            self.retries - earlier.retries,
            self.seconds - earlier.seconds,
        )


def retrying(
    call: Callable[[], T],
    retries: int,
    max_wait_s: float,
    on_retry: Callable[[str, float], None] | None = None,
    backoff_base_s: float = 0.5,
) -> T:
    """``call()``, retried on 408/409/429/5xx, timeouts and connection errors with jittered exponential backoff.

    A ``Retry-After`` (or ``retry-after-ms``) header sets the wait; one longer than ``max_wait_s`` fails at once.
    Self-contained so a shared retry helper can replace it.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except (openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError) as exc:
            if attempt == retries:
                raise
            after = None
            if isinstance(exc, openai.APIStatusError):
                if exc.status_code not in _RETRYABLE:
                    raise
                after = retry_after(exc.response.headers)
                if after is not None and after > max_wait_s:
                    raise
            delay = after if after is not None else backoff_base_s * 2**attempt * (0.75 + 0.5 * random.random())
            delay = min(delay, max_wait_s)
            if on_retry is not None:
                on_retry(_reason(exc), delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _reason(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"


def _where(spec: RemoteSpec, options: RemoteOptions) -> str:
    url = spec.base_url or options.azure_endpoint or "https://api.openai.com/v1"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@dataclass
class _Busy:
    """Wall time during which at least one request was in flight."""

    in_flight: int = 0
    since: float = 0.0
    total: float = 0.0
    first: float | None = None  # perf_counter when the first request left
    last: float = 0.0  # and when the last answer came
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        with self.lock:
            if self.in_flight == 0:
                self.since = time.perf_counter()
                self.first = self.since if self.first is None else self.first
            self.in_flight += 1

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.last = time.perf_counter()
                self.total += self.last - self.since


class RemoteEmbedder:
    """An embedding model behind ``/v1/embeddings``; thread-safe, requests bounded by ``options.concurrency``."""

    def __init__(self, spec: RemoteSpec, options: RemoteOptions, client: OpenAI | None = None) -> None:
        self.spec = spec
        self.options = options
        self.name = spec.vector_name
        self.where = _where(spec, options)
        self._query_prefix, self._passage_prefix = PREFIXES[spec.prefixes]
        if options.tiktoken_dir:
            seed_tiktoken_cache(Path(options.tiktoken_dir))
        self._encoding = encoding_for(spec.model if spec.provider == "openai" else None)
        # The chunker measures chunk text alone: the passage prefix comes out of the model's limit.
        self.max_tokens = max(16, spec.max_tokens - len(self._encoding.encode(self._passage_prefix)))
        known = OPENAI_MODELS.get(spec.model) if spec.provider == "openai" else None
        self._dim: int | None = spec.dimensions or (known[0] if known else None)
        self._price = options.price_per_million_tokens
        if self._price is None and known and spec.provider == "openai" and not options.azure_endpoint:
            self._price = known[2]
        self.client = client or self._client()
        self._usage = EmbeddingUsage()
        self._busy = _Busy()
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._queue = RequestQueue(
            self._request, self.count_tokens, options.batch_size, options.batch_tokens, options.concurrency
        )

    @classmethod
    def from_spec(cls, text: str, options: RemoteOptions) -> RemoteEmbedder:
        """Build from ``openai:...`` / ``openai-compatible:...``."""
        return cls(RemoteSpec.parse(text), options)

    def _client(self) -> OpenAI:
        key = self.options.api_key
        env = "AZURE_OPENAI_API_KEY" if self.options.azure_endpoint else "OPENAI_API_KEY"
        key = key or os.environ.get(env)
        if self.spec.provider == "openai" and not key:
            raise ConfigError(f"embedder {self.spec.model}: set ASKDOCS_EMBEDDER_API_KEY (or {env})")
        common: dict[str, Any] = {"api_key": key or "not-needed", "timeout": self.options.timeout_s, "max_retries": 0}
        if self.spec.provider == "openai" and self.options.azure_endpoint:
            return AzureOpenAI(
                azure_endpoint=self.options.azure_endpoint, api_version=self.options.api_version, **common
            )
        return OpenAI(base_url=self.spec.base_url, **common)

    # --- the Embedder interface ---
    @property
    def dim(self) -> int:
        """Vector size: known for OpenAI's models and ``dimensions=``; otherwise asked of the endpoint once."""
        if self._dim is None:
            with self._probe_lock:
                if self._dim is None:
                    self._dim = len(self._request(["dimension probe"], check_dim=False)[0])
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:
        self._dim = value

    def warm_up(self) -> None:
        """Check the endpoint answers (and learn the dimension)."""
        _ = self.dim

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (OpenAI's tokenizer for OpenAI models; an estimate for other servers)."""
        return len(self._encoding.encode(text, disallowed_special=()))

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector (with the model's query prefix)."""
        return self._request([self._fit(self._query_prefix + text)])[0]

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One row per passage; blocks until every batch is back."""
        return self.submit_documents(texts).result()

    def submit_documents(self, texts: list[str]) -> Future[np.ndarray]:
        """Queue the passages for sending and return at once; the future holds their rows (requests are cut
        across calls, so a sync's back-to-back look-ahead batches send full requests: ``request_queue``)."""
        inputs = [self._fit(self._passage_prefix + t) for t in texts]
        done: Future[np.ndarray] = Future()
        if not inputs:
            done.set_result(np.zeros((0, self.dim), dtype=np.float32))
            return done
        queued = self._queue.submit(inputs)
        if queued is None:
            raise self._error("is closed")
        return queued

    def _fit(self, text: str) -> str:
        """``text`` cut to the model's input limit (the chunker keeps chunks under it; this guards the rest)."""
        if len(text.encode("utf-8")) <= self.spec.max_tokens:  # fewer bytes than the limit: fewer tokens too
            return text
        tokens = self._encoding.encode(text, disallowed_special=())
        if len(tokens) <= self.spec.max_tokens:
            return text
        log.warning("%s: an input of %d tokens was cut to %d", self.name, len(tokens), self.spec.max_tokens)
        return self._encoding.decode(tokens[: self.spec.max_tokens])

    def _request(self, inputs: list[str], check_dim: bool = True) -> np.ndarray:
        """One ``/embeddings`` call, retried; rows normalised and checked."""
        params: dict[str, Any] = {"model": self.spec.model, "input": inputs, "encoding_format": "float"}
        if self.spec.dimensions:
            params["dimensions"] = self.spec.dimensions
        self._busy.enter()
        try:
            response = retrying(
                lambda: self.client.embeddings.create(**params),
                self.options.retries,
                self.options.retry_max_wait_s,
                self._on_retry,
                self.options.backoff_base_s,
            )
        except (openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise self._error(f"failed: {_reason(exc)}") from None
        finally:
            self._busy.leave()
        rows = [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
        if len(rows) != len(inputs) or any(not isinstance(r, list) for r in rows):
            raise self._error(f"returned {len(rows)} vectors for {len(inputs)} inputs")
        if any(r and not isinstance(r[0], int | float) for r in rows):
            raise self._error("returned a vector per token, not one per input: turn pooling on at the server")
        sizes = {len(r) for r in rows}
        expected = self._dim if check_dim else None
        if len(sizes) != 1 or (expected is not None and sizes != {expected}):
            raise self._error(
                f"returned vectors of size {sorted(sizes)} but the index expects {expected}; "
                "check the model name and its dimensions option"
            )
        usage = getattr(response, "usage", None)
        tokens = int(getattr(usage, "total_tokens", 0) or getattr(usage, "prompt_tokens", 0) or 0)
        with self._lock:
            self._usage.requests += 1
            self._usage.inputs += len(inputs) if check_dim else 0  # the dimension probe embeds no chunk
            self._usage.tokens += tokens or sum(self.count_tokens(t) for t in inputs)
        array = np.asarray(rows, dtype=np.float32)
        return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)

    def _error(self, problem: str) -> EmbeddingError:
        return EmbeddingError(f"embedding endpoint {self.where} ({self.spec.model}) {problem}")

    def _on_retry(self, reason: str, delay: float) -> None:
        with self._lock:
            self._usage.retries += 1
        log.warning("embedding endpoint %s: %s; retry in %.2f s", self.where, reason, delay)

    # --- accounting ---
    def usage(self) -> EmbeddingUsage:
        """Counters so far (``seconds``: wall time with a request in flight)."""
        with self._lock:
            return replace(self._usage, seconds=self._busy.total)

    def active_span(self) -> tuple[float, float] | None:
        """``perf_counter`` times of the first request sent and the last answer received (None before any)."""
        with self._busy.lock:
            return None if self._busy.first is None else (self._busy.first, self._busy.last)

    def cost_usd(self, usage: EmbeddingUsage) -> float | None:
        """Estimated cost of ``usage`` at the model's list price (None when unknown)."""
        return None if self._price is None else usage.tokens * self._price / 1e6

    def close(self) -> None:
        """Stop the request threads; passages still queued fail."""
        self._queue.close(self._error("was closed before these passages were sent"))


def submit_documents(embedder: Any, texts: list[str]) -> Future[np.ndarray]:
    """Embed ``texts`` with ``embedder``: sent at once for a remote model, computed now for a local one."""
    if isinstance(embedder, RemoteEmbedder):
        return embedder.submit_documents(texts)
    done: Future[np.ndarray] = Future()
    try:
        done.set_result(embedder.embed_documents(texts))
    except Exception as exc:  # handed over to whoever waits on the result
        done.set_exception(exc)
    return done


def usage_line(embedder: RemoteEmbedder, usage: EmbeddingUsage, chunks: int, elapsed_s: float) -> str:
    """One log line: requests, tokens, retries, chunks/s, estimated cost."""
    cost = embedder.cost_usd(usage)
    rate = chunks / elapsed_s if elapsed_s > 0 else 0.0
    return (
        f"{embedder.name} via {embedder.where}: {usage.inputs} inputs in {usage.requests} requests, "
        f"{usage.tokens} tokens, {usage.retries} retries, {rate:.1f} chunks/s"
        + (f", ~${cost:.4f}" if cost is not None else "")
    )
