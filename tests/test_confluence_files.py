"""Confluence PDF and Office attachments end to end: their own documents, the page's restrictions, cited to the
page or sheet through HTTP, and removed when the attachment or the page goes."""

from __future__ import annotations

from pathlib import Path

import httpx
from api_fixtures import api_key
from confluence_fixtures import confluence_source
from confluence_server import EMAIL, TOKEN, FakeServer, confluence_server  # noqa: F401
from local_server import serve_in_thread

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.connectors.confluence.connector import build
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "workspace"
ENGINEER_PRINCIPALS = ("user:dev@kumo.example", "group:eng")
ALICE_PRINCIPALS = ("user:alice@kumo.example", "group:eng")
PDF_MIME = "application/pdf"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_attachments_are_cited_follow_restrictions_and_go_away(
    confluence_server: FakeServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    fake = confluence_server.fake
    guide = fake.add_attachment(
        "1003", "k2-field-guide.pdf", PDF_MIME, (SAMPLES / "engineering/k2-field-guide.pdf").read_bytes()
    )
    rates = fake.add_attachment(
        "1004", "vendor-rates.xlsx", XLSX_MIME, (SAMPLES / "finance/vendor-rates-2026.xlsx").read_bytes()
    )
    fake.add_attachment("1006", "huge.pdf", PDF_MIME, b"%PDF-1.7\n" + b"0" * (2 * 2**20))
    settings, config = confluence_source(
        confluence_server.url, tmp_path, space_access={"ENG": ["group:eng"]}, extract_max_file_mb=1
    )
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "data" / "state")
    try:
        report = run_source(services.indexer(), build(config, settings), store)
        assert report.status == "partial", report.summary()
        assert [(f.document_id, f.message) for f in report.failures] == [
            ("confluence:attachment:" + f"att{int(rates[3:]) + 1}", "attachment: file is 2 MiB, more than the 1 MiB "
             "extraction size cap")]  # fmt: skip
        ENGINEER, ALICE = api_key(settings, *ENGINEER_PRINCIPALS), api_key(settings, *ALICE_PRINCIPALS)
        guest = api_key(settings, "user:guest@kumo.example")  # signed in, in no group
        with serve_in_thread(create_app(settings, services), "askdocs") as url:

            def ask(question: str, headers: dict[str, str]) -> dict:
                response = httpx.post(f"{url}/v1/ask", json={"question": question}, headers=headers, timeout=60)
                assert response.status_code == 200, response.text
                return response.json()

            def search(query: str, headers: dict[str, str]) -> list[dict]:
                body = {"query": query, "top_k": 20}
                response = httpx.post(f"{url}/v1/search", json=body, headers=headers, timeout=60)
                assert response.status_code == 200, response.text
                return response.json()["hits"]

            answer = ask("What torque should the drive belt tension be set to?", ENGINEER)
            cited = [c for c in answer["citations"] if c["doc_id"] == f"confluence:attachment:{guide}"]
            assert answer["found"] and cited, answer
            assert "12 newton-metres" in answer["text"]
            assert cited[0]["location"]["page"] == 2 and cited[0]["url"].endswith("#page=2")
            assert cited[0]["url"].startswith(confluence_server.url + "/wiki/pages/viewpageattachments.action")
            assert not search("drive belt torque newton-metres", guest)

            rates_id = f"confluence:attachment:{rates}"
            assert rates_id not in {h["doc_id"] for h in search("Hoshi Freight robot delivery rate", ENGINEER)}
            mine = search("Hoshi Freight robot delivery rate", ALICE)
            assert mine[0]["doc_id"] == rates_id, "the Security page's restriction lets Alice in"
            assert mine[0]["location"]["sheet"] == "Logistics vendors"

            fake.pages["1003"].attachments = [a for a in fake.pages["1003"].attachments if a["id"] != guide]
            fake.pages["1004"].status = "trashed"
            fake.edit("1003", "<p>Field guide removed.</p>")
            gone = run_source(services.indexer(), build(config, settings), store)
            assert gone.status != "failed", gone.summary()
            indexed = set(services.index.document_hashes("confluence"))
            assert f"confluence:attachment:{guide}" not in indexed and rates_id not in indexed
            hits = search("drive belt torque newton-metres", ENGINEER)
            assert f"confluence:attachment:{guide}" not in {h["doc_id"] for h in hits}
    finally:
        services.close()
