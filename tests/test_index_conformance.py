"""One conformance suite for both index backends: Qdrant Edge and Qdrant server (qdrant-client local mode).

Every test in this module runs once per backend through the ``Index`` facade; the last tests build
both backends side by side and compare their rankings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from askdocs.errors import ConfigError
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import (
    CollectionSpec,
    HybridQuery,
    Index,
    IndexedChunk,
    IndexFilter,
    ScoredPayload,
    point_id,
)
from askdocs.retrieval.index.bm25 import bm25_weights
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.index.server import ServerBackend

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

SPEC = CollectionSpec(dense={"vec": 4, "other": 3})
BACKENDS = ["edge", "server"]


def open_backend(kind: str, tmp_path: Path, name: str = "conformance") -> Index:
    if kind == "edge":
        return Index(EdgeBackend(tmp_path / kind / name))
    return Index(ServerBackend(QdrantClient(location=":memory:"), name))


@pytest.fixture(params=BACKENDS)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    idx = open_backend(request.param, tmp_path)
    yield idx
    idx.close()


@pytest.fixture
def ready(index: Index) -> Index:
    index.ensure(SPEC)
    return index


def chunk(
    doc_id: str,
    chunk_no: int,
    dense: list[float] | None = None,
    sparse: dict[int, float] | None = None,
    *,
    dl: int = 10,
    acl: tuple[str, ...] = ("public",),
    source: str = "files",
    updated_ts: float | None = 1000.0,
    content_hash: str | None = None,
    dense_name: str = "vec",
    **extra: object,
) -> IndexedChunk:
    sparse = sparse if sparse is not None else {1: 1.0}
    payload = {
        "doc_id": doc_id,
        "chunk_no": chunk_no,
        "source": source,
        "acl": list(acl),
        "updated_ts": updated_ts,
        "content_hash": content_hash or f"hash-of-{doc_id}",
        "text": f"{doc_id} #{chunk_no}",
        **extra,
    }
    ids = sorted(sparse)
    return IndexedChunk(
        payload=payload,
        dense_name=dense_name,
        dense=dense or [1.0, 0.0, 0.0, 0.0],
        sparse=(ids, [sparse[i] for i in ids]),
        dl=dl,
    )


def doc_ids(results: list[ScoredPayload]) -> list[str]:
    return [r.payload["doc_id"] for r in results]


def keys(results: list[ScoredPayload]) -> list[tuple[str, int]]:
    return [(r.payload["doc_id"], r.payload["chunk_no"]) for r in results]


def stats_from_points(index: Index) -> tuple[int, int]:
    points = index.chunks(IndexFilter())
    return len(points), sum(int(p.payload["dl"]) for p in points)


# --- collection lifecycle ----------------------------------------------------------------
def test_ensure_creates_the_collection(index: Index) -> None:
    assert not index.exists()
    assert index.backend.dense_names() == {}
    index.ensure(SPEC)
    assert index.exists()
    assert index.backend.dense_names() == {"vec": 4, "other": 3}
    assert index.count_chunks() == 0
    assert index.bm25_stats() == (0, 0)


def test_ensure_again_is_a_no_op(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", 0), chunk("d1", 1)])
    ready.ensure(SPEC)
    ready.ensure(CollectionSpec(dense={"other": 3, "vec": 4}))  # same vectors, other order
    assert ready.count_chunks() == 2
    assert ready.bm25_stats() == (2, 20)


@pytest.mark.parametrize(
    "other", [{"vec": 8, "other": 3}, {"vec": 4}, {"vec": 4, "other": 3, "third": 2}, {"renamed": 4, "other": 3}]
)
def test_ensure_with_other_vectors_raises(ready: Index, other: dict[str, int]) -> None:
    ready.write_document("d1", [chunk("d1", 0)])
    with pytest.raises(ConfigError) as excinfo:
        ready.ensure(CollectionSpec(dense=other))
    message = str(excinfo.value)
    assert "holds dense vectors" in message
    assert str({"vec": 4, "other": 3}) in message and str(other) in message
    assert "ASKDOCS_COLLECTION" in message
    assert ready.count_chunks() == 1  # the existing collection is untouched


def test_reads_before_ensure_answer_empty(index: Index) -> None:
    assert index.count_chunks() == 0
    assert index.chunks(IndexFilter()) == []
    assert index.query(HybridQuery(limit=5, dense=("vec", [1.0, 0, 0, 0]), sparse=([1], [1.0]))) == []
    assert index.stored_chunks(["d1"]) == []


def test_stored_chunks_return_dense_vectors_and_the_asked_fields(ready: Index) -> None:
    """What the indexer reuses when a chunk's text is unchanged: the dense vectors by name, never BM25's."""
    ready.write_document("d1", [chunk("d1", 0, [0.0, 1.0, 0.0, 0.0], title="T", heading=""), chunk("d1", 1)])
    ready.write_document(
        "d2",
        [
            chunk(
                "d2",
                0,
                [0.6, 0.8, 0.0, 0.0],
            )
        ],
    )
    stored = {p.id: p for p in ready.stored_chunks(["d1", "d2", "missing"], ["title", "heading", "text"])}
    assert set(stored) == {point_id("d1", 0), point_id("d1", 1), point_id("d2", 0)}
    first = stored[point_id("d1", 0)]
    assert first.payload == {"title": "T", "heading": "", "text": "d1 #0"}
    assert list(first.dense) == ["vec"]
    assert first.dense["vec"] == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert stored[point_id("d2", 0)].dense["vec"] == pytest.approx([0.6, 0.8, 0.0, 0.0], abs=1e-6)
    assert ready.stored_chunks([]) == []


# --- writes ------------------------------------------------------------------------------
def test_write_document_then_count(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", i) for i in range(3)])
    ready.write_document("d2", [chunk("d2", 0, source="wiki")])
    assert ready.count_chunks() == 4
    assert ready.count_chunks(IndexFilter(doc_ids=("d1",))) == 3
    assert ready.count_chunks(IndexFilter(sources=("wiki",))) == 1
    stored = ready.chunks(IndexFilter(doc_ids=("d1",)))
    assert sorted(p.payload["chunk_no"] for p in stored) == [0, 1, 2]
    assert {p.id for p in stored} == {point_id("d1", i) for i in range(3)}
    assert all(p.payload["kind"] == "chunk" and p.payload["dl"] == 10 for p in stored)
    assert stored[0].payload["text"].startswith("d1 #")


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("files:a.md", 0) == point_id("files:a.md", 0)
    assert point_id("files:a.md", 0) != point_id("files:a.md", 1) != point_id("files:b.md", 1)
    # A fixed value: a change would orphan every stored point (rewrites would no longer replace them).
    assert point_id("files:a.md", 0) == "ea5b8bb1-4118-5ea2-8405-e42e25c4fc11"


def test_rewrite_with_fewer_chunks_drops_the_surplus(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", i, dl=5) for i in range(4)])
    ready.write_document("d2", [chunk("d2", i, dl=7) for i in range(2)])
    ready.write_document("d1", [chunk("d1", 0, dl=3, content_hash="v2"), chunk("d1", 1, dl=4, content_hash="v2")])
    stored = ready.chunks(IndexFilter(doc_ids=("d1",)))
    assert sorted(p.payload["chunk_no"] for p in stored) == [0, 1]
    assert {p.payload["content_hash"] for p in stored} == {"v2"}
    assert ready.count_chunks(IndexFilter(doc_ids=("d2",))) == 2  # other documents untouched
    assert ready.bm25_stats() == (4, 3 + 4 + 7 + 7) == stats_from_points(ready)


def test_rewrite_with_more_chunks_and_with_none(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", 0)])
    ready.write_document("d1", [chunk("d1", i) for i in range(3)])
    assert ready.count_chunks() == 3
    ready.write_document("d1", [])
    assert ready.count_chunks() == 0
    assert ready.bm25_stats() == (0, 0)


def test_write_documents_replaces_a_batch_at_once(ready: Index) -> None:
    ready.write_document("shrinks", [chunk("shrinks", i, dl=5) for i in range(3)])
    ready.write_document("emptied", [chunk("emptied", 0, dl=9)])
    ready.write_document("untouched", [chunk("untouched", 0, dl=1)])
    ready.write_documents(
        [
            ("shrinks", [chunk("shrinks", 0, dl=2, content_hash="v2")]),
            ("new", [chunk("new", i, dl=3) for i in range(2)]),
            ("emptied", []),
            ("new", [chunk("new", i, dl=4, content_hash="v3") for i in range(3)]),  # given twice: the last wins
        ]
    )
    per_doc = {d: ready.count_chunks(IndexFilter(doc_ids=(d,))) for d in ("shrinks", "new", "emptied", "untouched")}
    assert per_doc == {"shrinks": 1, "new": 3, "emptied": 0, "untouched": 1}
    assert {p.payload["content_hash"] for p in ready.chunks(IndexFilter(doc_ids=("new",)))} == {"v3"}
    assert ready.bm25_stats() == (5, 2 + 12 + 1) == stats_from_points(ready)
    ready.write_documents([])
    assert ready.bm25_stats() == (5, 15)


def test_delete_documents(ready: Index) -> None:
    for name, n in (("a", 2), ("b", 3), ("c", 1)):
        ready.write_document(name, [chunk(name, i, dl=2) for i in range(n)])
    assert ready.delete_documents(["a", "c", "missing"]) == 3
    assert ready.count_chunks() == 3
    assert set(ready.document_hashes()) == {"b"}
    assert ready.delete_documents([]) == 0
    assert ready.delete_documents(["a"]) == 0
    assert ready.bm25_stats() == (3, 6)


def test_delete_with_an_empty_filter_is_refused(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", 0)])
    with pytest.raises(ValueError, match="empty filter"):
        ready.backend.delete(IndexFilter(kind=None))
    assert ready.count_chunks() == 1


def test_document_hashes(ready: Index) -> None:
    ready.write_document("files:a", [chunk("files:a", i, content_hash="ha") for i in range(3)])
    ready.write_document("files:b", [chunk("files:b", 0, content_hash="hb")])
    ready.write_document("wiki:c", [chunk("wiki:c", 0, source="wiki", content_hash="hc")])
    assert ready.document_hashes() == {"files:a": "ha", "files:b": "hb", "wiki:c": "hc"}
    assert ready.document_hashes("files") == {"files:a": "ha", "files:b": "hb"}
    assert ready.document_hashes("wiki") == {"wiki:c": "hc"}
    assert ready.document_hashes("none") == {}


def test_bm25_stats_stay_consistent(ready: Index) -> None:
    assert ready.bm25_stats() == (0, 0)
    ready.write_document("a", [chunk("a", 0, dl=10), chunk("a", 1, dl=20)])
    assert ready.bm25_stats() == (2, 30)
    ready.write_document("b", [chunk("b", 0, dl=5)])
    assert ready.bm25_stats() == (3, 35)
    ready.write_document("a", [chunk("a", 0, dl=12), chunk("a", 1, dl=8), chunk("a", 2, dl=1)])
    assert ready.bm25_stats() == (4, 26)
    ready.write_document("a", [chunk("a", 0, dl=2)])
    assert ready.bm25_stats() == (2, 7)
    ready.delete_documents(["b"])
    assert ready.bm25_stats() == (1, 2) == stats_from_points(ready)
    # The statistics point is not a chunk: counts, scrolls and queries never see it.
    assert ready.count_chunks() == 1
    assert all(p.payload.get("kind") == "chunk" for p in ready.chunks(IndexFilter()))


def test_bm25_weights_are_replaced_in_place_keeping_vectors_and_payload(ready: Index) -> None:
    ready.write_document("d1", [chunk("d1", 0, sparse={1: 1.0}, dl=10, bm25_avgdl=10.0)])
    ready.write_document("d2", [chunk("d2", 0, [0.0, 1.0, 0.0, 0.0], {2: 1.0}, dl=30, bm25_avgdl=20.0, title="T")])
    ready.write_document("d3", [chunk("d3", 0, dl=20)])  # written before the average length was recorded
    assert ready.documents_weighted_off(10.0, 0.05) == ["d2", "d3"]
    assert ready.documents_weighted_off(20.0, 0.05, source="other") == []
    [stored] = ready.stored_chunks(["d2"])
    assert stored.payload["title"] == "T" and stored.payload["dl"] == 30
    ready.replace_bm25([(stored, ([7], [0.5]), 25)], 10.0)
    [hit] = ready.query(HybridQuery(limit=5, sparse=([7], [1.0])))
    assert hit.payload["doc_id"] == "d2"
    assert hit.payload["bm25_avgdl"] == 10.0 and hit.payload["dl"] == 25 and hit.payload["title"] == "T"
    assert ready.query(HybridQuery(limit=5, sparse=([2], [1.0]))) == []
    assert ready.stored_chunks(["d2"])[0].dense["vec"] == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert ready.bm25_stats() == (3, 10 + 25 + 20) == stats_from_points(ready)
    assert ready.documents_weighted_off(10.0, 0.05) == ["d3"]


# --- queries -----------------------------------------------------------------------------
# Four documents: dense vectors and BM25 weights chosen so each leg has a clear, different order.
DENSE_QUERY = [1.0, 0.0, 0.0, 0.0]
SPARSE_QUERY = ([7], [1.0])
CORPUS = {
    # doc: (dense vector, sparse weights)
    "north": ([1.0, 0.0, 0.0, 0.0], {1: 1.0}),  # dense #1, no query term
    "north-east": ([0.9, 0.3, 0.0, 0.0], {7: 0.5}),  # dense #2, sparse #3
    "east": ([0.5, 0.8, 0.0, 0.0], {7: 1.5}),  # dense #3, sparse #1
    "south": ([-0.2, 0.0, 1.0, 0.0], {7: 1.0, 2: 1.0}),  # dense #4, sparse #2
}


@pytest.fixture
def corpus(ready: Index) -> Index:
    for n, (name, (dense, sparse)) in enumerate(CORPUS.items()):
        ready.write_document(name, [chunk(name, 0, dense, sparse, updated_ts=1000.0 * (n + 1))])
    return ready


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))


def test_dense_only_query(corpus: Index) -> None:
    results = corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY)))
    assert doc_ids(results) == ["north", "north-east", "east", "south"]
    for r in results:
        assert r.score == pytest.approx(cosine(CORPUS[r.payload["doc_id"]][0], DENSE_QUERY), abs=1e-5)
    assert doc_ids(corpus.query(HybridQuery(limit=2, dense=("vec", DENSE_QUERY)))) == ["north", "north-east"]


def test_sparse_only_query(corpus: Index) -> None:
    results = corpus.query(HybridQuery(limit=10, sparse=SPARSE_QUERY))
    # Only documents holding the term match; score = idf * weight, same idf for all three.
    assert doc_ids(results) == ["east", "south", "north-east"]
    scores = [r.score for r in results]
    assert scores[0] / scores[2] == pytest.approx(1.5 / 0.5, rel=1e-4)
    assert scores[1] / scores[2] == pytest.approx(1.0 / 0.5, rel=1e-4)


def test_sparse_scores_use_idf(ready: Index) -> None:
    # Term 1 is in every document, term 2 in one: with equal weights the rare term scores higher.
    ready.write_document("common", [chunk("common", 0, sparse={1: 1.0})])
    ready.write_document("rare", [chunk("rare", 0, sparse={1: 1.0, 2: 1.0})])
    for i in range(3):
        ready.write_document(f"filler{i}", [chunk(f"filler{i}", 0, sparse={1: 1.0})])
    only_common = ready.query(HybridQuery(limit=10, sparse=([1], [1.0])))
    only_rare = ready.query(HybridQuery(limit=10, sparse=([2], [1.0])))
    assert len(only_common) == 5 and doc_ids(only_rare) == ["rare"]
    assert only_rare[0].score > only_common[0].score > 0


def test_empty_legs_answer_nothing(corpus: Index) -> None:
    assert corpus.query(HybridQuery(limit=5)) == []
    assert corpus.query(HybridQuery(limit=5, sparse=([], []))) == []
    # A query term no document has matches nothing on the sparse leg.
    assert corpus.query(HybridQuery(limit=5, sparse=([99], [1.0]))) == []
    # A sparse leg without terms leaves a dense-only query.
    dense = corpus.query(HybridQuery(limit=5, dense=("vec", DENSE_QUERY), sparse=([], [])))
    assert doc_ids(dense) == ["north", "north-east", "east", "south"]


def rrf_expected(dense: list[str], sparse: list[str], k: int) -> dict[str, float]:
    """Reciprocal rank fusion as Qdrant computes it: sum over legs of 1 / (k + rank), rank counted from 0."""
    scores: dict[str, float] = {}
    for ranking in (dense, sparse):
        for rank, doc in enumerate(ranking):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


@pytest.mark.parametrize(
    ("k", "order"),
    [
        # A small k rewards a single first place (north is dense #1 only) ...
        (1, ["east", "north", "north-east", "south"]),
        # ... a larger k rewards being good on both legs.
        (2, ["east", "north-east", "south", "north"]),
        (60, ["east", "north-east", "south", "north"]),
    ],
)
def test_hybrid_rrf_fuses_ranks_with_k(corpus: Index, k: int, order: list[str]) -> None:
    dense = doc_ids(corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY))))
    sparse = doc_ids(corpus.query(HybridQuery(limit=10, sparse=SPARSE_QUERY)))
    fused = corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), sparse=SPARSE_QUERY, rrf_k=k))
    expected = rrf_expected(dense, sparse, k)
    assert {r.payload["doc_id"]: r.score for r in fused} == pytest.approx(expected, rel=1e-5)
    assert [r.score for r in fused] == sorted((r.score for r in fused), reverse=True)
    assert doc_ids(fused) == order


def test_hybrid_rrf_weights_favour_a_leg(corpus: Index) -> None:
    both = {"dense": ("vec", DENSE_QUERY), "sparse": SPARSE_QUERY, "rrf_k": 1}
    dense_heavy = corpus.query(HybridQuery(limit=10, dense_weight=10.0, sparse_weight=0.1, **both))
    sparse_heavy = corpus.query(HybridQuery(limit=10, dense_weight=0.1, sparse_weight=10.0, **both))
    assert doc_ids(dense_heavy)[0] == "north"  # the dense winner
    assert doc_ids(sparse_heavy)[0] == "east"  # the sparse winner
    assert doc_ids(dense_heavy) != doc_ids(sparse_heavy)


def test_hybrid_limit_and_prefetch_limit(corpus: Index) -> None:
    top1 = corpus.query(HybridQuery(limit=1, dense=("vec", DENSE_QUERY), sparse=SPARSE_QUERY))
    assert len(top1) == 1
    # With one candidate per leg, only each leg's winner can come back.
    narrow = corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), sparse=SPARSE_QUERY, prefetch_limit=1))
    assert sorted(doc_ids(narrow)) == ["east", "north"]


def dbsf_expected(*legs: list[ScoredPayload]) -> dict[str, float]:
    """Distribution-based score fusion: each leg's scores mapped from [mean - 3 sd, mean + 3 sd] to [0, 1], summed."""
    fused: dict[str, float] = {}
    for leg in legs:
        scores = [r.score for r in leg]
        mean = sum(scores) / len(scores)
        sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / (len(scores) - 1))
        for r in leg:
            doc = r.payload["doc_id"]
            fused[doc] = fused.get(doc, 0.0) + (r.score - (mean - 3 * sd)) / (6 * sd)
    return fused


