"""Facets by source and by space / channel / folder, counted by the engine's payload indexes (Qdrant Edge and the
qdrant-client's local mode standing in for a server), per caller, each facet leaving out its own filter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from askdocs.ingest.sync import Indexer
from askdocs.models import Document, SearchFilters, Section, container_of
from askdocs.retrieval.hybrid import HybridRetriever, facet_counts
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.index.server import ServerBackend
from askdocs.retrieval.index.types import IndexFilter

OLD, NEW = datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)


def _doc(
    doc_id: str, source: str, metadata: dict[str, Any], acl: list[str] | None = None, when: datetime = NEW
) -> Document:
    text = f"The Kestrel rollout plan, as written in {doc_id}, covers staging and the release checklist."
    return Document(
        id=doc_id,
        source=source,
        title=f"Kestrel {doc_id}",
        sections=[Section(text=text)],
        updated_at=when,
        acl=acl or ["public"],
        metadata=metadata,
    )


DOCUMENTS = [
    _doc("confluence:1", "confluence", {"space": "ENG", "space_name": "Engineering"}),
    _doc("confluence:2", "confluence", {"space": "ENG", "space_name": "Engineering"}, when=OLD),
    _doc("confluence:3", "confluence", {"space": "HR", "space_name": "People"}, acl=["group:hr"]),
    _doc("slack:C1:1", "slack", {"channel_id": "C1", "channel": "releases"}),
    _doc("files:ops/runbook.md", "files", {"path": "ops/runbook.md"}),
    _doc("files:README.md", "files", {"path": "README.md"}),
]


@pytest.fixture(params=["edge", "server"])
def facet_index(
    request: pytest.FixtureRequest, tmp_path: Path, make_indexer: Callable[[Index], Indexer]
) -> Iterator[Index]:
    backend: Any = (
        EdgeBackend(tmp_path / "edge") if request.param == "edge" else ServerBackend(QdrantClient(":memory:"), "t")
    )
    index = Index(backend)
    indexer = make_indexer(index)
    indexer.ensure_index()
    indexer.write(DOCUMENTS)
    yield index
    index.close()


def test_container_of_each_source() -> None:
    assert container_of({"space": "ENG", "path": "x/y.pdf"}) == "space:ENG", "a Confluence attachment is in its space"
    assert container_of({"channel": "releases"}) == "channel:releases"
    assert container_of({"path": "ops/deep/runbook.md"}) == "folder:ops"
    assert container_of({"path": "README.md"}) is None and container_of({}) is None


def test_counts_are_per_document_and_per_caller(facet_index: Index) -> None:
    public = facet_counts(facet_index, [])
    assert public["sources"] == {"confluence": 2, "files": 2, "slack": 1}
    assert public["containers"] == {"space:ENG": 2, "channel:releases": 1, "folder:ops": 1}
    hr = facet_counts(facet_index, ["group:hr"])
    assert hr["containers"]["space:HR"] == 1 and hr["sources"]["confluence"] == 3


def test_each_facet_applies_the_other_filters_but_not_its_own(facet_index: Index) -> None:
    in_eng = facet_counts(facet_index, [], SearchFilters(containers=["space:ENG"]))
    assert in_eng["sources"] == {"confluence": 2}, "the container narrows the sources"
    assert in_eng["containers"]["channel:releases"] == 1, "the other containers stay selectable"
    slack = facet_counts(facet_index, [], SearchFilters(sources=["slack"]))
    assert slack["containers"] == {"channel:releases": 1} and slack["sources"]["files"] == 2
    recent = facet_counts(facet_index, [], SearchFilters(updated_after=datetime(2025, 1, 1, tzinfo=UTC)))
    assert recent["containers"]["space:ENG"] == 1


def test_a_container_filter_narrows_search_results(
    facet_index: Index, make_indexer: Callable[[Index], Indexer]
) -> None:
    indexer = make_indexer(facet_index)
    retriever = HybridRetriever(facet_index, indexer.embedders, indexer.analyzer)
    everything = {h.doc_id for h in retriever.search("Kestrel rollout plan", [], top_k=10)}
    assert len(everything) == 5, everything
    in_eng = retriever.search("Kestrel rollout plan", [], top_k=10, filters=SearchFilters(containers=["space:ENG"]))
    assert {h.doc_id for h in in_eng} == {"confluence:1", "confluence:2"}
    hidden = retriever.search("Kestrel rollout plan", [], top_k=10, filters=SearchFilters(containers=["space:HR"]))
    assert hidden == [], "a container filter never widens what the caller may see"


def test_facets_ask_the_engine_and_never_scan(facet_index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("facets scrolled the collection")

    monkeypatch.setattr(facet_index.backend, "scroll", no_scan)
    assert facet_counts(facet_index, [])["sources"]["files"] == 2


def test_an_older_edge_collection_gets_the_container_index(tmp_path: Path) -> None:
    import qdrant_edge as q

    from askdocs.retrieval.index.types import CollectionSpec

    backend = EdgeBackend(tmp_path / "edge")
    backend.ensure(CollectionSpec(dense={"en": 4}))
    shard = backend._open()
    assert "container" in shard.info().payload_schema
    shard.update(q.UpdateOperation.delete_field_index("container"))  # as a collection made before the facets
    backend.close()
    reopened = EdgeBackend(tmp_path / "edge")
    reopened.ensure(CollectionSpec(dense={"en": 4}))
    assert "container" in reopened._open().info().payload_schema
    reopened.close()


class _Files:
    """The files documents of ``DOCUMENTS`` as a load connector."""

    source = "files"

    def load_all(self) -> Iterator[Document]:
        yield from (d for d in DOCUMENTS if d.source == "files")


def test_documents_indexed_before_the_facets_get_their_place_on_the_next_sync(
    tmp_path: Path, make_indexer: Callable[[Index], Indexer]
) -> None:
    index = Index(EdgeBackend(tmp_path / "edge"))
    indexer = make_indexer(index)
    indexer.full_sync(_Files())
    # as an older version stored it: no container, a content hash computed without it
    index.backend.set_payload(IndexFilter(doc_ids=("files:ops/runbook.md",)), {"container": None, "content_hash": "x"})
    assert facet_counts(index, [])["containers"] == {}
    report = indexer.full_sync(_Files())
    assert report.metadata_only == 1 and report.embedded_chunks == 0, report
    assert facet_counts(index, [])["containers"] == {"folder:ops": 1}
    index.close()
