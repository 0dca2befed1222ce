"""``top_k`` counts documents: one long page with many matching chunks cannot fill the budget alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from askdocs.ingest.sync import Indexer
from askdocs.models import Document, Section
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.hybrid import HybridRetriever
from askdocs.retrieval.index import Index

LONG_SECTIONS = 40


def _long_page() -> Document:
    """Forty sections, each about pod preemption: many chunks that all match the query well."""
    sections = [
        Section(
            path=[f"Pod priority and preemption, part {n}"],
            text=f"Pod priority and preemption, case {n}: when a pending pod has a higher priority, the scheduler "
            "preempts lower priority pods on a node so the pending pod can be scheduled. Preemption evicts the "
            "victims gracefully and the pod priority class decides which pods are victims.",
        )
        for n in range(LONG_SECTIONS)
    ]
    return Document(id="docs:long", source="docs", title="Pod priority and preemption", sections=sections)


def _short_page(n: int) -> Document:
    text = f"Note {n}: pod priority classes also influence preemption order; see the scheduling guide."
    return Document(id=f"docs:short-{n}", source="docs", title=f"Scheduling note {n}", sections=[Section(text=text)])


@pytest.fixture
def retriever(
    edge_index: Index, make_indexer: Callable[..., Indexer], embedders: LanguageEmbedders, analyzer: Analyzer
) -> HybridRetriever:
    indexer = make_indexer(edge_index)
    indexer.ensure_index()
    indexer.write([_long_page(), *(_short_page(n) for n in range(5))])
    return HybridRetriever(edge_index, embedders, analyzer)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_top_k_returns_that_many_documents(retriever: HybridRetriever, mode: str) -> None:
    query = "pod priority and preemption"
    # The long page alone fills the old budget of top_k * 4 chunks: that is what made top_k 3 return one document.
    budget = retriever.search_chunks(query, ["public"], limit=12, mode=mode)  # type: ignore[arg-type]
    assert {c.payload["doc_id"] for c in budget} == {"docs:long"}
    hits = retriever.search(query, ["public"], top_k=3, mode=mode)  # type: ignore[arg-type]
    assert len(hits) == 3
    assert len({h.doc_id for h in hits}) == 3
    assert hits[0].doc_id == "docs:long"


def test_reading_further_keeps_the_first_ranks(retriever: HybridRetriever) -> None:
    query = "pod priority and preemption"
    first = retriever.search_chunks(query, ["public"], limit=12)
    spanning = retriever.search_chunks(query, ["public"], limit=12, documents=6)
    assert [c.id for c in spanning[:12]] == [c.id for c in first]
    assert len({c.payload["doc_id"] for c in spanning}) == 6


def test_fewer_documents_than_asked_ends_the_search(retriever: HybridRetriever) -> None:
    hits = retriever.search("pod priority and preemption", ["public"], top_k=50)
    assert len(hits) == 6