def test_hybrid_dbsf(corpus: Index) -> None:
    dense = corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY)))
    sparse = corpus.query(HybridQuery(limit=10, sparse=SPARSE_QUERY))
    fused = corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), sparse=SPARSE_QUERY, fusion="dbsf"))
    assert sorted(doc_ids(fused)) == sorted(CORPUS)  # the union of both legs
    assert {r.payload["doc_id"]: r.score for r in fused} == pytest.approx(dbsf_expected(dense, sparse), rel=1e-4)
    assert [r.score for r in fused] == sorted((r.score for r in fused), reverse=True)
    # A document found by one leg only (north) gets no share of the other leg and comes last.
    assert doc_ids(fused) == ["east", "north-east", "south", "north"]


def test_dense_query_uses_the_named_vector(ready: Index) -> None:
    ready.write_document("en", [chunk("en", 0, [1.0, 0, 0, 0])])
    ready.write_document("ja", [chunk("ja", 0, [0.0, 1.0, 0.0], dense_name="other")])
    assert doc_ids(ready.query(HybridQuery(limit=10, dense=("vec", [1.0, 0, 0, 0])))) == ["en"]
    assert doc_ids(ready.query(HybridQuery(limit=10, dense=("other", [0.0, 1.0, 0.0])))) == ["ja"]


