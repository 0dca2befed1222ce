"""The sync run (ingest.sync.Indexer) over the files connector on a copy of the sample workspace.

The sample workspace is indexed once per module into a snapshot (workspace + closed Edge shard);
each test works on its own copy of that snapshot, so every test starts from a fully synced index.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

import pytest
from embedder_spy import Spy, spy_on

from askdocs import models
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.extract import Extractor, extract_document
from askdocs.ingest.sync import Indexer, SyncReport
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import HybridQuery, Index, IndexFilter, point_id
from askdocs.retrieval.index.edge import EdgeBackend

N_DOCS = 44  # 33 Markdown/text/HTML files and 11 PDF, Office and CSV files
# A fixed base URL: file:// URLs would change with the folder, and with them every content hash.
BASE_URL = "https://kb.example/workspace/"


@dataclass
class Snapshot:
    base: Path
    report: SyncReport
    embedded_texts: int
    chunks_per_doc: dict[str, int]


@dataclass
class Synced:
    """A private copy of the synced snapshot."""

    root: Path
    index: Index
    spy: Spy
    indexer: Indexer
    connector: FilesConnector
    snapshot: Snapshot

    def chunks_of(self, doc_id: str) -> list[dict]:
        found = self.index.chunks(IndexFilter(doc_ids=(doc_id,)))
        return sorted((p.payload for p in found), key=lambda p: p["chunk_no"])


def _open(base: Path) -> Index:
    return Index(EdgeBackend(base / "data" / "edge" / "askdocs"))


@pytest.fixture(scope="module")
def snapshot(
    tmp_path_factory: pytest.TempPathFactory,
    sample_workspace: Path,
    embedders: LanguageEmbedders,
    make_indexer: Callable[..., Indexer],
) -> Snapshot:
    base = tmp_path_factory.mktemp("sync-snapshot")
    shutil.copytree(sample_workspace, base / "workspace")
    spy = spy_on(embedders)
    index = _open(base)
    report = make_indexer(index, spy.embedders).full_sync(FilesConnector(base / "workspace", BASE_URL))
    per_doc: dict[str, int] = {}
    for point in index.chunks(IndexFilter()):
        per_doc[point.payload["doc_id"]] = per_doc.get(point.payload["doc_id"], 0) + 1
    index.close()
    return Snapshot(base, report, len(spy.texts), per_doc)


@pytest.fixture
def synced(
    tmp_path: Path, snapshot: Snapshot, embedders: LanguageEmbedders, make_indexer: Callable[..., Indexer]
) -> Iterator[Synced]:
    base = tmp_path / "copy"
    shutil.copytree(snapshot.base, base)
    index = _open(base)
    spy = spy_on(embedders)
    yield Synced(
        root=base / "workspace",
        index=index,
        spy=spy,
        indexer=make_indexer(index, spy.embedders),
        connector=FilesConnector(base / "workspace", BASE_URL),
        snapshot=snapshot,
    )
    index.close()


def edit(path: Path, text: str) -> None:
    """Rewrite a file and move its modification time forward (so a change is always visible)."""
    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def embed_text(payload: dict) -> str:
    """``Chunk.embed_text`` rebuilt from a stored payload."""
    return models.embed_text(payload["title"], payload["heading"], payload["text"])


def roundtrip(checkpoint: object) -> object:
    return json.loads(json.dumps(checkpoint))


# --- full sync ---------------------------------------------------------------------------
def test_first_full_sync_indexes_everything(snapshot: Snapshot, synced: Synced) -> None:
    report = snapshot.report
    assert report.status == "succeeded" and report.failures == []
    assert (report.seen, report.added, report.updated, report.unchanged, report.deleted) == (N_DOCS, N_DOCS, 0, 0, 0)
    assert report.chunks_written > N_DOCS
    assert report.embedded_chunks == report.chunks_written == snapshot.embedded_texts
    index = synced.index
    assert index.count_chunks() == report.chunks_written
    n, total = index.bm25_stats()
    assert n == report.chunks_written
    assert total == sum(int(p.payload["dl"]) for p in index.chunks(IndexFilter()))
    assert sorted(index.document_hashes("files")) == sorted(synced.connector.list_ids())
    assert sum(snapshot.chunks_per_doc.values()) == report.chunks_written
    assert report.summary().startswith(f"files: succeeded; {N_DOCS} documents seen, {N_DOCS} added")


def test_payloads_and_point_ids_are_deterministic(synced: Synced, extractor: Extractor) -> None:
    # PDF and Office files are compared with their extracted form (the title is the one the file names)
    docs = {d.id: extract_document(extractor, d) for d in synced.connector.load_all() if isinstance(d, models.Document)}
    by_doc: dict[str, list[int]] = {}
    for point in synced.index.chunks(IndexFilter()):
        payload = point.payload
        assert point.id == point_id(payload["doc_id"], payload["chunk_no"])
        doc = docs[payload["doc_id"]]
        assert payload["content_hash"] == doc.content_hash
        assert payload["acl"] == doc.acl and payload["source"] == "files" and payload["title"] == doc.title
        assert payload["updated_ts"] == pytest.approx(doc.updated_at.timestamp())
        by_doc.setdefault(payload["doc_id"], []).append(payload["chunk_no"])
    assert sorted(by_doc) == sorted(docs)
    assert all(sorted(nos) == list(range(len(nos))) for nos in by_doc.values())
    langs = {p.payload["doc_id"]: p.payload["language"] for p in synced.index.chunks(IndexFilter(chunk_nos=(0,)))}
    assert langs["files:tokyo/office-guide.md"] == "ja" and langs["files:it/vpn-setup.md"] == "en"


def test_second_full_sync_changes_nothing(synced: Synced) -> None:
    before = (synced.index.count_chunks(), synced.index.bm25_stats(), synced.index.document_hashes())
    extracted = synced.indexer.extractor.extracted
    report = synced.indexer.full_sync(synced.connector)
    assert report.status == "succeeded"
    assert (report.seen, report.unchanged, report.added, report.updated, report.deleted) == (N_DOCS, N_DOCS, 0, 0, 0)
    assert report.chunks_written == report.embedded_chunks == 0
    assert synced.spy.calls == 0  # no embedder was called at all
    assert synced.indexer.extractor.extracted == extracted, "unchanged PDF and Office files are not extracted again"
    assert (synced.index.count_chunks(), synced.index.bm25_stats(), synced.index.document_hashes()) == before


def test_editing_one_file_embeds_only_its_changed_chunks(synced: Synced) -> None:
    doc_id = "files:it/vpn-setup.md"
    before = synced.chunks_of(doc_id)
    old_vectors = {embed_text(p.payload): p.dense for p in synced.index.stored_chunks([doc_id])}
    total_before = synced.index.count_chunks()
    path = synced.root / "it" / "vpn-setup.md"
    edit(
        path,
        path.read_text(encoding="utf-8") + "\n\n## Troubleshooting\n\nIf KumoLink hangs, restart the zorbix daemon.\n",
    )
    report = synced.indexer.full_sync(synced.connector)
    assert (report.seen, report.updated, report.unchanged, report.added, report.deleted) == (
        N_DOCS,
        1,
        N_DOCS - 1,
        0,
        0,
    )
    after = synced.chunks_of(doc_id)
    changed = sorted(embed_text(p) for p in after if embed_text(p) not in old_vectors)
    # Only that document was rewritten, and only its chunks with new text went to the embedder; the sections
    # before the edit kept their stored vectors.
    assert report.chunks_written == len(after)
    assert 1 <= report.embedded_chunks == len(changed) == len(synced.spy.texts) < len(after)
    assert sorted(synced.spy.texts) == changed
    assert any("zorbix" in t for t in changed)
    for point in synced.index.stored_chunks([doc_id]):
        kept = old_vectors.get(embed_text(point.payload))
        if kept is not None:
            assert point.dense == kept
    assert after[0]["content_hash"] != before[0]["content_hash"]
    assert synced.index.count_chunks() == total_before - len(before) + len(after)
    n, total = synced.index.bm25_stats()
    assert n == synced.index.count_chunks()
    assert total == sum(int(p.payload["dl"]) for p in synced.index.chunks(IndexFilter()))


def test_shrinking_a_document_drops_its_surplus_chunks(synced: Synced) -> None:
    doc_id = "files:engineering/oncall-handbook.txt"
    assert len(synced.chunks_of(doc_id)) > 1
    edit(synced.root / "engineering" / "oncall-handbook.txt", "On-call handbook\n\nNow one short paragraph.\n")
    report = synced.indexer.full_sync(synced.connector)
    assert report.updated == 1
    after = synced.chunks_of(doc_id)
    assert [p["chunk_no"] for p in after] == [0]
    assert after[0]["text"] == "Now one short paragraph."
    assert synced.index.bm25_stats()[0] == synced.index.count_chunks()


def test_deleting_a_file_removes_its_chunks(synced: Synced) -> None:
    doc_id = "files:hr/pto-policy.md"
    removed = len(synced.chunks_of(doc_id))
    total = synced.index.count_chunks()
    (synced.root / "hr" / "pto-policy.md").unlink()
    report = synced.indexer.full_sync(synced.connector)
    assert (report.seen, report.deleted, report.unchanged) == (N_DOCS - 1, 1, N_DOCS - 1)
    assert synced.spy.calls == 0
    assert synced.chunks_of(doc_id) == []
    assert doc_id not in synced.index.document_hashes()
    assert synced.index.count_chunks() == total - removed
    assert synced.index.bm25_stats()[0] == total - removed


def test_adding_a_file_embeds_only_the_new_one(synced: Synced) -> None:
    path = synced.root / "it" / "printers.md"
    path.write_text("# Printers\n\nThe office printer is called Quokka and sits near reception.\n", encoding="utf-8")
    report = synced.indexer.full_sync(synced.connector)
    assert (report.seen, report.added, report.unchanged) == (N_DOCS + 1, 1, N_DOCS)
    assert synced.spy.texts == ["Printers\nThe office printer is called Quokka and sits near reception."]
    assert synced.chunks_of("files:it/printers.md")[0]["acl"] == ["public"]


def test_acl_change_rewrites_only_affected_documents(synced: Synced) -> None:
    acl_path = synced.root / "_acl.toml"
    acl_path.write_text(
        acl_path.read_text(encoding="utf-8") + '\n[[rule]]\npattern = "sales/**"\nprincipals = ["group:sales"]\n',
        encoding="utf-8",
    )
    extracted = synced.indexer.extractor.extracted
    report = synced.indexer.full_sync(synced.connector)
    sales = [d for d in synced.connector.list_ids() if d.startswith("files:sales/")]
    assert len(sales) == 5  # two pages, the agreement PDF, the roadmap deck and the price list
    assert synced.indexer.extractor.extracted == extracted, "an ACL change must not re-extract a file"
    assert report.updated == len(sales) and report.unchanged == N_DOCS - len(sales)
    assert report.metadata_only == len(sales), "an ACL change must not re-embed"
    assert synced.spy.calls == 0 and report.embedded_chunks == 0
    for doc_id in sales:
        assert {tuple(p["acl"]) for p in synced.chunks_of(doc_id)} == {("group:sales",)}
    hidden = synced.index.query(
        HybridQuery(
            limit=50, sparse=synced.indexer.analyzer.query_vector("pricing"), filter=IndexFilter(acl_any=("public",))
        )
    )
    assert not [h for h in hidden if h.payload["doc_id"] in sales], "the new ACL applies inside the engine at once"


def test_touching_a_file_updates_its_time_without_reembedding(synced: Synced) -> None:
    doc_id = "files:hr/pto-policy.md"
    path = synced.root / "hr" / "pto-policy.md"
    before = synced.chunks_of(doc_id)
    os.utime(path, (2_000_000_000, 2_000_000_000))
    report = synced.indexer.full_sync(synced.connector)
    assert (report.updated, report.metadata_only, report.embedded_chunks, synced.spy.calls) == (1, 1, 0, 0)
    after = synced.chunks_of(doc_id)
    assert [p["text"] for p in after] == [p["text"] for p in before]
    assert {p["updated_ts"] for p in after} == {2_000_000_000.0}
    assert synced.indexer.full_sync(synced.connector).unchanged == N_DOCS


def test_changed_chunking_or_analysis_rewrites_every_document(synced: Synced, analyzer: Analyzer) -> None:
    # Same texts, other pipeline: a smaller chunk size must not leave the old chunks behind as "unchanged".
    smaller = Chunker(synced.spy.embedders.for_language, 120, 20)
    rechunking = Indexer(synced.index, synced.spy.embedders, smaller, analyzer)
    assert rechunking.pipeline != synced.indexer.pipeline
    report = rechunking.full_sync(synced.connector)
    assert (report.seen, report.updated, report.unchanged, report.metadata_only) == (N_DOCS, N_DOCS, 0, 0)
    assert report.chunks_written > synced.snapshot.report.chunks_written
    assert all(len(synced.chunks_of(d)) >= n for d, n in synced.snapshot.chunks_per_doc.items())
    assert rechunking.full_sync(synced.connector).unchanged == N_DOCS
    # An index written by an older analyzer version counts as another pipeline too.
    with patch("askdocs.ingest.sync.ANALYZER_VERSION", "0"):
        older = Indexer(synced.index, synced.spy.embedders, smaller, analyzer)
    assert older.pipeline != rechunking.pipeline
    assert older.full_sync(synced.connector).updated == N_DOCS


def test_changed_analysis_rebuilds_bm25_without_embedding(synced: Synced, analyzer: Analyzer) -> None:
    """A new analyzer version or BM25 k1/b rewrites every document's sparse vectors but keeps its dense ones."""
    query = HybridQuery(limit=5, sparse=analyzer.query_vector("VPN client install"))
    scores_before = [(h.id, h.score) for h in synced.index.query(query)]
    vectors_before = {p.id: p.dense for p in synced.index.stored_chunks(list(synced.snapshot.chunks_per_doc))}
    retuned = Indexer(synced.index, synced.spy.embedders, synced.indexer.chunker, analyzer, k1=0.6, b=0.4)
    assert retuned.pipeline != synced.indexer.pipeline
    report = retuned.full_sync(synced.connector)
    assert (report.seen, report.updated, report.unchanged) == (N_DOCS, N_DOCS, 0)
    assert report.chunks_written == sum(synced.snapshot.chunks_per_doc.values())
    assert (report.embedded_chunks, synced.spy.calls) == (0, 0)
    assert {p.id: p.dense for p in synced.index.stored_chunks(list(synced.snapshot.chunks_per_doc))} == vectors_before
    scores_after = [(h.id, h.score) for h in synced.index.query(query)]
    assert scores_after and scores_after != scores_before, "the BM25 weights were rebuilt with the new k1/b"
    assert retuned.full_sync(synced.connector).unchanged == N_DOCS
    with patch("askdocs.ingest.sync.ANALYZER_VERSION", "0"):
        older = Indexer(synced.index, synced.spy.embedders, synced.indexer.chunker, analyzer, k1=0.6, b=0.4)
    report = older.full_sync(synced.connector)
    assert (report.updated, report.embedded_chunks, synced.spy.calls) == (N_DOCS, 0, 0)


