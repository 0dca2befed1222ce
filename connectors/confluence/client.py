"""A small Confluence Cloud REST client on httpx (auth, retries with backoff, cursor pagination) and API objects.

Credentials live only inside the httpx auth object; error messages name the method, path and status, never
headers or tokens. Pagination follows ``_links.next`` but only ever on the configured site: an absolute link to
another host is reduced to its path, so credentials are never sent elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from askdocs.connectors.base import ConnectorFailure
from askdocs.retry import Backoff, retry_after

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_PAGES = 10_000  # bound on any one paginated listing


class ConfluenceError(Exception):
    """A request that failed for good; ``status`` is the HTTP status (None for network errors)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "_Bearer(***)"


def _hint(status: int) -> str:
    return {
        401: " (authentication failed: check the email and API token, or the bearer token)",
        403: " (the API user lacks permission)",
        404: " (not found, or not visible to the API user)",
        429: " (rate limited)",
    }.get(status, "")


class ConfluenceClient:
    """GET JSON and bytes from one Confluence site with retries on 429, 5xx and timeouts."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        api_token: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_sleep: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        site = base_url.rstrip("/")
        if site.endswith("/wiki"):
            site = site[: -len("/wiki")]
        self.site = site
        self.wiki = f"{site}/wiki"
        self.max_attempts, self.backoff, self.max_sleep, self.sleep = max_attempts, backoff, max_sleep, sleep
        auth: httpx.Auth
        if bearer_token:
            auth = _Bearer(bearer_token)
        elif email and api_token:
            auth = httpx.BasicAuth(email, api_token)
        else:
            raise ValueError(
                "Confluence needs ASKDOCS_CONFLUENCE_EMAIL + ASKDOCS_CONFLUENCE_API_TOKEN or a bearer token"
            )
        self._http = httpx.Client(
            auth=auth,
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "askdocs-confluence/0.1"},
        )
        self.requests = 0

    def url(self, path: str) -> str:
        """Absolute URL on this site for an API path or a ``_links`` value (relative to /wiki or to the site)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if f"{parts.scheme}://{parts.netloc}" == self.site:
                return f"{self.site}{path}"
        if path.startswith("/wiki/"):
            return f"{self.site}{path}"
        return f"{self.wiki}/{path.lstrip('/')}"

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        asked = retry_after(response.headers) if response is not None else None
        return Backoff(self.backoff, self.max_sleep).delay(attempt, asked)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        url = self.url(path)
        shown = urlsplit(url).path
        for attempt in range(self.max_attempts):
            response: httpx.Response | None = None
            try:
                self.requests += 1
                response = self._http.get(url, params=params)
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"network error ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise ConfluenceError(
                        f"GET {shown}: HTTP {response.status_code}{_hint(response.status_code)}", response.status_code
                    )
                problem = f"HTTP {response.status_code}"
            if attempt + 1 == self.max_attempts:
                status = response.status_code if response is not None else None
                raise ConfluenceError(f"GET {shown}: {problem} after {self.max_attempts} attempts", status)
            wait = self._delay(attempt, response)
            log.info("GET %s: %s; retrying in %.1f s", shown, problem, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object at ``path``."""
        response = self._get(path, params)
        try:
            data = response.json()
        except ValueError:
            raise ConfluenceError(f"GET {urlsplit(self.url(path)).path}: response is not JSON") from None
        if not isinstance(data, dict):
            raise ConfluenceError(f"GET {urlsplit(self.url(path)).path}: unexpected response shape")
        return data

    def get_bytes(self, path: str, max_bytes: int) -> bytes:
        """The body at ``path`` (redirects followed; credentials are dropped on a cross-site redirect)."""
        data = self._get(path).content
        if len(data) > max_bytes:
            raise ConfluenceError(f"download larger than {max_bytes} bytes")
        return data

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of ``results`` across pages, following ``_links.next`` (cursor) links."""
        data = self.get_json(path, params)
        for _ in range(MAX_PAGES):
            results = data.get("results")
            if not isinstance(results, list):
                raise ConfluenceError(f"GET {urlsplit(self.url(path)).path}: response has no results list")
            yield from (item for item in results if isinstance(item, dict))
            next_link = (data.get("_links") or {}).get("next")
            if not next_link or not results:
                return
            data = self.get_json(next_link)
        raise ConfluenceError(f"GET {urlsplit(self.url(path)).path}: more than {MAX_PAGES} pages of results")

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __repr__(self) -> str:
        return f"ConfluenceClient({self.site!r})"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from the API (``Z`` allowed), timezone-aware; None when absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Space:
    """A space the connector reads."""

    id: str
    key: str
    name: str


@dataclass
class PageStub:
    """What the slim listing knows of a page."""

    id: str
    title: str
    space_id: str
    parent_id: str | None
    version: int
    modified: datetime | None
    webui: str

    @classmethod
    def of(cls, item: dict[str, Any]) -> PageStub:
        """From a v2 page object."""
        version = item.get("version") or {}
        parent = item.get("parentId")
        return cls(
            id=str(item["id"]),
            title=str(item.get("title") or ""),
            space_id=str(item.get("spaceId") or ""),
            parent_id=str(parent) if parent else None,
            version=int(version.get("number") or 0),
            modified=parse_time(version.get("createdAt")),
            webui=str((item.get("_links") or {}).get("webui") or ""),
        )


@dataclass
class Listing:
    """Every current page in scope, the spaces they live in, and spaces that listed nothing."""

    stubs: dict[str, PageStub] = field(default_factory=dict)
    spaces: dict[str, Space] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    failures: list[ConnectorFailure] = field(default_factory=list)


def moved_pages(stubs: dict[str, PageStub], old: dict[str, Any]) -> set[str]:
    """Pages whose parent, or any ancestor's parent, changed since the checkpoint."""
    moved = {pid for pid, s in stubs.items() if pid in old and old[pid].get("p") != s.parent_id}
    if not moved:
        return set()
    found = set()
    for pid in stubs:
        current: str | None = pid
        for _ in range(500):
            if current is None or current not in stubs:
                break
            if current in moved:
                found.add(pid)
                break
            current = stubs[current].parent_id
    return found
