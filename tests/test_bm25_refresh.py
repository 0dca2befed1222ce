"""BM25 weights follow the corpus: chunks weighed with an older average length are rebuilt from stored text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from embedder_spy import spy_on

from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer
from askdocs.models import Document
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import HybridQuery, Index, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend

QUERIES = ["VPN client install", "parental leave application", "expense receipts deadline", "会議室の予約"]


def _scores(index: Index, analyzer: Analyzer) -> list[list[tuple[str, float]]]:
    return [
        [(h.id, h.score) for h in index.query(HybridQuery(limit=10, sparse=analyzer.query_vector(q)))] for q in QUERIES
    ]


def _indexer(index: Index, embedders: LanguageEmbedders, analyzer: Analyzer, batch_docs: int) -> Indexer:
    indexer = Indexer(index, embedders, Chunker(embedders.for_language, 200, 30), analyzer, batch_docs=batch_docs)
    indexer.ensure_index()
    return indexer


def test_refresh_gives_the_weights_of_one_write_of_the_whole_corpus(
    tmp_path: Path, sample_workspace: Path, embedders: LanguageEmbedders, analyzer: Analyzer
) -> None:
    docs = [d for d in FilesConnector(sample_workspace, "https://kb.example/").load_all() if isinstance(d, Document)]
    # Reference: one batch, so every chunk is weighed with the final average length (Lucene's BM25).
    reference = Index(EdgeBackend(tmp_path / "reference"))
    _indexer(reference, embedders, analyzer, len(docs)).write(docs)
    # The same corpus grown one document at a time, long ones first: the average length falls as it grows.
    grown = Index(EdgeBackend(tmp_path / "grown"))
    spy = spy_on(embedders)
    indexer = _indexer(grown, spy.embedders, analyzer, 4)
    for doc in sorted(docs, key=lambda d: -len(d.text)):
        indexer.write([doc])
    calls = spy.calls
    assert grown.bm25_stats() == reference.bm25_stats()
    before = _scores(grown, analyzer)
    expected = _scores(reference, analyzer)
    assert before != expected, "weights written as the corpus grew differ from one write of all of it"

    assert indexer.refresh_bm25(tolerance=0.0) > 0
    assert spy.calls == calls, "a refresh never embeds"
    after = _scores(grown, analyzer)
    for got, want in zip(after, expected, strict=True):
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
    assert grown.bm25_stats() == reference.bm25_stats()
    assert indexer.refresh_bm25(tolerance=0.0) == 0
    reference.close()
    grown.close()


def test_full_sync_refreshes_its_source_within_the_tolerance(
    tmp_path: Path, sample_workspace: Path, embedders: LanguageEmbedders, analyzer: Analyzer
) -> None:
    index = Index(EdgeBackend(tmp_path / "edge"))
    indexer = _indexer(index, embedders, analyzer, 2)
    connector = FilesConnector(sample_workspace, "https://kb.example/")
    report = indexer.full_sync(connector)
    assert report.reweighted > 0 and f"{report.reweighted} re-weighted" in report.summary()
    n, total = index.bm25_stats()
    used = [p.payload["bm25_avgdl"] for p in index.chunks(IndexFilter())]
    assert len(used) == n and all(abs(u - total / n) <= 0.05 * total / n for u in used)
    again = indexer.full_sync(connector)
    assert (again.unchanged, again.reweighted, again.chunks_written) == (report.seen, 0, 0)
    index.close()


def test_an_incremental_sync_refreshes_the_weights_its_growth_moved(
    tmp_path: Path, sample_workspace: Path, embedders: LanguageEmbedders, analyzer: Analyzer
) -> None:
    root = tmp_path / "workspace"
    shutil.copytree(sample_workspace, root)
    index = Index(EdgeBackend(tmp_path / "edge"))
    indexer = _indexer(index, embedders, analyzer, 32)
    connector = FilesConnector(root, "https://kb.example/")
    first, checkpoint = indexer.poll_sync(connector, None)
    assert first.status == "succeeded"
    (root / "notes").mkdir()
    for n in range(40):  # many short documents pull the average chunk length down
        (root / "notes" / f"note-{n}.md").write_text(f"# Note {n}\n\nRoom {n} is free.\n", encoding="utf-8")
    report, _ = indexer.poll_sync(connector, checkpoint)
    assert report.added == 40 and report.reweighted > first.reweighted
    assert f"{report.reweighted} re-weighted" in report.summary()
    n, total = index.bm25_stats()
    assert all(abs(p.payload["bm25_avgdl"] - total / n) <= 0.05 * total / n for p in index.chunks(IndexFilter()))
    index.close()