# --- filters inside the query -------------------------------------------------------------
def test_acl_filter_inside_the_query(ready: Index) -> None:
    ready.write_document("secret", [chunk("secret", 0, acl=("group:x",), sparse={7: 3.0})])
    ready.write_document("open", [chunk("open", 0, acl=("public",), sparse={7: 1.0})])
    ready.write_document("shared", [chunk("shared", 0, acl=("group:y", "user:a@b"), sparse={7: 2.0})])
    for query in (
        HybridQuery(limit=10, sparse=([7], [1.0]), filter=IndexFilter(acl_any=("public",))),
        HybridQuery(limit=10, dense=("vec", DENSE_QUERY), filter=IndexFilter(acl_any=("public",))),
        HybridQuery(limit=10, dense=("vec", DENSE_QUERY), sparse=([7], [1.0]), filter=IndexFilter(acl_any=("public",))),
    ):
        assert doc_ids(ready.query(query)) == ["open"]
    as_x = ready.query(HybridQuery(limit=10, sparse=([7], [1.0]), filter=IndexFilter(acl_any=("public", "group:x"))))
    assert doc_ids(as_x) == ["secret", "open"]
    as_user = ready.query(HybridQuery(limit=10, sparse=([7], [1.0]), filter=IndexFilter(acl_any=("user:a@b",))))
    assert doc_ids(as_user) == ["shared"]
    # The filter applies before the limit: a hidden better match does not take a slot.
    top1 = ready.query(HybridQuery(limit=1, sparse=([7], [1.0]), filter=IndexFilter(acl_any=("public",))))
    assert doc_ids(top1) == ["open"]
    assert ready.count_chunks(IndexFilter(acl_any=("group:x",))) == 1


