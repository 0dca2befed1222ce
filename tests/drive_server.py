"""A fake Google Drive v3 server on 127.0.0.1 for the Google Docs connector tests.

Every request and JSON response is checked against the published discovery documents (``google_spec``): a test
using the ``drive_server`` fixture fails on a violation. Contract from the discovery document
(``drive_contract``): parameters, ``fields`` masks (Drive's default file fields are only kind/id/name/mimeType),
the ``q`` language subset, Google's error shape. It holds files, folders (limited access too), shared drives and
their members, permissions, exports (Markdown with embedded images / HTML / plain / CSV of the first sheet; the
10 MB limit per format), the changes feed (one entry per file, newest state), paging, an OAuth ``/token``
endpoint that verifies service-account JWTs (RS256) and refresh tokens, domain administrators
(``useDomainAdminAccess``), and fault injection (rate-limit storms, hard failures).
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from drive_contract import ApiError, apply_mask, check_mask, check_params, compile_query, parse_fields
from drive_exports import DOC, EXPORTS, SHEET, SLIDES, export_file, sheet_titles, sheet_values, slide_count
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from google_spec import check_request, check_response
from local_server import serve_in_thread

FOLDER = "application/vnd.google-apps.folder"
SCOPE = "https://www.googleapis.com/auth/drive.readonly"
DEFAULT_FILE = {"kind": None, "id": None, "name": None, "mimeType": None}


@dataclass
class FakeFile:
    """One Drive item; ``body`` is Markdown for Docs, CSV for Sheets, text for Slides; ``content`` the bytes of a
    file (PDF, Office; served by ``alt=media``) or of a Sheet's XLSX / Slides' PPTX export."""

    id: str
    name: str
    mime_type: str = DOC
    parents: list[str] = field(default_factory=list)
    body: str = ""
    owners: list[str] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    drive_id: str | None = None
    trashed: bool = False
    can_share: bool = True  # False: no ``permissions`` in the resource and permissions.list answers 403
    formats: tuple[str, ...] | None = None  # export formats offered (default: all for the type)
    pretend_size: int = 0  # export size of every format (or file size) to report, for the size limits
    image_bytes: int = 0  # a Doc's images: embedded (base64) in its Markdown export, linked from its HTML
    limited: bool = False  # a folder with inherited permissions disabled (limited access)
    content: bytes = b""
    modified: datetime = field(default_factory=lambda: datetime(2026, 3, 1, tzinfo=UTC))

    def resource(self) -> dict[str, Any]:
        """The full File resource (before any fields mask)."""
        stamp = self.modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        res: dict[str, Any] = {
            "kind": "drive#file", "id": self.id, "name": self.name, "mimeType": self.mime_type,
            "parents": list(self.parents), "trashed": self.trashed, "explicitlyTrashed": self.trashed,
            "createdTime": "2026-01-01T00:00:00.000Z", "modifiedTime": stamp,
            "webViewLink": f"https://docs.google.com/document/d/{self.id}/edit",
        }  # fmt: skip
        if self.mime_type in EXPORTS:
            res["exportLinks"] = {m: f"https://docs.google.com/export?id={self.id}&mime={m}" for m in self.offered()}
        elif not self.mime_type.startswith("application/vnd.google-apps."):  # a file with bytes: Drive says its size
            res["size"] = str(self.pretend_size or len(self.content))
            res["webViewLink"] = f"https://drive.google.com/file/d/{self.id}/view"
        if self.mime_type == FOLDER:
            res["inheritedPermissionsDisabled"] = self.limited
        if self.drive_id:
            res["driveId"] = self.drive_id
        else:
            res["owners"] = [
                {"kind": "drive#user", "displayName": e.split("@")[0].title(), "emailAddress": e} for e in self.owners
            ]
            if self.can_share:
                res["permissions"] = [dict(p, kind="drive#permission") for p in self.permissions]
        return res

    def offered(self) -> tuple[str, ...]:
        """Export formats this file offers."""
        return self.formats if self.formats is not None else EXPORTS.get(self.mime_type, ())


def user(email: str, role: str = "reader") -> dict[str, Any]:
    """A user permission."""
    return {"id": f"u-{email}", "type": "user", "role": role, "emailAddress": email}


def group(email: str) -> dict[str, Any]:
    """A group permission."""
    return {"id": f"g-{email}", "type": "group", "role": "reader", "emailAddress": email}


@dataclass
class Fault:
    """Answer ``status``/``reason`` to requests of ``op`` (e.g. 'files.export', '*') after ``after`` matches."""

    op: str
    status: int = 500
    reason: str = "backendError"
    after: int = 0
    times: int = -1  # -1: forever

    def hit(self, op: str) -> bool:
        if self.op not in ("*", op) or self.times == 0:
            return False
        if self.after > 0:
            self.after -= 1
            return False
        self.times -= 1
        return True


class FakeDrive:
    """Server state: files, the changes feed, issued tokens, faults and a log of requests."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.files: dict[str, FakeFile] = {}
        self.feed: list[tuple[int, str, bool]] = []  # (change id, file id, removed)
        self.next_change = 1
        self.clock = datetime(2026, 3, 1, tzinfo=UTC)
        self.tokens: dict[str, str] = {"test-token": SCOPE}  # access token -> scope
        self.subjects: dict[str, str] = {}  # access token -> the user it acts as (domain-wide delegation)
        self.admins: set[str] = set()  # users who are Workspace domain administrators
        self.drives: dict[str, list[dict[str, Any]]] = {}  # shared drive id -> its members (permissions)
        self.service_accounts: dict[str, Any] = {}  # client email -> public key
        self.delegated: set[str] = set()  # subjects a service account may impersonate
        self.refresh_tokens: set[str] = set()
        self.faults: list[Fault] = []
        self.storm = 0.0
        self.rng = random.Random(7)
        self.log: list[tuple[str, dict[str, Any]]] = []
        self.stats = {"served": 0, "throttled": 0, "spec_requests": 0, "spec_responses": 0}
        self.violations: list[str] = []  # requests and responses that break the published API specs

    # --- building and changing the drive (each change lands in the feed) ----------------------
    def add(self, f: FakeFile) -> FakeFile:
        with self.lock:
            self.files[f.id] = f
            self._touch(f)
            return f

    def _touch(self, f: FakeFile, removed: bool = False) -> None:
        self.clock += timedelta(minutes=1)
        if not removed:
            f.modified = self.clock
        self.feed = [entry for entry in self.feed if entry[1] != f.id]
        self.feed.append((self.next_change, f.id, removed))
        self.next_change += 1

    def change(self, file_id: str, **updates: Any) -> None:
        """Set attributes (body, name, parents, trashed, permissions, …) and record a change."""
        with self.lock:
            f = self.files[file_id]
            for key, value in updates.items():
                setattr(f, key, value)
            self._touch(f)

    def delete(self, file_id: str) -> None:
        """Delete for good: the feed reports ``removed``."""
        with self.lock:
            self._touch(self.files.pop(file_id), removed=True)

    # --- requests -----------------------------------------------------------------------------
    def gate(self, op: str, request: Request, params: dict[str, Any]) -> None:
        """Authorization, injected faults and the rate-limit storm, then log the request."""
        token = _bearer(request)
        with self.lock:
            if token not in self.tokens:
                raise ApiError(401, "authError", "Request had invalid authentication credentials.")
            if SCOPE not in self.tokens[token].split() and "auth/drive " not in self.tokens[token] + " ":
                raise ApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
            for fault in self.faults:
                if fault.hit(op):
                    raise ApiError(fault.status, fault.reason, f"injected {fault.reason}")
            if self.storm and self.rng.random() < self.storm:
                self.stats["throttled"] += 1
                reason = self.rng.choice(["userRateLimitExceeded", "rateLimitExceeded", "429"])
                if reason == "429":
                    raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
                raise ApiError(403, reason, "User rate limit exceeded.", "usageLimits")
            self.stats["served"] += 1
            self.log.append((op, params))

    def visible(self, f: FakeFile, all_drives: bool) -> bool:
        return all_drives or not f.drive_id

    def get(self, file_id: str, all_drives: bool) -> FakeFile:
        f = self.files.get(file_id)
        if f is None or not self.visible(f, all_drives):
            raise ApiError(404, "notFound", f"File not found: {file_id}.")
        return f


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else ""


