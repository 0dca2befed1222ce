"""run_source: checkpoints, incremental polls and pruning over the files connector."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


@pytest.fixture
def setup(tmp_path: Path, make_indexer) -> tuple[Indexer, FilesConnector, CheckpointStore, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "hr", root / "hr")
    shutil.copytree(WORKSPACE / "it", root / "it")
    indexer = make_indexer(Index(EdgeBackend(tmp_path / "edge")))
    return indexer, FilesConnector(root), CheckpointStore(tmp_path / "state"), root


def test_first_run_indexes_and_stores_checkpoint(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, root = setup
    report = run_source(indexer, connector, store)
    n_files = len(list(connector.list_ids()))
    assert report.status == "succeeded" and report.added == n_files > 3
    assert set(store.load("files")["files"]) == {p.relative_to(root).as_posix() for p in root.rglob("*.*")}
    again = run_source(indexer, connector, store)
    assert (again.seen, again.chunks_written) == (0, 0), "an unchanged folder polls to nothing"


def test_incremental_run_applies_edits_and_deletions(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, root = setup
    run_source(indexer, connector, store)
    (root / "it" / "guest-wifi.txt").unlink()
    page = root / "hr" / "pto-policy.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n\nPTO requests go to the quokka portal.\n", encoding="utf-8")
    report = run_source(indexer, connector, store)
    assert (report.seen, report.updated, report.deleted) == (1, 1, 1)
    hashes = indexer.index.document_hashes("files")
    assert "files:it/guest-wifi.txt" not in hashes and "files:hr/pto-policy.md" in hashes


def test_full_run_prunes_documents_indexed_before_the_checkpoint(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, root = setup
    run_source(indexer, connector, store)
    store.clear("files")
    (root / "it" / "laptop-policy.md").unlink()
    report = run_source(indexer, connector, store, full=True)
    assert report.deleted == 1
    assert "files:it/laptop-policy.md" not in indexer.index.document_hashes("files")


def test_checkpoint_without_indexed_documents_starts_over(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, _ = setup
    run_source(indexer, connector, store)
    indexer.index.delete_documents(list(indexer.index.document_hashes("files")))
    report = run_source(indexer, connector, store)
    assert report.added == len(list(connector.list_ids()))


def test_unreadable_checkpoint_counts_as_none(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, _ = setup
    run_source(indexer, connector, store)
    (store.folder / "files.json").write_text("{truncated", encoding="utf-8")
    assert store.load("files") is None
    report = run_source(indexer, connector, store)
    assert report.status == "succeeded" and report.unchanged == len(list(connector.list_ids()))


def test_fatal_failure_keeps_the_old_checkpoint(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, root = setup
    run_source(indexer, connector, store)
    before = store.load("files")
    (root / "_acl.toml").write_text("default = [", encoding="utf-8")
    report = run_source(indexer, connector, store)
    assert report.status == "failed"
    assert store.load("files") == before


def test_checkpoint_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid source name"):
        CheckpointStore(tmp_path).save("../escape", {})


def test_underscore_pages_are_indexed_and_skips_are_reported(setup) -> None:  # type: ignore[no-untyped-def]
    indexer, connector, store, root = setup
    (root / "hr" / "_index.md").write_text("# HR\n\nThe section page of the HR handbook.\n", encoding="utf-8")
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "workspace.md").write_text("# editor state\n", encoding="utf-8")
    (root / "hr" / "org-chart.png").write_bytes(b"\x89PNG\r\n")
    report = run_source(indexer, connector, store)
    assert "files:hr/_index.md" in indexer.index.document_hashes("files")
    assert report.skipped == {"hidden": 1, "unsupported type .png": 1}
    assert "2 skipped (hidden: 1, unsupported type .png: 1)" in report.summary()
    again = run_source(indexer, connector, store)
    assert again.seen == 0 and again.skipped == report.skipped, "every run counts what it skipped"
