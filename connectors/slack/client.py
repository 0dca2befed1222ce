"""The Slack Web API client: retries honouring ``Retry-After`` within a run's time budget; errors without the token."""

from __future__ import annotations

import random
import time
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from askdocs.retry import Backoff, retry_after


class SlackError(Exception):
    """A Web API call that failed after retries; the message never contains the token."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method, self.error = method, error


RATE_LIMIT_MAX_WAIT_S = 300.0


class SlackRetryHandler(RetryHandler):
    """429: wait ``Retry-After`` seconds; 5xx, timeouts, dropped connections: exponential backoff.

    Each kind has its own budget (slack_sdk's shared attempt counter would let a 429 storm use up the 5xx retries).
    ``deadline`` (a ``time.monotonic()`` value, set by the connector for one run): a 429 that asks to wait past it
    is not retried, so the run can stop cleanly instead of sleeping through its budget.
    """

    deadline: float | None = None

    def __init__(self, retries: int = 4, backoff: float = 0.5, rate_limit_retries: int = 8, jitter: float = 0.25):
        super().__init__(max_retry_count=retries + rate_limit_retries)
        self.budget = {"429": rate_limit_retries, "5xx": retries, "network": retries}
        self.backoff, self.jitter = backoff, jitter

    @staticmethod
    def _kind(response: HttpResponse | None, error: Exception | None) -> str | None:
        if response is not None:
            if response.status_code == 429:
                return "429"
            return "5xx" if response.status_code in (500, 502, 503, 504) else None
        if isinstance(error, TimeoutError | ConnectionError | URLError):
            return "network"
        return None

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        kind = self._kind(response, error)
        if kind == "429" and self.deadline is not None and response is not None:
            if time.monotonic() + (retry_after(response.headers) or 0.0) > self.deadline:
                return False
        return kind is not None and (state.custom_values or {}).get(kind, 0) < self.budget[kind]

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        kind = self._kind(response, error) or "network"
        counts = state.custom_values = state.custom_values or {}
        counts[kind] = counts.get(kind, 0) + 1
        asked = retry_after(response.headers) if kind == "429" and response is not None else None
        wait = Backoff(self.backoff, RATE_LIMIT_MAX_WAIT_S).delay(counts[kind] - 1, asked)
        time.sleep(wait + random.random() * self.jitter)
        state.next_attempt_requested = True
        state.increment_current_attempt()


def build_client(token: str, base_url: str, timeout: int = 30, **retry: Any) -> WebClient:
    """A WebClient with :class:`SlackRetryHandler` (``retry`` goes to it)."""
    url = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(token=token, base_url=url, timeout=timeout, retry_handlers=[SlackRetryHandler(**retry)])
