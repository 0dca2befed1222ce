"""A damaged index says so and heals (issue 14, hole 4): /healthz 503 with a reason, a rebuild from the sources,
then the same search results as the fresh index; corrupt files named with what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_fixtures import WORKSPACE, api_key, serve
from poll_helpers import wait_until

from askdocs.app import Services
from askdocs.ingest import integrity
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import CollectionSpec, Index, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["How do I connect to the VPN?", "parental leave weeks", "guest wifi password", "laptop return"]


def _setup(tmp_path: Path) -> Settings:
    workspace = tmp_path / "ws"
    for folder in ("it", "hr"):
        shutil.copytree(WORKSPACE / folder, workspace / folder)
    shutil.copy(WORKSPACE / "_acl.toml", workspace / "_acl.toml")
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(
        f"sources:\n  - name: wiki\n    type: files\n    path: {workspace}\n    schedule: {{every: 1h}}\n"
        "    prune: null\n",
        encoding="utf-8",
    )
    return Settings(data_dir=tmp_path / "data", sources_file=sources)


def _synced(services: Services) -> Services:
    """Start the scheduler and wait for a first run of the source."""
    scheduler = services.start_scheduler(tick_seconds=0.2)
    scheduler.trigger("wiki")
    scheduler.wait_idle()
    return services


def _results(url: str) -> list[list[tuple[str, float]]]:
    found = []
    for query in QUERIES:
        response = httpx.post(f"{url}/v1/search", json={"query": query, "top_k": 10}, timeout=30)
        assert response.status_code == 200, response.text
        found.append([(h["doc_id"], round(h["score"], 4)) for h in response.json()["hits"]])
    return found


def _delete_spec(shard: Path) -> None:
    shard.parent.joinpath(f"{shard.name}.askdocs-collection.json").unlink()


def _delete_segments(shard: Path) -> None:
    for segment in (shard / "segments").iterdir():
        shutil.rmtree(segment)


def _truncate_segment(shard: Path) -> None:
    segment = next((shard / "segments").iterdir())
    for path in segment.rglob("*"):
        if path.is_file() and path.stat().st_size > 100:
            with open(path, "r+b") as handle:
                handle.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize(
    ("damage", "kind"),
    [(_delete_spec, "missing"), (_delete_segments, "inconsistent"), (_truncate_segment, "unreadable")],
    ids=["spec-deleted", "segments-deleted", "segment-truncated"],
)
def test_damaged_index_reports_503_then_heals_to_the_fresh_index(
    tmp_path: Path, embedders: LanguageEmbedders, damage: Callable[[Path], None], kind: str
) -> None:
    settings = _setup(tmp_path)
    services = _synced(Services.build(settings, embedders=embedders))
    with serve(settings, services) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        fresh = _results(url)
    services.close()
    assert all(fresh), "every query finds documents in the fresh index"

    damage(settings.edge_path)
    services = Services.build(settings, embedders=embedders)  # the restart: checked on open, before any repair
    services.check_index()
    try:
        with serve(settings, services) as url:
            health = httpx.get(f"{url}/healthz")
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable" and health.json()["index"] == kind
            assert health.json()["detail"] == integrity.SUMMARY[kind]  # type: ignore[index]
            assert "problem" not in health.json() and str(tmp_path) not in health.text, "detail for the admin only"
            assert httpx.get(f"{url}/healthz", headers=api_key(settings, admin=True)).json()["problem"]
            services.start_scheduler(tick_seconds=0.2)
            wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=120)
            assert _results(url) == fresh
            stored, counted = services.index.recount_bm25_stats()
            assert stored == counted, "BM25 statistics match a recount"
    finally:
        services.close()


def test_documents_lost_behind_the_syncs_back_are_re_read(
    tmp_path: Path, embedders: LanguageEmbedders, caplog: pytest.LogCaptureFixture
) -> None:
    """An incremental sync that finds fewer documents than the last one left makes itself a full re-read, logged."""
    settings = _setup(tmp_path)
    services = _synced(Services.build(settings, embedders=embedders))
    scheduler = services.scheduler
    assert scheduler is not None
    before = integrity.source_counts(services.index, "files")
    lost = sorted(services.index.document_hashes("files"))[:3]
    services.index.backend.delete(IndexFilter(doc_ids=tuple(lost)))  # behind the index's back
    scheduler.trigger("wiki")
    scheduler.wait_idle()
    try:
        assert integrity.source_counts(services.index, "files") == before
        assert "re-read it in full" in caplog.text and "the last sync left" in caplog.text
        stored, counted = services.index.recount_bm25_stats()
        assert stored == counted
    finally:
        services.close()


def test_corrupt_files_are_named_with_what_to_do(
    tmp_path: Path, embedders: LanguageEmbedders, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _setup(tmp_path)
    _synced(Services.build(settings, embedders=embedders)).close()
    state = settings.data_dir / "state"
    for name in ("wiki.json", "status.json", integrity.MANIFEST):
        (state / name).write_text("{not json", encoding="utf-8")
    services = _synced(Services.build(settings, embedders=embedders))
    try:
        for name in ("wiki.json", "status.json", integrity.MANIFEST):
            assert str(state / name) in caplog.text, f"{name} is named in the log"
        assert "reads everything" in caplog.text and "rewrites it" in caplog.text
        assert services.index_problem() is None and services.index.count_chunks() > 0
    finally:
        services.close()
    spec = settings.edge_path.parent / f"{settings.edge_path.name}.askdocs-collection.json"
    spec.write_text("{not json", encoding="utf-8")
    services = Services.build(settings, embedders=embedders)
    try:
        problems: list[Any] = services.check_index()
        assert problems and problems[0].kind == "unreadable" and str(spec) in problems[0].detail
        assert "re-index" in problems[0].detail
        _synced(services)
        assert services.index_problem() is None and services.index.count_chunks() > 0, "rebuilt"
    finally:
        services.close()


def test_cli_search_on_an_index_another_process_holds_names_the_problem(tmp_path: Path) -> None:
    settings = _setup(tmp_path)
    index = Index(EdgeBackend(settings.edge_path))
    index.ensure(CollectionSpec(dense={"minilm-l6-int8": 384, "use-multilingual": 512}))  # held by this process
    try:
        env = {**os.environ, "ASKDOCS_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "askdocs.api.cli", "search", "vpn"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        index.close()
    assert done.returncode == 2, done.stdout + done.stderr  # a user-fixable error (askdocs.errors)
    assert "in use by another askdocs process" in done.stderr and "Traceback" not in done.stderr
