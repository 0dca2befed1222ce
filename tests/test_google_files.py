"""Google Drive files, Sheets and Slides end to end: fake Drive -> sync -> /v1/ask cited to the page, sheet, slide."""

from __future__ import annotations

from pathlib import Path

import httpx
from api_fixtures import api_key
from drive_server import DriveServer, drive_server_fixture, drive_server_session_fixture  # noqa: F401
from google_fixtures import ALICE, BOB, FAST_RETRY, SAMPLES, config_for, seed
from test_google_docs_sync import _serve

from askdocs.app import Services
from askdocs.connectors.google.connector import build
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.settings import Settings


def _ask(api: httpx.Client, question: str, headers: dict[str, str]) -> dict:
    response = api.post("/v1/ask", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _cited(answer: dict, doc_id: str) -> dict:
    found = [c for c in answer["citations"] if c["doc_id"] == doc_id]
    assert answer["found"] and found, answer
    return found[0]


def test_drive_pdf_sheet_and_slides_are_cited_to_the_place(drive_server: DriveServer, tmp_path: Path) -> None:  # noqa: F811
    drive = drive_server.drive
    seed(drive)
    drive.change("sheet-1", content=(SAMPLES / "sales" / "price-list-2027.xlsx").read_bytes())
    drive.change("slides-1", content=(SAMPLES / "sales" / "kumo-roadmap-2027.pptx").read_bytes())
    settings = Settings(data_dir=tmp_path / "data")
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "data" / "state")
    connector = build(config_for(drive_server, tmp_path, include_sheets_slides=True), settings)
    connector.client.retry = FAST_RETRY
    try:
        first = run_source(services.indexer(), connector, store)
        assert first.status == "succeeded" and first.added == 10, first.summary()
        AS_ALICE = api_key(settings, f"user:{ALICE}")
        with _serve(services) as api:
            pdf = _cited(_ask(api, "How much notice is needed to cancel the Acme agreement for convenience?",
                              AS_ALICE), "google-docs:pdf-1")  # fmt: skip
            assert pdf["location"]["page"] == 2
            assert pdf["url"] == "https://drive.google.com/file/d/pdf-1/view#page=2"
            plan = _cited(_ask(api, "Which support plan answers within 30 minutes around the clock?", AS_ALICE),
                          "google-docs:sheet-1")  # fmt: skip
            assert plan["location"]["sheet"] == "Support plans" and "Platinum" in plan["snippet"]
            assert plan["url"].endswith("#gid=1001"), "the link opens the sheet (its id from the Sheets API)"
            launch = _cited(_ask(api, "When does the K3 robot launch?", AS_ALICE), "google-docs:slides-1")
            assert launch["location"]["slide"] == 3
            assert launch["url"].endswith("#slide=id.gslides1_2"), "the link opens the slide (its page id from Slides)"
            as_bob = api_key(settings, f"user:{BOB}")
            hidden = _ask(api, "What is the monthly fee of the Platinum support plan?", as_bob)
            assert all(c["doc_id"] != "google-docs:sheet-1" for c in hidden["citations"]), "Bob has no share"
        extracted = services.extractor.extracted
        again = run_source(services.indexer(), connector, store)
        assert again.status == "succeeded" and again.embedded_chunks == 0, again.summary()
        assert services.extractor.extracted == extracted, "unchanged files are neither downloaded nor extracted"
    finally:
        services.close()