def test_source_filter(ready: Index) -> None:
    ready.write_document("f", [chunk("f", 0, source="files")])
    ready.write_document("s", [chunk("s", 0, source="slack")])
    ready.write_document("w", [chunk("w", 0, source="wiki")])
    query = {"limit": 10, "dense": ("vec", DENSE_QUERY), "sparse": ([1], [1.0])}
    assert sorted(doc_ids(ready.query(HybridQuery(**query, filter=IndexFilter(sources=("files", "wiki")))))) == [
        "f",
        "w",
    ]
    assert doc_ids(ready.query(HybridQuery(**query, filter=IndexFilter(sources=("slack",))))) == ["s"]
    assert ready.query(HybridQuery(**query, filter=IndexFilter(sources=("nope",)))) == []


def test_updated_range_filter(corpus: Index) -> None:
    # updated_ts: north=1000, north-east=2000, east=3000, south=4000; bounds are inclusive.
    def run(gte: float | None, lte: float | None) -> list[str]:
        flt = IndexFilter(updated_gte=gte, updated_lte=lte)
        return sorted(doc_ids(corpus.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), filter=flt))))

    assert run(2000.0, None) == ["east", "north-east", "south"]
    assert run(None, 2000.0) == ["north", "north-east"]
    assert run(1500.0, 3000.0) == ["east", "north-east"]
    assert run(5000.0, None) == []
    fused = corpus.query(
        HybridQuery(limit=10, dense=("vec", DENSE_QUERY), sparse=SPARSE_QUERY, filter=IndexFilter(updated_gte=2500.0))
    )
    assert sorted(doc_ids(fused)) == ["east", "south"]


