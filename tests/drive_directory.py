"""The Admin SDK Directory (users, groups, members) added to the fake Drive server, in the documented shapes
(``{"kind": "admin#directory#groups", "groups": [...], "nextPageToken": ...}``), behind the same OAuth tokens: a
token needs the Directory scopes, which only a key impersonating a delegated administrator obtains.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from drive_server import DriveServer, FakeDrive, create_app
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from local_server import serve_in_thread

GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"


@dataclass
class FakeDirectory:
    """Users (primary e-mails) and groups (group e-mail -> members as (type, e-mail)); ``failing``: answer 503."""

    users: list[str] = field(default_factory=list)
    groups: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    failing: bool = False


def _paged(request: Request, items: list[Any], key: str, kind: str, size: int = 2) -> dict[str, Any]:
    start = int(request.query_params.get("pageToken") or 0)
    body: dict[str, Any] = {"kind": kind, key: items[start : start + size]}
    if start + size < len(items):
        body["nextPageToken"] = str(start + size)
    return body


def add_directory_routes(app: FastAPI, holder: dict[str, FakeDrive], directory: FakeDirectory) -> None:
    """Serve ``directory`` from the fake Drive ``app``."""

    def refused(request: Request) -> JSONResponse | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        scope = holder["drive"].tokens.get(token)
        if scope is None:
            return JSONResponse({"error": {"code": 401, "message": "Invalid Credentials"}}, 401)
        if GROUP_SCOPE not in scope.split():
            error = {"code": 403, "message": "Request had insufficient authentication scopes.",
                     "errors": [{"reason": "insufficientPermissions"}]}  # fmt: skip
            return JSONResponse({"error": error}, 403)
        if directory.failing:
            return JSONResponse({"error": {"code": 503, "message": "unavailable", "errors": [{"reason": "x"}]}}, 503)
        return None

    @app.get("/admin/directory/v1/users")
    def users(request: Request) -> Any:
        items = [{"kind": "admin#directory#user", "primaryEmail": u, "suspended": False} for u in directory.users]
        return refused(request) or _paged(request, items, "users", "admin#directory#users")

    @app.get("/admin/directory/v1/groups")
    def groups(request: Request) -> Any:
        items = [{"kind": "admin#directory#group", "id": f"gid-{g}", "email": g} for g in sorted(directory.groups)]
        return refused(request) or _paged(request, items, "groups", "admin#directory#groups")

    @app.get("/admin/directory/v1/groups/{key}/members")
    def members(key: str, request: Request) -> Any:
        found = next((g for g in directory.groups if f"gid-{g}" == key), None)
        if found is None:
            return JSONResponse({"error": {"code": 404, "message": "Resource Not Found: groupKey"}}, 404)
        items = [{"kind": "admin#directory#member", "type": t, "email": e, "status": "ACTIVE", "role": "MEMBER"}
                 for t, e in directory.groups[found]]  # fmt: skip
        return refused(request) or _paged(request, items, "members", "admin#directory#members")


@dataclass
class DirectoryDrive(DriveServer):
    directory: FakeDirectory


@pytest.fixture
def drive_directory() -> Iterator[DirectoryDrive]:
    """A fake Drive with a Directory, on a free 127.0.0.1 port (state empty; tests seed it)."""
    holder = {"drive": FakeDrive()}
    directory = FakeDirectory()
    app = create_app(holder)
    add_directory_routes(app, holder, directory)
    with serve_in_thread(app, "fake Drive and Directory") as url:
        yield DirectoryDrive(url, holder, directory)