def _page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    start = int(token[2:]) if token and token.startswith("p:") and token[2:].isdigit() else 0
    if token and not start:
        raise ApiError(400, "invalid", "Invalid Value: pageToken")
    end = start + size
    return items[start:end], (f"p:{end}" if end < len(items) else None)


def _masked(params: dict[str, Any], schema: str, value: dict[str, Any], default: dict[str, Any]) -> Any:
    mask = parse_fields(params["fields"]) if "fields" in params else default
    check_mask(mask, schema)
    return apply_mask(value, mask)


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def create_app(holder: dict[str, FakeDrive]) -> FastAPI:
    """The Drive v3 app; ``holder['drive']`` is the current state (tests swap it)."""
    app = FastAPI()

    @app.middleware("http")
    async def _check_against_spec(request: Request, call_next: Any) -> Any:
        """Every Drive/Sheets/Slides request and JSON response against the discovery documents."""
        if request.url.path == "/token":  # OAuth, not part of the APIs
            return await call_next(request)
        query = [key for key, _ in request.query_params.multi_items()]
        method, problems = check_request(request.method, request.url.path, query)
        holder["drive"].stats["spec_requests"] += 1
        response = await call_next(request)
        if method is not None and response.status_code < 300 and "json" in response.headers.get("content-type", ""):
            body = b"".join([chunk async for chunk in response.body_iterator])
            problems += check_response(method, json.loads(body))
            holder["drive"].stats["spec_responses"] += 1
            response = Response(body, status_code=response.status_code, headers=dict(response.headers))
        holder["drive"].violations.extend(problems)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": "0"} if exc.code == 429 else None
        return JSONResponse(exc.body(), status_code=exc.code, headers=headers)

    def begin(op: str, request: Request) -> tuple[FakeDrive, dict[str, Any]]:
        drive = holder["drive"]
        params = check_params(op, dict(request.query_params))
        drive.gate(op, request, params)
        return drive, params

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        drive = holder["drive"]
        scope, subject = "", None
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            head, payload, sig = str(form.get("assertion", "")).split(".")
            claims = _b64json(payload)
            key = drive.service_accounts.get(claims.get("iss"))
            try:
                assert key is not None and _b64json(head)["alg"] == "RS256"
                key.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{payload}".encode(),
                           padding.PKCS1v15(), hashes.SHA256())  # fmt: skip
                assert claims.get("sub") in (None, *drive.delegated)
            except Exception:  # noqa: BLE001 - any bad assertion is an invalid grant
                return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT."}, 400)
            scope = claims.get("scope", "")
            subject = claims.get("sub")
        elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") in drive.refresh_tokens:
            scope = str(form.get("scope") or SCOPE)
        else:
            return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        with drive.lock:
            access = f"ya29.fake-{len(drive.tokens)}"
            drive.tokens[access] = scope
            if subject:
                drive.subjects[access] = subject
        return JSONResponse({"access_token": access, "expires_in": 3600, "token_type": "Bearer", "scope": scope})

    @app.get("/drive/v3/files")
    def files_list(request: Request) -> Any:
        drive, p = begin("files.list", request)
        corpora = p.get("corpora", "user")
        all_drives = p.get("includeItemsFromAllDrives", False)
        if corpora in ("allDrives", "drive") and not (all_drives and p.get("supportsAllDrives")):
            raise ApiError(400, "invalid", "includeItemsFromAllDrives and supportsAllDrives must be true here")
        match = compile_query(p["q"]) if p.get("q") else (lambda f: True)
        with drive.lock:
            found = [f.resource() for f in sorted(drive.files.values(), key=lambda f: f.id)
                     if drive.visible(f, corpora != "user") and match(f.resource())]  # fmt: skip
        items, token = _page(found, p.get("pageToken"), p.get("pageSize", 100))
        body = {"kind": "drive#fileList", "incompleteSearch": False, "files": items}
        if token:
            body["nextPageToken"] = token
        return _masked(p, "FileList", body, {"kind": None, "nextPageToken": None, "incompleteSearch": None,
                                              "files": DEFAULT_FILE})  # fmt: skip

    @app.get("/drive/v3/files/{file_id}")
    def files_get(file_id: str, request: Request) -> Any:
        drive, p = begin("files.get", request)
        with drive.lock:
            f = drive.get(file_id, p.get("supportsAllDrives", False))
            resource, content = f.resource(), f.content
        if p.get("alt") == "media":
            if resource["mimeType"].startswith("application/vnd.google-apps."):
                raise ApiError(403, "fileNotDownloadable", "Only files with binary content can be downloaded. "
                               "Use Export with Docs Editors files.")  # fmt: skip
            return Response(content, media_type=resource["mimeType"])
        return _masked(p, "File", resource, DEFAULT_FILE)

    @app.get("/drive/v3/files/{file_id}/export")
    def files_export(file_id: str, request: Request) -> Response:
        drive, p = begin("files.export", request)
        with drive.lock:
            body = export_file(drive.get(file_id, True), p["mimeType"])
        return Response(body, media_type=p["mimeType"])

    def editor_file(op: str, file_id: str, request: Request, mime_type: str, allowed: set[str]) -> FakeFile:
        """Gate a Sheets/Slides API call and return its file (their errors for unknown parameters, wrong types)."""
        drive, params = holder["drive"], dict(request.query_params)
        unknown = set(params) - {"fields", "alt", "prettyPrint", *allowed}
        if unknown:
            raise ApiError(400, "invalidParameter", f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]}")
        drive.gate(op, request, params)
        with drive.lock:
            f = drive.get(file_id, True)
        if f.mime_type != mime_type:
            raise ApiError(400, "failedPrecondition", "This operation is not supported for this document")
        return f

    @app.get("/v4/spreadsheets/{spreadsheet_id}")
    def spreadsheets_get(spreadsheet_id: str, request: Request) -> Any:
        """Sheets API v4 ``spreadsheets.get``: each sheet's properties (the first sheet's id is 0, as in Sheets)."""
        f = editor_file("spreadsheets.get", spreadsheet_id, request, SHEET, {"includeGridData", "ranges"})
        return {"sheets": [{"properties": {"sheetId": 0 if i == 0 else 1000 + i, "title": t}}
                           for i, t in enumerate(sheet_titles(f))]}  # fmt: skip

    @app.get("/v4/spreadsheets/{spreadsheet_id}/values:batchGet")
    def values_batch_get(spreadsheet_id: str, request: Request) -> Any:
        """Sheets API v4 ``spreadsheets.values.batchGet`` of whole sheets (ranges are quoted sheet titles)."""
        allowed = {"ranges", "majorDimension", "valueRenderOption", "dateTimeRenderOption"}
        f = editor_file("spreadsheets.values.batchGet", spreadsheet_id, request, SHEET, allowed)
        tabs = sheet_values(f)
        found = []
        for quoted in request.query_params.getlist("ranges"):
            title = quoted[1:-1].replace("''", "'") if quoted.startswith("'") else quoted
            if title not in tabs:
                raise ApiError(400, "badRequest", f"Unable to parse range: {quoted}")
            found.append({"range": f"{quoted}!A1:Z{max(1, len(tabs[title]))}", "majorDimension": "ROWS",
                          "values": tabs[title]})  # fmt: skip
        body = {"spreadsheetId": f.id, "valueRanges": found}
        fields = request.query_params.get("fields")
        return apply_mask(body, parse_fields(fields)) if fields else body

    @app.get("/v1/presentations/{presentation_id}")
    def presentations_get(presentation_id: str, request: Request) -> Any:
        """Slides API v1 ``presentations.get``: the slides' page object ids, in order."""
        f = editor_file("presentations.get", presentation_id, request, SLIDES, set())
        return {"slides": [{"objectId": f"g{f.id.replace('-', '')}_{n}"} for n in range(slide_count(f))]}

    @app.get("/drive/v3/files/{file_id}/permissions")
    def permissions_list(file_id: str, request: Request) -> Any:
        drive, p = begin("permissions.list", request)
        with drive.lock:
            if p.get("useDomainAdminAccess") and file_id in drive.drives:
                if drive.subjects.get(_bearer(request)) not in drive.admins:
                    raise ApiError(403, "insufficientFilePermissions", "The user is not a domain administrator.")
                perms = [dict(x, kind="drive#permission") for x in drive.drives[file_id]]
            else:
                f = drive.get(file_id, p.get("supportsAllDrives", False))
                if not f.can_share:
                    raise ApiError(403, "insufficientFilePermissions", "The user does not have sufficient permissions.")
                perms = [dict(x, kind="drive#permission") for x in f.permissions]
        items, token = _page(perms, p.get("pageToken"), p.get("pageSize", 100))
        body: dict[str, Any] = {"kind": "drive#permissionList", "permissions": items}
        if token:
            body["nextPageToken"] = token
        default = {"kind": None, "nextPageToken": None, "permissions": {"kind": None, "id": None, "type": None,
                                                                         "role": None}}  # fmt: skip
        return _masked(p, "PermissionList", body, default)

    @app.get("/drive/v3/changes/startPageToken")
    def start_token(request: Request) -> Any:
        drive, p = begin("changes.getStartPageToken", request)
        return _masked(p, "StartPageToken", {"kind": "drive#startPageToken", "startPageToken": str(drive.next_change)},
                       {"kind": None, "startPageToken": None})  # fmt: skip

    @app.get("/drive/v3/changes")
    def changes_list(request: Request) -> Any:
        drive, p = begin("changes.list", request)
        if not p["pageToken"].isdigit():
            raise ApiError(400, "invalid", "Invalid Value: pageToken")
        all_drives = p.get("includeItemsFromAllDrives", False) and p.get("supportsAllDrives", False)
        with drive.lock:
            pending = [e for e in drive.feed if e[0] >= int(p["pageToken"])]
            page, more = pending[: p.get("pageSize", 100)], len(pending) > p.get("pageSize", 100)
            changes = []
            for _change_id, file_id, removed in page:
                f = drive.files.get(file_id)
                if f is not None and not drive.visible(f, all_drives):
                    continue
                entry: dict[str, Any] = {"kind": "drive#change", "changeType": "file", "fileId": file_id,
                                         "removed": removed or f is None, "time": drive.clock.isoformat()}  # fmt: skip
                if f is not None and not removed:
                    entry["file"] = f.resource()
                changes.append(entry)
            body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
            if more:
                body["nextPageToken"] = str(page[-1][0] + 1)
            else:
                body["newStartPageToken"] = str(drive.next_change)
        default = {"kind": None, "nextPageToken": None, "newStartPageToken": None,
                   "changes": {"kind": None, "changeType": None, "time": None, "removed": None, "fileId": None,
                               "file": DEFAULT_FILE}}  # fmt: skip
        return _masked(p, "ChangeList", body, default)

    return app