def test_chunks_without_time_are_outside_any_range(ready: Index) -> None:
    ready.write_document("timeless", [chunk("timeless", 0, updated_ts=None)])
    ready.write_document("dated", [chunk("dated", 0, updated_ts=10.0)])
    flt = IndexFilter(updated_gte=0.0)
    assert doc_ids(ready.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), filter=flt))) == ["dated"]
    assert ready.count_chunks() == 2


def test_doc_and_chunk_filters(ready: Index) -> None:
    ready.write_document("a", [chunk("a", i) for i in range(4)])
    ready.write_document("b", [chunk("b", i) for i in range(2)])
    assert ready.count_chunks(IndexFilter(doc_ids=("a",), chunk_no_gte=2)) == 2
    assert ready.count_chunks(IndexFilter(chunk_nos=(0, 1))) == 4
    found = ready.query(HybridQuery(limit=10, dense=("vec", DENSE_QUERY), filter=IndexFilter(doc_ids=("b",))))
    assert sorted(keys(found)) == [("b", 0), ("b", 1)]


# --- both backends agree -----------------------------------------------------------------
SMALL_CORPUS = {
    "vpn": "Connect to the VPN with the KumoLink client: run kumolink connect --region us-west.",
    "wifi": "The guest Wi-Fi network Kumo-Guest has a password that rotates every Monday.",
    "laptop": "Company laptops are replaced every three years; request a new laptop from IT.",
    "leave": "US employees get sixteen weeks of fully paid parental leave for every parent.",
    "pto": "US employees get twenty paid time off days per year plus ten company holidays.",
    "deploy": "Production deploys are frozen on Fridays from noon until Monday morning.",
    "oncall": "An engineering on-call rotation lasts one week and pages go through PagerDuty.",
    "meals": "The daily meal limit when traveling in the US is 75 USD, or 100 USD abroad.",
    "network": "If the VPN network drops, reconnect the client and check the Wi-Fi network first.",
}