def test_fatal_failure_prunes_nothing(synced: Synced) -> None:
    before = (synced.index.count_chunks(), synced.index.document_hashes())
    (synced.root / "_acl.toml").write_text("default = [oops", encoding="utf-8")
    (synced.root / "hr" / "pto-policy.md").unlink()
    edit(synced.root / "it" / "guest-wifi.txt", "Guest Wi-Fi\n\nchanged\n")
    report = synced.indexer.full_sync(synced.connector)
    assert report.status == "failed"
    assert len(report.failures) == 1 and report.failures[0].fatal
    assert (report.seen, report.deleted, report.chunks_written) == (0, 0, 0)
    assert synced.spy.calls == 0
    assert (synced.index.count_chunks(), synced.index.document_hashes()) == before
    assert "failed" in report.summary()


def test_missing_folder_prunes_nothing(synced: Synced) -> None:
    before = synced.index.count_chunks()
    shutil.rmtree(synced.root)
    report = synced.indexer.full_sync(synced.connector)
    assert report.status == "failed"
    assert synced.index.count_chunks() == before


def test_unreadable_file_keeps_its_indexed_chunks(synced: Synced) -> None:
    doc_id = "files:it/laptop-policy.md"
    before = synced.chunks_of(doc_id)
    path = synced.root / "it" / "laptop-policy.md"
    path.write_bytes(b"\xff\xfe not utf-8 \xfa")
    report = synced.indexer.full_sync(synced.connector)
    assert report.status == "partial"
    assert [f.document_id for f in report.failures] == [doc_id]
    assert report.deleted == 0 and report.seen == N_DOCS - 1
    assert synced.chunks_of(doc_id) == before  # not pruned: a read error is not a deletion


