"""Operations over HTTP: the scheduler inside the API, /v1/sources, the sync trigger, /metrics, JSON logs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import httpx
import pytest
from api_fixtures import WORKSPACE, api_key, serve
from poll_helpers import wait_until

from askdocs.api.logs import configure_logging
from askdocs.app import Services
from askdocs.settings import Settings


@pytest.fixture
def ops(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "it", root / "it")
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(
        f"sources:\n  - name: wiki\n    type: files\n    path: {root}\n    schedule: {{every: 2s}}\n    prune: null\n",
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "data", sources_file=sources)
    services = Services.build(settings)
    services.start_scheduler(tick_seconds=0.2)
    admin = api_key(settings, admin=True)  # what `askdocs keys create --name ops --admin` makes
    with serve(settings, services) as url:
        yield url, root, services, admin
    services.close()


def _wiki(url: str, admin: dict[str, str]) -> dict:
    return next(s for s in httpx.get(f"{url}/v1/sources", headers=admin).json()["sources"] if s["name"] == "wiki")


def test_scheduler_keeps_the_folder_fresh_and_reports_it(ops) -> None:  # type: ignore[no-untyped-def]
    url, root, _, admin = ops
    wait_until(lambda: _wiki(url, admin)["status"] == "succeeded")
    first = _wiki(url, admin)
    assert first["failures"] == [] and first["next_run"] and first["last_finished"]
    assert first["last_kind"] == "incremental" and first["enabled"] is True
    assert httpx.get(f"{url}/healthz", headers=admin).json()["chunks"] > 0, "the first run indexed the folder"
    page = root / "it" / "guest-wifi.txt"
    page.write_text(page.read_text(encoding="utf-8") + "\nThe lobby printer is called Marmot.\n", encoding="utf-8")

    def searchable() -> bool:
        hits = httpx.post(f"{url}/v1/search", json={"query": "lobby printer Marmot", "top_k": 3}).json()["hits"]
        return bool(hits) and "Marmot" in hits[0]["text"]

    wait_until(searchable, timeout=30)
    assert _wiki(url, admin)["updated"] >= 1


def test_sync_trigger_needs_an_admin_key(ops) -> None:  # type: ignore[no-untyped-def]
    url, _, services, admin = ops
    assert httpx.post(f"{url}/v1/sources/wiki/sync").status_code == 401
    wrong = httpx.post(f"{url}/v1/sources/wiki/sync", headers={"Authorization": "Bearer askd_guess"})
    assert wrong.status_code == 401 and "API key" in wrong.json()["detail"]
    reader = api_key(services.settings, "group:finance")
    assert httpx.post(f"{url}/v1/sources/wiki/sync", headers=reader).status_code == 403
    legacy = httpx.post(f"{url}/v1/sources/wiki/sync", headers={"X-Askdocs-Admin-Key": "admin-secret-123"})
    assert legacy.status_code == 401, "the old shared admin key header opens nothing"
    missing = httpx.post(f"{url}/v1/sources/nope/sync", headers=admin)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    ok = httpx.post(f"{url}/v1/sources/wiki/sync?full=true", headers=admin)
    assert ok.status_code == 202 and ok.json()["source"] == "wiki" and ok.json()["full"] is True
    # the counter, not the status: the next scheduled run (every 2 s) soon turns last_kind back to incremental
    full_run = 'askdocs_sync_runs_total{kind="full",source="wiki",status="succeeded"}'
    wait_until(lambda: full_run in httpx.get(f"{url}/metrics", headers=admin).text)


def test_ops_routes_need_admin_rights(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from askdocs.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", sources_file=tmp_path / "none.yaml")
    with TestClient(create_app(settings, Services.build(settings)), base_url="http://localhost") as client:
        for method, path in (("POST", "/v1/sources/files/sync"), ("GET", "/v1/sources"), ("GET", "/metrics")):
            response = client.request(method, path)
            assert response.status_code == 401 and "admin API key" in response.json()["detail"]
        admin = api_key(settings, admin=True)
        assert client.get("/v1/sources", headers=admin).json() == {"scheduler": "off", "sources": [], "access": []}


def test_metrics_expose_runs_index_size_and_latency(ops) -> None:  # type: ignore[no-untyped-def]
    url, _, _, admin = ops
    wait_until(lambda: _wiki(url, admin)["status"] == "succeeded")
    httpx.post(f"{url}/v1/search", json={"query": "VPN"})
    assert httpx.get(f"{url}/metrics").status_code == 401
    text = httpx.get(f"{url}/metrics", headers=admin).text
    assert 'askdocs_sync_runs_total{kind="incremental",source="wiki",status="succeeded"}' in text
    assert 'askdocs_sync_documents_total{action="added",source="wiki"}' in text
    chunks = next(line for line in text.splitlines() if line.startswith("askdocs_index_chunks "))
    assert float(chunks.split()[1]) > 0
    assert 'askdocs_request_duration_seconds_count{method="POST",route="/v1/search",status="200"}' in text


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("json")
    try:
        logging.getLogger("askdocs.test").info("sync finished", extra={"source": "wiki", "added": 3})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "sync finished" and record["source"] == "wiki" and record["added"] == 3
        assert record["levelname"] == "INFO" and "timestamp" in record
    finally:
        root.handlers[:], root.level = saved