@pytest.fixture(scope="module")
def small_corpus_vectors(embedders: LanguageEmbedders, analyzer: Analyzer) -> dict[str, IndexedChunk]:
    en = embedders.for_language("en")
    names = list(SMALL_CORPUS)
    rows = en.embed_documents([SMALL_CORPUS[n] for n in names])
    terms = {n: analyzer.terms(SMALL_CORPUS[n], "en") for n in names}
    avgdl = sum(len(t) for t in terms.values()) / len(terms)
    out = {}
    for name, row in zip(names, rows):
        ids, values, dl = bm25_weights(terms[name], avgdl)
        out[name] = IndexedChunk(
            payload={"doc_id": name, "chunk_no": 0, "source": "files", "acl": ["public"], "text": SMALL_CORPUS[name]},
            dense_name=en.name,
            dense=row.tolist(),
            sparse=(ids, values),
            dl=dl,
        )
    return out


def build(kind: str, tmp_path: Path, embedders: LanguageEmbedders, chunks: dict[str, IndexedChunk]) -> Index:
    idx = open_backend(kind, tmp_path, "agree")
    idx.ensure(CollectionSpec(dense=embedders.vector_sizes()))
    for name, c in chunks.items():
        idx.write_document(name, [c])
    return idx


@pytest.fixture
def both(
    tmp_path: Path, embedders: LanguageEmbedders, small_corpus_vectors: dict[str, IndexedChunk]
) -> Iterator[Callable[[HybridQuery], tuple[list[ScoredPayload], list[ScoredPayload]]]]:
    edge = build("edge", tmp_path, embedders, small_corpus_vectors)
    server = build("server", tmp_path, embedders, small_corpus_vectors)
    yield lambda q: (edge.query(q), server.query(q))
    edge.close()
    server.close()


