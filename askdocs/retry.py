"""One retry policy for every remote call (Slack, Confluence, Drive, the LLM): exponential backoff with jitter, and
the server's ``Retry-After`` honoured (seconds or an HTTP date; ``retry-after-ms`` too), capped."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: ``base_s * 2**attempt`` with jitter (x0.5 to x1), or what the server asked for;
    never more than ``max_s``."""

    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based); ``retry_after``: the server's wish, when it gave one."""
        wait = self.base_s * 2**attempt * (0.5 + random.random() / 2) if retry_after is None else retry_after
        return min(self.max_s, max(0.0, wait))


def retry_after(headers: Any) -> float | None:
    """Seconds a response's headers ask to wait: ``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP
    date; None when absent or unreadable. ``headers``: any mapping (values may be lists), names in any case."""
    if headers is None:
        return None
    found = {str(k).lower(): (v[0] if isinstance(v, list | tuple) and v else v) for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = found.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except (TypeError, ValueError):
            parsed = email.utils.parsedate_tz(str(value)) if divisor == 1.0 else None
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None
