"""A sync over bad files: each one failure value, the rest of the run complete; unchanged files not re-extracted."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from test_extract import DATA, WORKSPACE, zip_bomb

from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.sync import Indexer
from askdocs.retrieval.index import Index, IndexFilter

GOOD = ["sales/acme-service-agreement.pdf", "sales/kumo-roadmap-2027.pptx", "tokyo/bihin-zaiko.xlsx"]
BAD = {
    "files:bad/contract.pdf": "extraction failed: corrupt PDF",
    "files:bad/locked.docx": "extraction failed: encrypted (password-protected)",
    "files:bad/huge.pdf": "file is 200 MiB, more than the 50 MiB extraction size cap",
    "files:bad/prices.xlsx": "extraction failed: Office file unpacks to 300 MiB",
}


def bad_workspace(root: Path) -> Path:
    for relpath in GOOD:
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(WORKSPACE / relpath, root / relpath)
    (root / "notes.md").write_text("# Notes\n\nThe loading dock opens at 7:00.\n", encoding="utf-8")
    bad = root / "bad"
    bad.mkdir()
    (bad / "contract.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    shutil.copyfile(DATA / "encrypted.docx", bad / "locked.docx")
    with (bad / "huge.pdf").open("wb") as huge:  # 200 MB on paper, sparse on disk: never read
        huge.truncate(200 * 2**20)
    (bad / "prices.xlsx").write_bytes(zip_bomb(300))
    return root


def test_bad_files_fail_alone_and_unchanged_files_are_not_extracted_again(
    tmp_path: Path, edge_index: Index, make_indexer: Callable[..., Indexer]
) -> None:
    root = bad_workspace(tmp_path / "ws")
    indexer = make_indexer(edge_index)
    connector = FilesConnector(root)
    before = indexer.extractor.extracted

    report = indexer.full_sync(connector)
    assert report.status == "partial", report.summary()
    assert {f.document_id: f.message for f in report.failures}.keys() == BAD.keys()
    for failure in report.failures:
        assert failure.message.startswith(BAD[failure.document_id]) and not failure.fatal
    assert report.added == len(GOOD) + 1
    assert sorted(edge_index.document_hashes("files")) == sorted(
        ["files:notes.md", *(f"files:{relpath}" for relpath in GOOD)]
    )
    assert indexer.extractor.extracted - before == len(GOOD) + 3  # the 200 MB file never reached the worker
    pages = {p.payload["location"]["page"] for p in edge_index.chunks(IndexFilter(doc_ids=("files:" + GOOD[0],)))}
    assert pages == {1, 2, 3}

    before = indexer.extractor.extracted
    again = indexer.full_sync(connector)
    assert (again.unchanged, again.added, again.updated, again.embedded_chunks) == (len(GOOD) + 1, 0, 0, 0)
    assert indexer.extractor.extracted - before == 3, "only the files that failed are tried again"
    assert len(again.failures) == len(BAD)


def test_a_changed_file_is_extracted_again(
    tmp_path: Path, edge_index: Index, make_indexer: Callable[..., Indexer]
) -> None:
    root = tmp_path / "ws"
    (root / "sales").mkdir(parents=True)
    target = root / "sales" / "contract.pdf"
    shutil.copyfile(WORKSPACE / GOOD[0], target)
    indexer = make_indexer(edge_index)
    first = indexer.full_sync(FilesConnector(root))
    assert first.added == 1 and first.status == "succeeded"
    shutil.copyfile(WORKSPACE / "tokyo/anzen-kanri-kitei.pdf", target)
    before = indexer.extractor.extracted
    second = indexer.full_sync(FilesConnector(root))
    assert (second.updated, indexer.extractor.extracted - before) == (1, 1)
    stored = edge_index.chunks(IndexFilter(doc_ids=("files:sales/contract.pdf",)))
    assert {p.payload["title"] for p in stored} == {"倉庫ロボット安全管理規程"}
    assert {p.payload["language"] for p in stored} == {"ja"}