QUERIES = [
    "How do I connect to the VPN network?",
    "parental leave weeks for employees",
    "meal limit traveling",
    "guest wifi password",
    "when are deploys frozen",
]


@pytest.mark.parametrize("text", QUERIES)
def test_backends_rank_alike(
    both: Callable[[HybridQuery], tuple[list[ScoredPayload], list[ScoredPayload]]],
    embedders: LanguageEmbedders,
    analyzer: Analyzer,
    text: str,
) -> None:
    en = embedders.for_language("en")
    sparse = analyzer.query_vector(text, "en")
    dense = (en.name, en.embed_query(text).tolist())
    for query in (
        HybridQuery(limit=9, sparse=sparse),
        HybridQuery(limit=9, dense=dense),
        HybridQuery(limit=9, dense=dense, sparse=sparse),
        HybridQuery(limit=9, dense=dense, sparse=sparse, fusion="dbsf"),
    ):
        edge, server = both(query)
        assert edge, query
        assert doc_ids(edge) == doc_ids(server), query
        assert [r.score for r in edge] == pytest.approx([r.score for r in server], rel=1e-3, abs=1e-4)


def test_backends_find_the_expected_document(
    both: Callable[[HybridQuery], tuple[list[ScoredPayload], list[ScoredPayload]]],
    embedders: LanguageEmbedders,
    analyzer: Analyzer,
) -> None:
    en = embedders.for_language("en")
    text = "How long is an on-call rotation?"
    for query in (
        HybridQuery(limit=3, sparse=analyzer.query_vector(text, "en")),
        HybridQuery(limit=3, dense=(en.name, en.embed_query(text).tolist())),
    ):
        edge, server = both(query)
        assert doc_ids(edge)[0] == doc_ids(server)[0] == "oncall"