# --- credentials ---------------------------------------------------------------------------------
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(drive: FakeDrive, token_uri: str, email: str = "askdocs@proj.iam.gserviceaccount.com") -> dict:
    """A service-account key whose token endpoint is the fake server; the server trusts its public key."""
    from cryptography.hazmat.primitives import serialization

    drive.service_accounts[email] = _KEY.public_key()
    pem = _KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"type": "service_account", "project_id": "proj", "private_key_id": "k1", "private_key": pem,
            "client_email": email, "client_id": "1", "token_uri": token_uri}  # fmt: skip


@dataclass
class DriveServer:
    """The running server: ``url`` (``http://127.0.0.1:PORT``), ``endpoint`` for the client, the state."""

    url: str
    holder: dict[str, FakeDrive]

    @property
    def endpoint(self) -> str:
        return f"{self.url}/drive/v3/"

    @property
    def drive(self) -> FakeDrive:
        return self.holder["drive"]


@pytest.fixture(scope="session", name="drive_server_session")
def drive_server_session_fixture() -> Iterator[DriveServer]:
    """Start the fake Drive with uvicorn in a thread on a free 127.0.0.1 port."""
    holder = {"drive": FakeDrive()}
    with serve_in_thread(create_app(holder), "fake Drive") as url:
        yield DriveServer(url, holder)


@pytest.fixture(name="drive_server")
def drive_server_fixture(drive_server_session: DriveServer) -> Iterator[DriveServer]:
    """The running fake Drive with a fresh, empty state for this test; the test fails if any request or response
    broke the published API specs (``google_spec``)."""
    drive_server_session.holder["drive"] = FakeDrive()
    yield drive_server_session
    violations = drive_server_session.drive.violations
    if violations:
        pytest.fail("traffic that breaks the Google API discovery documents:\n" + "\n".join(violations[:20]))
