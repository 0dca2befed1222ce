"""Feedback over HTTP (who may give it, CSRF for the page's cookie session), its BEIR qrels export, the facets
endpoint under the caller's ACL, and the page's UI language from Accept-Language."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import httpx
import pytest
from api_fixtures import LiveServer, api_key, live_server  # noqa: F401
from page_fixtures import FILES, PageServer, page_server  # noqa: F401
from typer.testing import CliRunner

from askdocs.api.cli import app as cli
from askdocs.api.feedback import Feedback, FeedbackStore, query_id
from askdocs.api.routes.ui import ui_language
from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.eval.beir import load_beir
from askdocs.settings import Settings

BUDGET = "files:finance/zephyr-budget.md"


def signed_in(url: str, email: str) -> tuple[httpx.Client, str]:
    """A client with the page's demo session cookie for ``email``; returns it and the CSRF token."""
    client = httpx.Client(base_url=url, timeout=30)
    csrf = client.get("/auth/me").json()["csrf"]
    response = client.post("/auth/demo", json={"email": email}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    return client, client.get("/auth/me").json()["csrf"]


def test_feedback_needs_a_caller_and_the_session_csrf_token(page_server: PageServer) -> None:  # noqa: F811
    body = {"query": "Zephyr budget", "rating": "down", "doc_id": BUDGET, "comment": "old figure"}
    anonymous = httpx.post(f"{page_server.url}/v1/feedback", json=body, timeout=30)
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["detail"]
    client, csrf = signed_in(page_server.url, "ana@kumo.example")
    try:
        forged = client.post("/v1/feedback", json=body)
        assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]
        stored = client.post("/v1/feedback", json=body, headers={"X-CSRF-Token": csrf})
        assert stored.status_code == 201, stored.text
        bad = client.post("/v1/feedback", json={**body, "rating": "meh"}, headers={"X-CSRF-Token": csrf})
        assert bad.status_code == 422 and "rating" in bad.json()["detail"]
        blank = client.post("/v1/feedback", json={**body, "query": "  "}, headers={"X-CSRF-Token": csrf})
        assert blank.status_code == 422 and "query" in blank.json()["detail"]
    finally:
        client.close()
    rows = FeedbackStore(page_server.services.settings.data_dir / "feedback.sqlite3").all()
    row = next(r for r in rows if r.id == stored.json()["id"])
    assert (row.user, row.query, row.doc_id, row.rating, row.comment) == (
        "ana@kumo.example",
        "Zephyr budget",
        BUDGET,
        "down",
        "old figure",
    )
    keyed = httpx.post(
        f"{page_server.url}/v1/feedback",
        json={"query": "Zephyr launch", "rating": "up"},
        headers=api_key(page_server.services.settings, "group:engineering"),
        timeout=30,
    )
    assert keyed.status_code == 201, "an API key needs no CSRF token"


