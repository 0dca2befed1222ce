"""A contract-faithful fake of the Confluence Cloud REST API (v2 pages, v1 search and restrictions) on 127.0.0.1.

Payload shapes follow Atlassian's documented responses: v2 lists are ``{"results": [...], "_links": {"next":
"/wiki/api/v2/...?cursor=..."}}``, v1 search links are relative to ``/wiki`` and page with ``cursor``, the
restrictions endpoint answers ``{"operation": "read", "restrictions": {"user": {...}, "group": {...}}}``. Listing
endpoints, and the restrictions endpoint too, cap ``limit`` at ``max_limit`` so tests exercise pagination. Most
users hide their e-mail; ancestors carry their real type (folders and whiteboards are not pages); footer comments
have replies. Every exchange is checked against Atlassian's OpenAPI specs (``confluence_contract``): an off-spec
request answers 400, and any violation fails the test using the fixture. Faults: ``fail`` rules (status, times,
Retry-After) matched by path, and ``outage_after`` (every request after the N-th answers 500).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from confluence_contract import Contract
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from local_server import serve_in_thread

EMAIL, TOKEN, BEARER = "bot@kumo.example", "atl-token-s3cr3t-value", "bearer-s3cr3t-value"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakePage:
    id: str
    title: str
    space: str
    parent: str | None
    body: str
    status: str = "current"
    version: int = 1
    created: datetime = START
    modified: datetime = START
    users: list[str] | None = None  # read restriction: account ids (None: unrestricted)
    groups: list[str] | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)  # replies name their "parent" comment
    attachments: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "page"  # or an AncestorType that is not a page: folder, whiteboard, database, embed


@dataclass
class Fail:
    path: str
    status: int
    times: int = 1
    retry_after: str | None = None


class FakeConfluence:
    """State of the fake site plus the mutations tests apply (each advances the fake clock one minute)."""

    def __init__(self, max_limit: int = 2, timezone: str = "UTC", contract: Contract | None = None) -> None:
        self.contract = contract or Contract()
        self.violations: list[str] = []  # every departure from Atlassian's spec, request or response
        self.max_limit = max_limit
        self.timezone = timezone
        self.now = START
        self.spaces: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, FakePage] = {}
        self.users: dict[str, dict[str, str]] = {}
        self.hidden_spaces: set[str] = set()  # visible space, but its pages are not (missing permission)
        self.fails: list[Fail] = []
        self.outage_after: int | None = None
        self.log: list[str] = []
        self.searches: list[str] = []
        self._ids = 5000

    # --- mutations ---------------------------------------------------------------------
    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def add_space(self, key: str, name: str, space_id: str) -> None:
        self.spaces[key] = {"id": space_id, "key": key, "name": name}

    def add_folder(self, folder_id: str, title: str, space: str, parent: str | None, kind: str = "folder") -> None:
        """Content that is not a page (a folder by default): listed as an ancestor, never as a page."""
        self.add_page(folder_id, title, space, parent, "", kind=kind)

    def add_page(self, page_id: str, title: str, space: str, parent: str | None, body: str, **kw: Any) -> FakePage:
        page = FakePage(page_id, title, space, parent, body, created=self.now, modified=self.now, **kw)
        self.pages[page_id] = page
        return page

    def edit(self, page_id: str, body: str | None = None, title: str | None = None) -> None:
        page = self.pages[page_id]
        page.body = body if body is not None else page.body
        page.title = title or page.title
        page.version += 1
        page.modified = self.tick()

    def move(self, page_id: str, parent: str) -> None:  # Cloud records no new version for a move
        self.pages[page_id].parent = parent

    def add_comment(self, page_id: str, body: str, parent: str | None = None) -> str:
        """A footer comment, or a reply to comment ``parent``; returns its id."""
        self._ids += 1
        comment = {"id": str(self._ids), "body": body, "when": self.tick(), "parent": parent}
        self.pages[page_id].comments.append(comment)
        return str(comment["id"])

    def delete_comment(self, page_id: str, comment_id: str) -> None:  # no new page version, as in Cloud
        self.pages[page_id].comments = [c for c in self.pages[page_id].comments if c["id"] != comment_id]

    def add_attachment(self, page_id: str, filename: str, media_type: str, data: bytes) -> str:
        self._ids += 1
        att = {"id": f"att{self._ids}", "title": filename, "mediaType": media_type, "data": data, "when": self.tick()}
        self.pages[page_id].attachments.append(att)
        return str(att["id"])

    # --- views -------------------------------------------------------------------------
    def space_of(self, key: str) -> dict[str, Any]:
        return {**self.spaces[key], "type": "global", "status": "current", "_links": {"webui": f"/spaces/{key}"}}

    def page_json(self, page: FakePage, body: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": page.id,
            "status": page.status,
            "title": page.title,
            "spaceId": self.spaces[page.space]["id"],
            "position": 0,
            "authorId": "acc-author",
            "ownerId": "acc-author",
            "createdAt": _iso(page.created),
            "version": {
                "createdAt": _iso(page.modified),
                "message": "",
                "number": page.version,
                "minorEdit": False,
                "authorId": "acc-author",
            },
            "body": {"storage": {"value": page.body, "representation": "storage"}} if body else {},
            "_links": {
                "webui": f"/spaces/{page.space}/pages/{page.id}/{page.title.replace(' ', '+')}",
                "editui": f"/pages/resumedraft.action?draftId={page.id}",
                "tinyui": f"/x/{page.id}",
            },
        }
        if page.parent:
            out["parentId"], out["parentType"] = page.parent, self.pages[page.parent].kind
        return out

    def ancestors(self, page: FakePage) -> list[FakePage]:
        chain: list[FakePage] = []
        while page.parent and page.parent in self.pages and len(chain) < 100:
            page = self.pages[page.parent]
            chain.insert(0, page)
        return chain

    def listed(self, page: FakePage, statuses: set[str]) -> bool:
        return page.kind == "page" and page.status in statuses and page.space not in self.hidden_spaces

    # --- CQL ---------------------------------------------------------------------------
    def cql_match(self, cql: str) -> list[dict[str, Any]]:
        """Content matching an AND of ``space``, ``type``, ``ancestor`` and ``lastmodified`` clauses."""
        clause = re.compile(r'(\w+)\s*(>=|<=|=|\bin\b)\s*("[^"]*"|\([^)]*\)|[^\s()]+)', re.I)
        leftover = clause.sub("", cql)
        if re.sub(r"\band\b|[()\s]", "", leftover, flags=re.I):
            raise ValueError(f"Could not parse cql : {cql}")
        items: list[dict[str, Any]] = []
        for page in self.pages.values():
            if not self.listed(page, {"current"}):
                continue
            items.append({"type": "page", "id": page.id, "title": page.title, "page": page, "when": page.modified})
            for c in page.comments:
                items.append(
                    {"type": "comment", "id": c["id"], "title": f"Re: {page.title}", "page": page, "when": c["when"]}
                )
            for a in page.attachments:
                items.append(
                    {"type": "attachment", "id": a["id"], "title": a["title"], "page": page, "when": a["when"]}
                )
        for field_, op, raw in clause.findall(cql):
            values = [v.strip().strip('"') for v in raw.strip("()").split(",")]
            field_ = field_.lower()
            if field_ == "space":
                items = [i for i in items if i["page"].space in values]
            elif field_ == "type":
                items = [i for i in items if i["type"] in values]
            elif field_ == "ancestor":
                items = [i for i in items if values[0] in {a.id for a in self.ancestors(i["page"])}]
            elif field_ == "lastmodified" and op == ">=":
                fmt = "%Y-%m-%d %H:%M" if " " in values[0] else "%Y-%m-%d"
                since = datetime.strptime(values[0], fmt).replace(tzinfo=ZoneInfo(self.timezone))
                items = [i for i in items if i["when"] >= since]
            else:
                raise ValueError(f"unsupported CQL field {field_}")
        return sorted(items, key=lambda i: (len(i["id"]), i["id"]))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1])


def _page_of(request: Request, items: list[Any], cap: int) -> tuple[list[Any], dict[str, str]]:
    limit = min(int(request.query_params.get("limit", 25)), cap)
    start = _offset(request.query_params.get("cursor"))
    chunk = items[start : start + limit]
    links = {"base": str(request.base_url).rstrip("/") + "/wiki"}
    if start + limit < len(items):
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query = str(httpx.QueryParams({**params, "cursor": _cursor(start + limit)}))
        links["next"] = f"{request.url.path}?{query}"
    return chunk, links


COLLECTIONS = {"pages": "page", "folders": "folder", "whiteboards": "whiteboard", "databases": "database",
               "embeds": "embed"}  # fmt: skip


def build_app(fake: FakeConfluence) -> FastAPI:  # noqa: C901 - one route per documented endpoint
    """The FastAPI app serving ``fake``."""
    app = FastAPI()

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Response:
        fake.log.append(f"{request.url.path}?{request.url.query}")
        if fake.outage_after is not None and len(fake.log) > fake.outage_after:
            return JSONResponse({"message": "outage"}, status_code=500)
        for rule in fake.fails:
            if rule.times > 0 and rule.path in request.url.path:
                rule.times -= 1
                headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
                return JSONResponse({"statusCode": rule.status, "message": "injected"}, rule.status, headers)
        if request.url.path.startswith("/media/"):
            return await call_next(request)
        auth = request.headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        if auth not in (basic, f"Bearer {BEARER}"):
            return JSONResponse({"code": 401, "message": "Unauthorized; scope does not match"}, 401)
        return await call_next(request)

    @app.middleware("http")
    async def validate(request: Request, call_next: Any) -> Response:
        """Outermost: hold every exchange to the spec; violations are recorded and fail the test at teardown."""
        host, path, query = str(request.base_url).rstrip("/"), request.url.path, request.query_params.multi_items()
        problems = fake.contract.check_request(host, request.method, path, query)
        fake.violations += problems
        if problems:
            return JSONResponse({"statusCode": 400, "message": "; ".join(problems)}, 400)
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])
        media = response.headers.get("content-type", "")
        if "json" in media:
            fake.violations += fake.contract.check_response(
                host, request.method, path, query, response.status_code, body, media
            )
        return Response(body, response.status_code, dict(response.headers))

    def statuses(request: Request) -> set[str]:
        return set(request.query_params.get("status", "current,archived").split(","))

    def page_list(request: Request, pages: list[FakePage]) -> dict[str, Any]:
        body = request.query_params.get("body-format") == "storage"
        pages = sorted((p for p in pages if fake.listed(p, statuses(request))), key=lambda p: (len(p.id), p.id))
        chunk, links = _page_of(request, pages, fake.max_limit)
        return {"results": [fake.page_json(p, body) for p in chunk], "_links": links}

    def found(page_id: str, kinds: tuple[str, ...] = ("page",)) -> FakePage | None:
        page = fake.pages.get(page_id)
        return page if page and page.kind in kinds and page.status in ("current", "archived") else None

    def comment_json(page: FakePage, comment: dict[str, Any], body: bool) -> dict[str, Any]:
        """A v2 footer comment: a root names its page, a reply its parent comment."""
        out: dict[str, Any] = {
            "id": comment["id"],
            "status": "current",
            "title": f"Re: {page.title}",
            "version": {"createdAt": _iso(comment["when"]), "number": 1, "authorId": "acc-author"},
            "body": {"storage": {"value": comment["body"], "representation": "storage"}} if body else {},
            "_links": {"webui": f"/spaces/{page.space}/pages/{page.id}?focusedCommentId={comment['id']}"},
        }
        if comment["parent"]:
            out["parentCommentId"] = comment["parent"]
        else:
            out["pageId"] = page.id
        return out

    def comment_list(request: Request, page: FakePage, comments: list[dict[str, Any]]) -> dict[str, Any]:
        body = request.query_params.get("body-format") == "storage"
        chunk, links = _page_of(request, comments, fake.max_limit)
        return {"results": [comment_json(page, c, body) for c in chunk], "_links": links}

    @app.get("/wiki/rest/api/user/current")
    def current_user() -> dict[str, Any]:
        return {
            "type": "known",
            "accountId": "acc-bot",
            "accountType": "app",
            "email": EMAIL,
            "publicName": "askdocs bot",
            "displayName": "askdocs bot",
            "timeZone": fake.timezone,
        }

    @app.get("/wiki/api/v2/spaces")
    def spaces(request: Request, keys: str = "", ids: str = "") -> dict[str, Any]:
        chosen = [
            s
            for s in fake.spaces.values()
            if (not keys or s["key"] in keys.split(",")) and (not ids or s["id"] in ids.split(","))
        ]
        chunk, links = _page_of(request, chosen, fake.max_limit)
        return {"results": [fake.space_of(s["key"]) for s in chunk], "_links": links}

    @app.get("/wiki/api/v2/spaces/{space_id}/pages")
    def space_pages(request: Request, space_id: str) -> Any:
        key = next((k for k, s in fake.spaces.items() if s["id"] == space_id), None)
        if key is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        return page_list(request, [p for p in fake.pages.values() if p.space == key])

    @app.get("/wiki/api/v2/pages")
    def pages(request: Request, id: str = "") -> dict[str, Any]:  # noqa: A002 - the documented parameter name
        wanted = set(id.split(",")) if id else None
        return page_list(request, [p for p in fake.pages.values() if wanted is None or p.id in wanted])

    @app.get("/wiki/api/v2/pages/{page_id}")
    def page(request: Request, page_id: str) -> Any:
        got = found(page_id)
        if got is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        return fake.page_json(got, request.query_params.get("body-format") == "storage")

    @app.get("/wiki/api/v2/{collection}/{content_id}/ancestors")
    def ancestors(collection: str, content_id: str, limit: int = 25) -> Any:
        got = found(content_id, (COLLECTIONS.get(collection, "-"),))
        if got is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        chain = fake.ancestors(got)[-min(limit, 250) :]
        out: dict[str, Any] = {"results": [{"id": a.id, "type": a.kind} for a in chain]}
        return {**out, "_links": {}} if collection == "pages" else out  # only the page variant documents _links

    @app.get("/wiki/api/v2/{collection}/{content_id}")
    def other_content(collection: str, content_id: str) -> Any:
        got = found(content_id, (COLLECTIONS.get(collection, "-"),))
        if got is None or got.kind == "page":
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        view = fake.page_json(got, body=False)
        keep = ("id", "status", "title", "parentId", "parentType", "authorId", "ownerId", "createdAt", "version")
        return {**{k: view[k] for k in keep if k in view}, "type": got.kind, "position": 0, "_links": {}}

    @app.get("/wiki/api/v2/pages/{page_id}/footer-comments")
    def comments(request: Request, page_id: str) -> Any:
        got = found(page_id)
        if got is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        return comment_list(request, got, [c for c in got.comments if not c["parent"]])

    @app.get("/wiki/api/v2/footer-comments/{comment_id}/children")
    def replies(request: Request, comment_id: str) -> Any:
        for page in fake.pages.values():
            if any(c["id"] == comment_id for c in page.comments) and found(page.id):
                return comment_list(request, page, [c for c in page.comments if c["parent"] == comment_id])
        return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)

    @app.get("/wiki/api/v2/footer-comments")
    def all_comments(request: Request) -> Any:
        body = request.query_params.get("body-format") == "storage"
        every = [(p, c) for p in fake.pages.values() if found(p.id) for c in p.comments]
        chunk, links = _page_of(request, every, fake.max_limit)
        return {"results": [comment_json(p, c, body) for p, c in chunk], "_links": links}

    @app.get("/wiki/api/v2/pages/{page_id}/attachments")
    def attachments(request: Request, page_id: str) -> Any:
        got = found(page_id)
        if got is None:
            return JSONResponse({"errors": [{"status": 404, "code": "NOT_FOUND"}]}, 404)
        chunk, links = _page_of(request, got.attachments, fake.max_limit)
        return {
            "results": [
                {
                    "id": a["id"],
                    "status": "current",
                    "title": a["title"],
                    "createdAt": _iso(a["when"]),
                    "pageId": got.id,
                    "mediaType": a["mediaType"],
                    "mediaTypeDescription": "",
                    "comment": "",
                    "fileId": f"file-{a['id']}",
                    "fileSize": len(a["data"]),
                    "webuiLink": f"/pages/viewpageattachments.action?pageId={got.id}&preview=/{got.id}/{a['title']}",
                    "downloadLink": f"/download/attachments/{got.id}/{a['title']}?version=1&api=v2",
                    "version": {"createdAt": _iso(a["when"]), "number": 1, "authorId": "acc-author"},
                    "_links": {"download": f"/download/attachments/{got.id}/{a['title']}?version=1&api=v2"},
                }
                for a in chunk
            ],
            "_links": links,
        }

    @app.get("/wiki/download/attachments/{page_id}/{filename}")
    def download(page_id: str, filename: str) -> Any:
        got = found(page_id)
        att = next((a for a in got.attachments if a["title"] == filename), None) if got else None
        if att is None:
            return JSONResponse({"message": "not found"}, 404)
        return RedirectResponse(f"/media/file/{att['id']}?token=signed", status_code=302)

    @app.get("/media/file/{att_id}")
    def media(att_id: str) -> Any:
        for p in fake.pages.values():
            for a in p.attachments:
                if a["id"] == att_id:
                    return Response(a["data"], media_type=a["mediaType"])
        return JSONResponse({"message": "not found"}, 404)

    @app.get("/wiki/rest/api/content/{content_id}/restriction/byOperation/read")
    def restrictions(request: Request, content_id: str, start: int = 0, limit: int = 100) -> Any:
        got = found(content_id)  # v1 content only: a folder's id is not found, as the issue saw on real sites
        limit = min(limit, fake.max_limit)  # "this may be restricted by fixed system limits"
        if got is None:
            return JSONResponse({"statusCode": 404, "message": "No content found with id"}, 404)
        users = [
            {
                "type": "known",
                "accountId": a,
                "accountType": "atlassian",
                "email": fake.users.get(a, {}).get("email", ""),
                "publicName": fake.users.get(a, {}).get("name", a),
                "displayName": fake.users.get(a, {}).get("name", a),
                "isExternalCollaborator": False,
            }
            for a in got.users or []
        ]
        more_users = len(users) > start + limit
        users = users[start : start + limit]
        groups = [{"type": "group", "name": g, "id": f"gid-{g.replace(' ', '-')}"} for g in got.groups or []]
        groups = groups[start : start + limit]
        base = str(request.base_url).rstrip("/") + "/wiki"
        return {
            "operation": "read",
            "restrictions": {
                "user": {
                    "results": users,
                    "start": start,
                    "limit": limit,
                    "size": len(users),
                    "_links": {
                        "next": f"/rest/api/content/{content_id}/restriction/byOperation/read/user?start="
                        f"{start + limit}&limit={limit}"
                    }
                    if more_users
                    else {},
                },
                "group": {"results": groups, "start": start, "limit": limit, "size": len(groups)},
            },
            "_expandable": {"content": f"/rest/api/content/{content_id}"},
            "_links": {
                "self": f"{base}/rest/api/content/{content_id}/restriction/byOperation/read",
                "base": base,
                "context": "/wiki",
            },
        }

    @app.get("/wiki/rest/api/search")
    def search(request: Request, cql: str) -> Any:
        fake.searches.append(cql)
        try:
            items = fake.cql_match(cql)
        except ValueError as exc:
            return JSONResponse({"statusCode": 400, "message": str(exc)}, 400)
        chunk, links = _page_of(request, items, fake.max_limit)
        if "next" in links:
            links["next"] = links["next"].replace("/wiki/rest/api/search", "/rest/api/search")
        results = []
        for i in chunk:
            page = i["page"]
            content: dict[str, Any] = {
                "id": i["id"],
                "type": i["type"],
                "status": "current",
                "title": i["title"],
                "_expandable": {"container": f"/rest/api/content/{page.id}"},
            }
            if "content.container" in request.query_params.get("expand", "") and i["type"] != "page":
                content["container"] = {"id": page.id, "type": "page", "title": page.title}
            results.append(
                {
                    "content": content,
                    "title": i["title"],
                    "excerpt": "",
                    "url": f"/x/{page.id}",
                    "breadcrumbs": [],
                    "iconCssClass": f"aui-icon content-type-{i['type']}",
                    "lastModified": _iso(i["when"]),
                    "entityType": "content",
                }
            )
        return {
            "results": results,
            "start": _offset(request.query_params.get("cursor")),
            "limit": len(chunk),
            "size": len(chunk),
            "totalSize": len(items),
            "cqlQuery": cql,
            "searchDuration": 12,
            "_links": links,
        }

    return app


def seed(fake: FakeConfluence) -> FakeConfluence:
    """Two spaces with real-shaped pages: macros, a table, comments, attachments and restricted pages."""
    fake.add_space("ENG", "Engineering", "98001")
    fake.add_space("HR", "People", "98002")
    fake.users.update(  # most users hide their e-mail ("may return an empty string", v1 User schema)
        {
            "acc-alice": {"email": "alice@kumo.example", "name": "Alice"},
            "acc-bob": {"email": "", "name": "Bob"},
            "acc-carol": {"email": "", "name": "Carol"},
            "acc-dave": {"email": "", "name": "Dave"},
        }
    )
    fake.add_page("1001", "Engineering Home", "ENG", None, "<p>Welcome to <strong>Engineering</strong>.</p>")
    fake.add_page(
        "1002",
        "VPN setup",
        "ENG",
        "1001",
        (
            '<h2>Install</h2><p>Run the client:</p><ac:structured-macro ac:name="code"><ac:parameter '
            'ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[kumolink connect --region tokyo]]>'
            "</ac:plain-text-body></ac:structured-macro><table><tbody><tr><th>Region</th><th>Gateway</th></tr><tr>"
            "<td>Tokyo</td><td>gw-tyo.kumo.example</td></tr></tbody></table>"
        ),
    )
    fake.add_page(
        "1003",
        "Deploy runbook",
        "ENG",
        "1001",
        (
            '<ac:structured-macro ac:name="warning"><ac:rich-text-body><p>Never deploy on Fridays.</p>'
            '</ac:rich-text-body></ac:structured-macro><p>See <ac:link><ri:page ri:content-title="VPN setup" />'
            "</ac:link>.</p>"
        ),
    )
    fake.add_page(
        "1004",
        "Security",
        "ENG",
        "1001",
        "<p>Security team space.</p>",
        users=["acc-alice", "acc-carol", "acc-dave"],
        groups=["security"],
    )
    fake.add_page(
        "1005",
        "Zephyr incident postmortem",
        "ENG",
        "1004",
        "<p>The zephyr outage was caused by an expired certificate.</p>",
        users=["acc-alice", "acc-bob", "acc-carol"],
    )
    fake.add_page("1006", "Team offsite", "ENG", "1001", "<p>The offsite is in Hakone in October.</p>")
    fake.add_page("1007", "Old archived plan", "ENG", "1001", "<p>archived content</p>", status="archived")
    fake.add_page("2001", "People Home", "HR", None, "<p>HR policies live here.</p>")
    fake.add_page("2002", "Parental leave", "HR", "2001", "<p>Parental leave is 20 weeks at full pay.</p>")
    fake.add_comment("1003", "<p>Rollback takes about 7 minutes.</p>")
    fake.add_attachment("1003", "rollback.md", "text/markdown", b"# Rollback\n\nRun kumo-deploy rollback --last.\n")
    fake.add_attachment("1003", "diagram.png", "image/png", b"\x89PNG\r\n")
    fake.add_attachment("1002", "gateways.csv", "text/csv", b"region,gateway\nOsaka,gw-osa.kumo.example\n")
    return fake


@dataclass
class FakeServer:
    url: str
    fake: FakeConfluence


@pytest.fixture
def confluence_server() -> Iterator[FakeServer]:
    """The seeded fake Confluence served by uvicorn in a thread on a free 127.0.0.1 port."""
    fake = seed(FakeConfluence())
    with serve_in_thread(build_app(fake), "fake Confluence") as url:
        yield FakeServer(url, fake)
    if fake.violations:
        pytest.fail("the fake Confluence left Atlassian's spec:\n" + "\n".join(dict.fromkeys(fake.violations)))
