"""Identity endpoints added to the fake Confluence (``confluence_server``): groups, members, e-mail lookup, space
permissions, in the shapes Atlassian documents (v1 ``start``/``limit`` pages with relative ``_links.next``; v2 cursor
pages). Accounts and e-mails come from ``FakeConfluence.users`` (an empty e-mail is one the site hides).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from confluence_server import FakeConfluence, FakeServer, _page_of, build_app, seed
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from local_server import serve_in_thread


@dataclass
class FakeDirectory:
    """Groups (name -> account ids), space read permissions, and whether this app may look up e-mails."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    space_readers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # key -> (group|user, name|id)
    email_lookup: bool = True


def group_id(name: str) -> str:
    return f"gid-{name}"


def _user(fake: FakeConfluence, account: str) -> dict[str, Any]:
    known = fake.users.get(account, {})
    return {
        "type": "known",
        "accountId": account,
        "accountType": "atlassian",
        "email": known.get("email", ""),
        "publicName": known.get("name", account),
        "displayName": known.get("name", account),
    }


def _v1_page(request: Request, items: list[Any], cap: int) -> dict[str, Any]:
    start, limit = int(request.query_params.get("start", 0)), min(int(request.query_params.get("limit", 25)), cap)
    chunk = items[start : start + limit]
    links: dict[str, str] = {}
    if start + limit < len(items):
        query = str(httpx.QueryParams({**request.query_params, "start": start + limit, "limit": limit}))
        links["next"] = f"{request.url.path.removeprefix('/wiki')}?{query}"
    return {"results": chunk, "start": start, "limit": limit, "size": len(chunk), "_links": links}


def add_directory_routes(app: FastAPI, fake: FakeConfluence, directory: FakeDirectory) -> None:
    """Serve ``directory`` from ``app`` (behind the fake's authentication and fault rules)."""

    @app.get("/wiki/rest/api/group")
    def groups(request: Request) -> dict[str, Any]:
        items = [{"type": "group", "name": n, "id": group_id(n)} for n in sorted(directory.groups)]
        return _v1_page(request, items, fake.max_limit)

    @app.get("/wiki/rest/api/group/{gid}/membersByGroupId")
    def members(request: Request, gid: str) -> Any:
        name = next((n for n in directory.groups if group_id(n) == gid), None)
        if name is None:
            return JSONResponse({"statusCode": 404, "message": "group not found"}, 404)
        return _v1_page(request, [_user(fake, a) for a in directory.groups[name]], fake.max_limit)

    @app.get("/wiki/rest/api/user/email")
    def email(accountId: str) -> Any:  # noqa: N803 - the documented parameter name
        if not directory.email_lookup:
            return JSONResponse({"statusCode": 403, "message": "app is not allowed to read e-mails"}, 403)
        if accountId not in fake.users:
            return JSONResponse({"statusCode": 404, "message": "user not found"}, 404)
        return {"accountId": accountId, "email": fake.users[accountId].get("real_email", "")}

    @app.get("/wiki/api/v2/spaces/{space_id}/permissions")
    def space_permissions(request: Request, space_id: str) -> Any:
        key = next((k for k, s in fake.spaces.items() if s["id"] == space_id), None)
        if key is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        items = [
            {
                "id": f"perm-{i}",
                "principal": {"type": kind, "id": group_id(who) if kind == "group" else who},
                "operation": {"key": "read", "targetType": "space"},
            }
            for i, (kind, who) in enumerate(directory.space_readers.get(key, []))
        ]
        items.append({"id": "perm-x", "principal": {"type": "group", "id": "gid-x"}, "operation": {"key": "delete"}})
        chunk, links = _page_of(request, items, fake.max_limit)
        return {"results": chunk, "_links": links}


def seed_directory(fake: FakeConfluence) -> FakeDirectory:
    """Carol (e-mail hidden by the site) leads HR; a salary page is restricted to her group; staff read ENG."""
    fake.users["acc-carol"] = {"email": "", "name": "Carol", "real_email": "carol@kumo.example"}
    fake.users["acc-bob"]["real_email"] = "bob@kumo.example"
    fake.users["acc-alice"]["real_email"] = "alice@kumo.example"
    fake.add_page(
        "2003", "Salary bands 2027", "HR", "2001", "<p>The Willow salary band tops out at 9.2 million yen.</p>",
        groups=["hr-leads"],
    )  # fmt: skip
    return FakeDirectory(
        groups={"hr-leads": ["acc-carol"], "security": ["acc-bob"], "staff": ["acc-alice", "acc-bob", "acc-carol"]},
        space_readers={"ENG": [("group", "staff")], "HR": [("group", "hr-leads"), ("user", "acc-alice")]},
    )


@dataclass
class DirectoryServer(FakeServer):
    directory: FakeDirectory


@pytest.fixture
def confluence_directory() -> Iterator[DirectoryServer]:
    """The seeded fake Confluence with its directory, on a free 127.0.0.1 port."""
    fake = seed(FakeConfluence())
    directory = seed_directory(fake)
    app = build_app(fake)
    add_directory_routes(app, fake, directory)
    with serve_in_thread(app, "fake Confluence") as url:
        yield DirectoryServer(url, fake, directory)
