"""The spec check of the fake Drive's traffic (``google_spec``): what it accepts, what it rejects, and that the
fake server runs every request and JSON response through it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from drive_server import DriveServer, FakeFile, drive_server_fixture, drive_server_session_fixture, user  # noqa: F401
from google_fixtures import ALICE, connector_for, seed, split
from google_spec import check_request, check_response, find_method

SHARED = Path(os.environ.get("ASKDOCS_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
SAMPLES = SHARED / "api-samples" / "google"


def test_requests_must_name_a_documented_method_and_parameters() -> None:
    method, problems = check_request("GET", "/drive/v3/files/abc/export", ["mimeType", "alt"])
    assert method is not None and method.id == "drive.files.export" and not problems
    assert find_method("GET", "/drive/v3/files/generateIds").id == "drive.files.generateIds"  # type: ignore[union-attr]
    assert find_method("GET", "/v4/spreadsheets/s1").id == "sheets.spreadsheets.get"  # type: ignore[union-attr]
    assert check_request("GET", "/drive/v3/files/abc/permissions", ["useDomainAdminAccess"])[1] == []
    assert check_request("GET", "/drive/v3/files/abc/thumbnail", [])[1], "an undocumented path"
    assert check_request("DELETE", "/drive/v3/changes/startPageToken", [])[1], "a verb the path does not have"
    _, problems = check_request("GET", "/drive/v3/files", ["q", "orderBy", "includeTeamDriveItems", "limit"])
    assert problems == ["drive.files.list: query parameter 'limit' is not declared"]


def test_responses_must_match_the_schema_without_unknown_fields() -> None:
    files_list = find_method("GET", "/drive/v3/files")
    assert files_list is not None
    good = {"kind": "drive#fileList", "files": [{"id": "a", "size": "12", "permissions": [{"type": "user"}],
                                                 "exportLinks": {"text/plain": "https://x"}}]}  # fmt: skip
    assert check_response(files_list, good) == []
    assert check_response(files_list, {"files": [{"id": "a", "shareLink": "x"}]}) == [
        "drive.files.list response at /files/0: Additional properties are not allowed ('shareLink' was unexpected)"
    ]
    assert check_response(files_list, {"files": [{"id": "a", "size": 12}]}), "int64 travels as a string"
    assert check_response(files_list, {"files": [{"permissions": [{"permissionDetails": [{"inherited": "no"}]}]}]})
    docs_get = find_method("GET", "/v1/documents/doc-1")
    assert docs_get is not None and docs_get.id == "docs.documents.get"
    paragraph = {"paragraph": {"elements": [{"textRun": {"content": "Hello\n"}}]}}
    assert check_response(docs_get, {"documentId": "d", "title": "T", "body": {"content": [paragraph]}}) == []
    assert check_response(docs_get, {"documentId": "d", "body": {"text": "Hello"}}), "Docs has no body.text"
    export = find_method("GET", "/drive/v3/files/abc/export")
    assert export is not None and check_response(export, {}), "export answers bytes, never JSON"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/api-samples/google is not present")
def test_the_published_samples_pass() -> None:
    samples = {
        ("GET", "/drive/v3/files"): "drive_files_list.constructed-from-discovery.json",
        ("GET", "/drive/v3/changes"): "drive_changes_list.constructed-from-discovery.json",
        ("GET", "/drive/v3/changes/startPageToken"): "drive_changes_getStartPageToken.constructed-from-discovery.json",
        ("GET", "/v1/documents/doc-1"): "docs_documents_get.constructed-from-discovery.json",
    }
    for (verb, path), name in samples.items():
        method = find_method(verb, path)
        assert method is not None, path
        assert check_response(method, json.loads((SAMPLES / name).read_text())) == [], name


def test_the_fake_checks_every_request_and_response(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    docs, _, failures = split(list(connector_for(drive_server, tmp_path, include_sheets_slides=True).load_all()))
    assert docs and not failures and not drive.violations
    assert drive.stats["spec_requests"] == len(drive.log), "every request was checked"
    json_answers = [op for op, p in drive.log if op != "files.export" and p.get("alt") != "media"]
    # All but two answered JSON with 200 (403 to Salaries' permissions.list, 404 to the shared drive's root id).
    assert drive.stats["spec_responses"] == len(json_answers) - 2, "every JSON response was validated"
    headers = {"authorization": "Bearer test-token"}
    with httpx.Client(base_url=drive_server.url, headers=headers) as http:
        http.get("/drive/v3/files", params={"limit": "5"})
        http.get("/drive/v3/files/doc-vpn/thumbnail")
        drive.add(FakeFile("doc-odd", "Odd", permissions=[dict(user(ALICE), shareLink="x")], owners=[ALICE]))
        assert http.get("/drive/v3/files/doc-odd", params={"fields": "permissions"}).status_code == 200
    problems = list(drive.violations)
    drive.violations.clear()  # seen here; the fixture would fail the test on them
    assert any("'limit' is not declared" in p for p in problems)
    assert any("/drive/v3/files/doc-vpn/thumbnail" in p for p in problems)
    assert any("drive.files.get response at /permissions/0" in p and "shareLink" in p for p in problems)
