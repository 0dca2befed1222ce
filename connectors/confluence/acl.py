"""Page read restrictions as askdocs principals, with inheritance from ancestors (fail closed).

A page's own read restriction lists users and groups; Confluence shows a page only to someone allowed by the
page *and* by every restricted ancestor, so the effective readers are the intersection of the restricted sets
along the chain. With no restriction anywhere the page is open to its space: ``space:<KEY>``, which the API maps
to callers through ``space_access``. Anything unknown (restrictions that cannot be read, an empty intersection)
yields ``NOBODY``, a principal no caller can hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from askdocs.connectors.confluence.client import ConfluenceClient, ConfluenceError

# No X-Askdocs-User (an email) or CLI user can ever map to this principal.
NOBODY = "user:confluence:nobody"
RESTRICTION_PAGES = 200
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
_GROUP = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TOKEN = re.compile(r"^\S{1,200}$")

Restriction = frozenset[str] | None  # None: no read restriction on this piece of content


def user_principal(user: dict[str, Any]) -> str | None:
    """``user:<email>`` when the API shows the email, else ``user:confluence:<accountId>``."""
    email = str(user.get("email") or "").strip().lower()
    if _EMAIL.match(email):
        return f"user:{email}"
    account = str(user.get("accountId") or "").strip()
    return f"user:confluence:{account}" if _TOKEN.match(account) else None


def group_principal(group: dict[str, Any]) -> str | None:
    """``group:confluence:<name>`` (qualified: another source's group of that name is another group); a name no
    principal can carry becomes ``group:confluence-id:<id>``."""
    name = str(group.get("name") or "").strip()
    if _GROUP.match(name):
        return f"group:confluence:{name}"
    group_id = str(group.get("id") or "").strip()
    return f"group:confluence-id:{group_id}" if _TOKEN.match(group_id) else None


def _read_block(data: dict[str, Any]) -> dict[str, Any]:
    """The ``{"user": ..., "group": ...}`` block of a byOperation/read (or byOperation) response."""
    restrictions = data.get("restrictions")
    if isinstance(restrictions, dict) and isinstance(restrictions.get("read"), dict):
        restrictions = restrictions["read"].get("restrictions")  # the all-operations shape
    if not isinstance(restrictions, dict):
        raise ConfluenceError("restriction response has no restrictions block")
    return restrictions


def parse_read_restriction(pages: Iterable[dict[str, Any]]) -> Restriction:
    """Principals allowed to read, from one or more pages of the restriction response; None if unrestricted.

    Raises ConfluenceError when the response does not say who may read (fail closed: never read as open).
    """
    principals: set[str] = set()
    listed = 0
    for data in pages:
        block = _read_block(data)
        users, groups = block.get("user"), block.get("group")
        if not isinstance(users, dict) or not isinstance(groups, dict):
            raise ConfluenceError("restriction response does not list users and groups")
        for kind, converter in ((users, user_principal), (groups, group_principal)):
            results = kind.get("results")
            if not isinstance(results, list):
                raise ConfluenceError("restriction response has no results list")
            for entry in results:
                listed += 1
                principal = converter(entry) if isinstance(entry, dict) else None
                principals.add(principal or NOBODY)
    return frozenset(principals) if listed else None


def _next_step(block: dict[str, Any], requested: int) -> int:
    """How far to advance ``start`` for the next page of users and groups; 0 when both lists are complete.

    The server may cap ``limit`` below what was asked, so a list is complete only when it returned fewer entries
    than the ``limit`` it reports (its ``size``) and offers no ``_links.next``.
    """
    step, more = 0, False
    for kind in ("user", "group"):
        part = block.get(kind)
        part = part if isinstance(part, dict) else {}
        results = part.get("results")
        size, limit, links = part.get("size"), part.get("limit"), part.get("_links")
        served = size if isinstance(size, int) else len(results) if isinstance(results, list) else 0
        cap = limit if isinstance(limit, int) and limit > 0 else requested
        linked = isinstance(links, dict) and bool(links.get("next"))
        step = max(step, served)
        more = more or linked or served >= cap
    return step if more else 0


def effective_acl(chain: list[Restriction], space_key: str) -> list[str]:
    """Principals of a page given the restrictions of its ancestors (top first) and itself (last)."""
    restricted = [r for r in chain if r is not None]
    if not restricted:
        return [f"space:{space_key}"]
    allowed = set(restricted[0])
    for other in restricted[1:]:
        allowed &= other
    allowed.discard(NOBODY)
    return sorted(allowed) or [NOBODY]


class RestrictionReader:
    """Reads (and caches, per run) read restrictions; failures are cached too, so one outage is one error."""

    def __init__(self, client: ConfluenceClient, page_size: int = 100) -> None:
        self.client = client
        self.page_size = page_size
        self._cache: dict[str, Restriction | ConfluenceError] = {}

    def read(self, content_id: str) -> Restriction:
        """The read restriction of one content id; raises ConfluenceError when it cannot be read."""
        if content_id not in self._cache:
            try:
                self._cache[content_id] = self._fetch(content_id)
            except ConfluenceError as exc:
                self._cache[content_id] = exc
        found = self._cache[content_id]
        if isinstance(found, ConfluenceError):
            raise found
        return found

    def _fetch(self, content_id: str) -> Restriction:
        pages: list[dict[str, Any]] = []
        path = f"/rest/api/content/{content_id}/restriction/byOperation/read"
        start = 0
        for _ in range(RESTRICTION_PAGES):
            params = {"expand": "restrictions.user,restrictions.group", "start": start, "limit": self.page_size}
            data = self.client.get_json(path, params)
            pages.append(data)
            step = _next_step(_read_block(data), self.page_size)
            if not step:
                return parse_read_restriction(pages)
            start += step
        raise ConfluenceError(f"restrictions of {content_id}: more than {RESTRICTION_PAGES} pages")

    def clear(self) -> None:
        """Forget cached restrictions (each run reads them afresh)."""
        self._cache.clear()
