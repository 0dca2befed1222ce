"""The fake Confluence is held to Atlassian's published v1/v2 OpenAPI specs: these tests show the check itself
rejects what it must (undocumented paths and parameters, invalid or unlisted response fields) and that the live
fake answers an off-spec request with a 400 and records it (which fails any test using the fixture)."""

from __future__ import annotations

import json

import httpx
from confluence_contract import Contract
from confluence_server import EMAIL, TOKEN, FakeServer, confluence_server  # noqa: F401

HOST = "http://127.0.0.1:9"
PAGE = {
    "id": "1001",
    "status": "current",
    "title": "Home",
    "spaceId": "98001",
    "version": {"number": 1, "createdAt": "2026-03-02T09:00:00.000Z"},
    "_links": {"webui": "/spaces/ENG/pages/1001"},
}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_documented_requests_pass_and_undocumented_ones_fail() -> None:
    contract = Contract()
    query = [("id", "1001,1002"), ("body-format", "storage"), ("status", "current"), ("limit", "25")]
    assert contract.check_request(HOST, "GET", "/wiki/api/v2/pages", query) == []
    assert contract.check_request(HOST, "GET", "/wiki/api/v2/footer-comments/5001/children", [("limit", "2")]) == []
    restriction = "/wiki/rest/api/content/1004/restriction/byOperation/read"
    expand = ("expand", "restrictions.user,restrictions.group")
    assert contract.check_request(HOST, "GET", restriction, [expand, ("start", "0"), ("limit", "100")]) == []
    [unknown] = contract.check_request(HOST, "GET", "/wiki/api/v2/pages", [("id", "1"), ("depth", "all")])
    assert "'depth' is not declared for /pages" in unknown
    [path] = contract.check_request(HOST, "GET", "/wiki/api/v2/pages/1001/restrictions", [])
    assert "undocumented" in path
    [generation] = contract.check_request(HOST, "GET", "/wiki/rest/api/v3/content", [])
    assert "/wiki/rest/api/v3/content" in generation
    [invalid] = contract.check_request(HOST, "GET", "/wiki/api/v2/pages/1001/ancestors", [("limit", "500")])
    assert "500 is greater than the maximum of 250" in invalid, "the spec caps ancestors at 250 per call"
    assert contract.check_request(HOST, "GET", "/wiki/download/attachments/1003/a.md", []) == []


def test_responses_are_checked_field_by_field_in_strict_mode() -> None:
    listing = "/wiki/api/v2/pages"
    strict, loose = Contract(), Contract(strict=False)
    good = body({"results": [PAGE], "_links": {"next": "/wiki/api/v2/pages?cursor=x"}})
    assert strict.check_response(HOST, "GET", listing, [], 200, good, "application/json") == []
    invented = body({"results": [{**PAGE, "ancestors": []}], "_links": {}})
    [extra] = strict.check_response(HOST, "GET", listing, [], 200, invented, "application/json")
    assert "results/0" in extra and "'ancestors' was unexpected" in extra
    assert loose.check_response(HOST, "GET", listing, [], 200, invented, "application/json") == []
    nulled = body({"results": [{**PAGE, "parentId": None}]})
    assert strict.check_response(HOST, "GET", listing, [], 200, nulled, "application/json"), "parentId is not nullable"
    typed = body({"results": [{"id": "7", "type": "folder"}, {"id": "8", "type": "space"}], "_links": {}})
    [kind] = strict.check_response(HOST, "GET", "/wiki/api/v2/pages/9/ancestors", [], 200, typed, "application/json")
    assert "results/1/type" in kind
    single = body({**PAGE, "_links": {"webui": "/x", "base": "https://kumo.example/wiki"}})
    assert strict.check_response(HOST, "GET", "/wiki/api/v2/pages/1001", [], 200, single, "application/json") == [], (
        "allOf members are merged, so both halves' properties are allowed"
    )


def test_the_live_fake_rejects_and_records_an_off_spec_request(confluence_server: FakeServer) -> None:  # noqa: F811
    fake = confluence_server.fake
    url = f"{confluence_server.url}/wiki/api/v2/pages"
    response = httpx.get(url, params={"id": "1001", "expand": "body"}, auth=(EMAIL, TOKEN), timeout=30)
    assert response.status_code == 400 and "'expand' is not declared" in response.json()["message"]
    assert fake.violations and "'expand'" in fake.violations[0]
    fake.violations.clear()  # recorded violations fail the test at teardown; this one was provoked on purpose
    fine = httpx.get(url, params={"id": "1001"}, auth=(EMAIL, TOKEN), timeout=30)
    assert fine.status_code == 200 and fine.json()["results"][0]["id"] == "1001" and fake.violations == []
