"""The typed chunk payload: what the writer stores is what the retriever and the facade read back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from askdocs.ingest.sync import Indexer
from askdocs.models import Document, Section
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.payload import ChunkPayload, DocumentFields

UPDATED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _document() -> Document:
    return Document(
        id="files:guide.md",
        source="files",
        title="Guide",
        url="https://kb.example/guide",
        sections=[Section(path=["Install"], text="Run the installer."), Section(path=["Use"], text="Open the app.")],
        author="Ann",
        updated_at=UPDATED,
        acl=["group:eng"],
        metadata={"path": "guide.md"},
    )


def test_what_is_written_reads_back_typed(edge_index: Index, make_indexer: Callable[..., Indexer]) -> None:
    indexer = make_indexer(edge_index)
    indexer.ensure_index()
    indexer.write([_document()])
    stored = sorted(
        (ChunkPayload.from_payload(p.payload) for p in edge_index.chunks(IndexFilter())), key=lambda c: c.chunk_no
    )
    assert stored and stored[0].doc_id == "files:guide.md" and stored[0].chunk_no == 0
    assert (stored[0].title, stored[0].url, stored[0].author, stored[0].updated_at) == (
        "Guide", "https://kb.example/guide", "Ann", UPDATED,
    )  # fmt: skip
    assert stored[0].acl == ["group:eng"] and stored[0].metadata == {"path": "guide.md"}
    assert stored[0].embedding_hash.endswith(indexer.pipeline)
    assert "Run the installer." in stored[0].text and stored[0].embed_text.startswith("Guide")
    payload = edge_index.chunks(IndexFilter())[0].payload
    assert payload["updated_ts"] == UPDATED.timestamp(), "range filters read the epoch seconds"
    assert edge_index.document_states() == {"files:guide.md": (stored[0].content_hash, stored[0].embedding_hash)}


def test_partial_payloads_and_round_trips() -> None:
    partial = ChunkPayload.from_payload({"doc_id": "d", "content_hash": "h", "kind": "chunk", "dl": 3})
    assert (partial.doc_id, partial.content_hash, partial.chunk_no, partial.text, partial.updated_at) == (
        "d", "h", 0, "", None,
    )  # fmt: skip
    full = ChunkPayload(doc_id="d", chunk_no=2, title="T", text="x", updated_at=UPDATED, acl=["public"])
    assert ChunkPayload.from_payload(full.to_payload()) == full
    fields = DocumentFields.of(_document()).to_payload()
    assert set(fields) == {
        "source", "url", "author", "updated_at", "updated_ts", "acl", "content_hash", "metadata", "container"
    }  # fmt: skip