# --- poll sync ---------------------------------------------------------------------------
def test_poll_sync_with_checkpoints(synced: Synced) -> None:
    indexer, connector = synced.indexer, synced.connector
    total = synced.index.count_chunks()

    # First poll over an already indexed folder: every document seen, nothing re-embedded.
    report, checkpoint = indexer.poll_sync(connector, None)
    assert report.status == "succeeded"
    assert (report.seen, report.unchanged, report.chunks_written) == (N_DOCS, N_DOCS, 0)
    assert synced.spy.calls == 0
    assert checkpoint is not None and roundtrip(checkpoint) == checkpoint

    # Second poll: nothing changed, nothing seen.
    report, checkpoint = indexer.poll_sync(connector, roundtrip(checkpoint))
    assert (report.seen, report.deleted, report.chunks_written) == (0, 0, 0)

    # An edit: only that document is read, and only its chunk with new text is embedded.
    path = synced.root / "hr" / "parental-leave.md"
    edit(path, path.read_text(encoding="utf-8") + "\n\nAdoption is covered too (code word: wombat).\n")
    report, checkpoint = indexer.poll_sync(connector, roundtrip(checkpoint))
    assert (report.seen, report.updated, report.deleted) == (1, 1, 0)
    assert report.chunks_written == len(synced.chunks_of("files:hr/parental-leave.md"))
    assert report.embedded_chunks == len(synced.spy.texts) == 1
    assert "wombat" in synced.spy.texts[0]
    assert any("wombat" in p["text"] for p in synced.chunks_of("files:hr/parental-leave.md"))

    # A deletion: the document's chunks go.
    removed = len(synced.chunks_of("files:it/guest-wifi.txt"))
    calls = synced.spy.calls
    (synced.root / "it" / "guest-wifi.txt").unlink()
    report, checkpoint = indexer.poll_sync(connector, roundtrip(checkpoint))
    assert (report.seen, report.deleted) == (0, 1)
    assert synced.chunks_of("files:it/guest-wifi.txt") == []
    assert synced.spy.calls == calls

    # A fatal failure: nothing pruned and the old checkpoint is handed back.
    (synced.root / "_acl.toml").write_text("[[rule]\n", encoding="utf-8")
    (synced.root / "it" / "vpn-setup.md").unlink()
    count = synced.index.count_chunks()
    failed, same = indexer.poll_sync(connector, roundtrip(checkpoint))
    assert failed.status == "failed"
    assert same == roundtrip(checkpoint)
    assert synced.index.count_chunks() == count
    assert synced.chunks_of("files:it/vpn-setup.md") != []

    assert synced.index.bm25_stats()[0] == count
    leave = "files:hr/parental-leave.md"
    assert count == total - removed + len(synced.chunks_of(leave)) - synced.snapshot.chunks_per_doc[leave]


def test_poll_sync_after_acl_change_updates_acls(synced: Synced) -> None:
    _, checkpoint = synced.indexer.poll_sync(synced.connector, None)
    acl_path = synced.root / "_acl.toml"
    acl_path.write_text(acl_path.read_text(encoding="utf-8").replace('"group:tokyo-managers"', '"group:jp-mgmt"'))
    report, checkpoint2 = synced.indexer.poll_sync(synced.connector, roundtrip(checkpoint))
    assert report.seen == N_DOCS and report.updated == 1 and report.unchanged == N_DOCS - 1
    assert checkpoint2 != checkpoint
    acls = {tuple(p["acl"]) for p in synced.chunks_of("files:tokyo/managers/kyuyo-kaitei-2027.md")}
    assert acls == {("group:jp-mgmt",)}
