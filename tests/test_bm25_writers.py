"""BM25 corpus statistics stay exact with two writers (two ``Index`` instances, as two processes have) on one
backend, their writes interleaved at every backend call; ``recount_bm25`` repairs statistics that drifted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from askdocs.retrieval.index import CollectionSpec, Index, IndexedChunk, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.index.server import ServerBackend

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
SPEC = CollectionSpec(dense={"vec": 2})


def chunks(doc_id: str, lengths: list[int]) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            payload={"doc_id": doc_id, "chunk_no": n, "source": "files", "acl": ["public"], "text": doc_id},
            dense_name="vec",
            dense=[1.0, float(n)],
            sparse=([1], [1.0]),
            dl=dl,
        )
        for n, dl in enumerate(lengths)
    ]


class Interleaved:
    """A backend that, after each call writer A makes, lets writer B take its next step (another process's write
    landing between A's reads and writes, the way a scheduler and a CLI sync on one Qdrant server interleave)."""

    def __init__(self, backend: Any, other_steps: Iterator[Callable[[], None]]) -> None:
        self._backend = backend
        self._steps = other_steps

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._backend, name)
        if not callable(attribute) or name in ("close", "flush", "dense_names"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            step = next(self._steps, None)
            if step is not None:
                step()
            return result

        return call


@pytest.fixture(params=["edge", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    opened = EdgeBackend(tmp_path / "edge") if request.param == "edge" else ServerBackend(QdrantClient(":memory:"), "t")
    opened.ensure(SPEC)
    yield opened
    opened.close()


def recounted(index: Index) -> tuple[int, int]:
    points = index.chunks(IndexFilter())
    return len(points), sum(int(p.payload["dl"]) for p in points)


def test_two_writers_interleaving_keep_exact_statistics(backend: Any) -> None:
    writer_b = Index(backend)

    def b_steps() -> Iterator[Callable[[], None]]:
        for n in range(40):
            yield lambda n=n: writer_b.write_document(f"b{n}", chunks(f"b{n}", [3, 5]))
            if n % 4 == 3:
                yield lambda n=n: writer_b.delete_documents([f"a{n}"])  # B deletes chunks A wrote
                yield lambda n=n: writer_b.write_document(f"a{n + 1}", chunks(f"a{n + 1}", [7]))  # and rewrites A's

    steps = b_steps()
    writer_a = Index(Interleaved(backend, steps))
    for n in range(12):
        writer_a.write_document(f"a{n}", chunks(f"a{n}", [11, 13, 2]))
        if n % 3 == 2:
            writer_a.delete_documents([f"b{n}"])
    for step in steps:  # whatever B has left
        step()
    assert writer_a.bm25_stats() == writer_b.bm25_stats() == recounted(writer_b)
    assert recounted(writer_b)[0] > 40


def test_recount_repairs_statistics_and_leaves_other_writers_alone(backend: Any) -> None:
    writer, other = Index(backend), Index(backend)
    writer.write_document("a", chunks("a", [4, 6]))
    other.write_document("b", chunks("b", [10]))
    backend.delete(IndexFilter(doc_ids=("a",)))  # chunks gone behind the statistics' back (a crash, a manual edit)
    assert writer.bm25_stats() == (3, 20) != recounted(writer)
    assert writer.recount_bm25() == recounted(writer) == writer.bm25_stats() == (1, 10)
    other.write_document("c", chunks("c", [5]))  # the other writer goes on from its own totals
    assert other.bm25_stats() == recounted(other) == (2, 15)


def test_recount_counts_a_writer_whose_own_totals_are_negative(backend: Any) -> None:
    writer, other = Index(backend), Index(backend)
    writer.write_document("a", chunks("a", [4, 6]))
    writer.write_document("b", chunks("b", [8]))
    other.delete_documents(["a"])  # the other writer's own point is now (-2, -10)
    backend.delete(IndexFilter(doc_ids=("b",)))  # and the statistics drift
    assert writer.recount_bm25() == recounted(writer) == writer.bm25_stats() == (0, 0)
    writer.write_document("c", chunks("c", [5]))
    assert other.bm25_stats() == recounted(other) == (1, 5)