def test_update_document_fields_changes_payload_not_vectors(ready: Index) -> None:
    ready.write_document("files:a", [chunk("files:a", i, acl=("group:x",), embedding_hash="e") for i in range(2)])
    ready.write_document("files:b", [chunk("files:b", 0)])
    hidden = ready.query(HybridQuery(limit=10, sparse=([1], [1.0]), filter=IndexFilter(acl_any=("public",))))
    assert doc_ids(hidden) == ["files:b"]
    ready.update_document_fields("files:a", {"acl": ["public"], "content_hash": "new", "url": "https://x/a"})
    visible = ready.query(HybridQuery(limit=10, sparse=([1], [1.0]), filter=IndexFilter(acl_any=("public",))))
    assert sorted(doc_ids(visible)) == ["files:a", "files:a", "files:b"]
    assert ready.document_states() == {"files:a": ("new", "e"), "files:b": ("hash-of-files:b", "")}
    points = ready.chunks(IndexFilter(doc_ids=("files:a",)))
    assert {p.payload["url"] for p in points} == {"https://x/a"}
    assert {p.payload["text"] for p in points} == {"files:a #0", "files:a #1"}, "chunk fields stay"
    dense = ready.query(
        HybridQuery(limit=10, dense=("vec", [1.0, 0.0, 0.0, 0.0]), filter=IndexFilter(doc_ids=("files:a",)))
    )
    assert len(dense) == 2, "vectors stay"
    assert ready.bm25_stats() == stats_from_points(ready)
