"""The one retry policy: exponential backoff with jitter, the server's Retry-After honoured and capped."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from askdocs.retry import Backoff, retry_after


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = Backoff(base_s=1.0, max_s=10.0)
    for attempt in range(4):
        waits = [policy.delay(attempt) for _ in range(200)]
        assert 0.5 * 2**attempt <= min(waits) and max(waits) <= min(10.0, 2**attempt)
        assert len(set(waits)) > 1, "jittered"
    assert policy.delay(10) == 10.0


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = Backoff(base_s=1.0, max_s=30.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(5, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=3600.0) == 30.0


def test_retry_after_header_forms() -> None:
    soon = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0  # httpx (Confluence, the LLM)
    assert retry_after({"retry-after": ["4"]}) == 4.0  # slack_sdk: lists of values
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"RETRY-AFTER": soon}) == pytest.approx(120, abs=2)
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None and retry_after(None) is None