def test_export_writes_beir_qrels_latest_judgement_wins(tmp_path: Path, live_server: LiveServer) -> None:  # noqa: F811
    data = tmp_path / "data"
    workspace = tmp_path / "workspace"
    for relpath in ("finance/zephyr-budget.md", "tokyo/zephyr-ja.md"):
        (workspace / relpath).parent.mkdir(parents=True, exist_ok=True)
        (workspace / relpath).write_text(FILES[relpath], encoding="utf-8")
    services = Services.build(
        Settings(data_dir=data, workspace_dir=workspace), embedders=live_server.services.embedders
    )
    assert services.indexer().full_sync(FilesConnector(workspace)).status == "succeeded"
    services.close()
    store = FeedbackStore(data / "feedback.sqlite3")
    store.add("ana@kumo.example", Feedback(query="Zephyr budget", rating="down", doc_id=BUDGET))
    store.add("laura@kumo.example", Feedback(query="Zephyr budget", rating="up", doc_id=BUDGET, comment="ok now"))
    store.add("ana@kumo.example", Feedback(query="ゼファー計画", rating="up", doc_id="files:tokyo/zephyr-ja.md"))
    store.add("ana@kumo.example", Feedback(query="Zephyr budget", rating="up"))  # the answer: no document
    out = tmp_path / "judged"
    result = CliRunner().invoke(cli, ["feedback", "export", "--out", str(out)], env={"ASKDOCS_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    with (out / "qrels" / "test.tsv").open(encoding="utf-8") as qrels:
        rows = list(csv.reader(qrels, delimiter="\t"))
    assert rows == [
        ["query-id", "corpus-id", "score"],
        [query_id("Zephyr budget"), BUDGET, "1"],
        [query_id("ゼファー計画"), "files:tokyo/zephyr-ja.md", "1"],
    ]
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    dataset = load_beir(out)  # what `askdocs eval --dataset` reads
    assert not dataset.notes and set(dataset.corpus) == {BUDGET, "files:tokyo/zephyr-ja.md"}
    assert "4 million yen" in dataset.corpus[BUDGET][1] and dataset.qrels[query_id("Zephyr budget")] == {BUDGET: 1}
    assert queries == [
        {"_id": query_id("Zephyr budget"), "text": "Zephyr budget"},
        {"_id": query_id("ゼファー計画"), "text": "ゼファー計画"},
    ]


def test_export_without_feedback_is_a_readable_error(tmp_path: Path) -> None:
    env = {"ASKDOCS_DATA_DIR": str(tmp_path / "empty")}
    result = CliRunner().invoke(cli, ["feedback", "export", "--out", str(tmp_path / "x")], env=env)
    assert result.exit_code == 2 and "no feedback yet" in result.output, result.output


def test_facets_count_only_what_the_caller_may_see(page_server: PageServer) -> None:  # noqa: F811
    def counts(headers: dict[str, str] | None = None, **params: str) -> dict[str, int]:
        response = httpx.get(f"{page_server.url}/v1/facets", params=params, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return {s["name"]: s["documents"] for s in response.json()["sources"]}

    public = counts()
    finance = counts(api_key(page_server.services.settings, "group:finance"))
    assert public["slack"] == 1 and finance["files"] == public["files"] + 1, (public, finance)
    recent = counts(updated_after="2025-06-01T00:00:00Z")
    assert recent["files"] == public["files"] - 1, "the two-year-old archive note is left out"
    places = httpx.get(f"{page_server.url}/v1/facets", params={"source": "files"}, timeout=30).json()["containers"]
    assert {c["value"]: c["documents"] for c in places} == {"folder:notes": 14, "folder:tokyo": 1}, places
    assert places[0] == {"value": "folder:notes", "kind": "folder", "name": "notes", "documents": 14}
    bad = httpx.get(f"{page_server.url}/v1/facets", params={"updated_after": "yesterday"}, timeout=30)
    assert bad.status_code == 422 and "updated_after" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ja,en-US;q=0.9", "ja"),
        ("en-GB,ja;q=0.5", "en"),
        ("fr-FR,ja;q=0.8,en;q=0.5", "ja"),
        ("", "en"),
        ("de", "en"),
        ("ja;q=0,en;q=0.1", "en"),
        ("ja;q=abc", "en"),
    ],
)
def test_ui_language_from_accept_language(header: str, language: str) -> None:
    assert ui_language(header) == language


def test_page_served_in_the_callers_language(page_server: PageServer) -> None:  # noqa: F811
    japanese = httpx.get(f"{page_server.url}/", headers={"Accept-Language": "ja-JP,ja;q=0.9"}, timeout=30)
    assert japanese.status_code == 200 and '<html lang="ja">' in japanese.text
    assert "Accept-Language" in japanese.headers["vary"]
    script = httpx.get(f"{page_server.url}/static/page.js", timeout=30)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", japanese.text), "no inline script"
    assert not re.search(r"\son[a-z]+=", japanese.text), "no inline event handler"
