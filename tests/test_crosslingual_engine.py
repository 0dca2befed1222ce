"""The other-language block in the engine, on both backends (Qdrant Edge, qdrant-client local mode), with
hand-made vectors, and the multilingual vectors ingest writes for each chunk language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from embedder_spy import spy_on
from qdrant_client import QdrantClient

from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer
from askdocs.models import PUBLIC, Document, Section
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.crosslingual import LanguageShares, sliver_weight
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import CollectionSpec, HybridQuery, Index, IndexedChunk, IndexFilter, point_id
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.index.server import ServerBackend
from askdocs.retrieval.index.types import OtherLanguageBlock
from askdocs.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

SPEC = CollectionSpec(dense={"mono": 2, "multi": 2})
QUERY_MONO, QUERY_MULTI = [1.0, 0.0], [0.0, 1.0]


def point(doc: str, language: str, mono: list[float] | None, multi: list[float], acl: str = "public") -> IndexedChunk:
    """One chunk: English ones carry a monolingual and a multilingual vector, Japanese ones the multilingual."""
    payload = {"doc_id": doc, "chunk_no": 0, "language": language, "acl": [acl], "source": "files", "text": doc}
    name, vector, extra = ("mono", mono, {"multi": multi}) if mono is not None else ("multi", multi, {})
    return IndexedChunk(payload, name, vector, ([7], [1.0]), dl=1, extra_dense=extra)


@pytest.fixture(params=["edge", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    idx = Index(
        EdgeBackend(tmp_path / "edge")
        if request.param == "edge"
        else ServerBackend(QdrantClient(location=":memory:"), "xling")
    )
    idx.ensure(SPEC)
    idx.write_documents(
        [
            ("en-best", [point("en-best", "en", [1.0, 0.0], [0.3, 0.95])]),
            ("en-second", [point("en-second", "en", [0.8, 0.6], [0.9, 0.1])]),
            ("ja-best", [point("ja-best", "ja", None, [0.1, 0.99])]),
            ("ja-second", [point("ja-second", "ja", None, [0.7, 0.7])]),
            ("ja-far", [point("ja-far", "ja", None, [1.0, -0.05])]),
            ("ja-secret", [point("ja-secret", "ja", None, [0.0, 1.0], acl="group:tokyo-managers")]),
        ]
    )
    yield idx
    idx.close()


def run(index: Index, principals: tuple[str, ...] = ("public",), other: bool = True, **block: object) -> list[str]:
    flt = IndexFilter(acl_any=principals, languages=("en",) if other else None)
    plan = OtherLanguageBlock(dense=(("multi", QUERY_MULTI),), languages=("ja",), **block) if other else None  # type: ignore[arg-type]
    query = HybridQuery(limit=10, dense=("mono", QUERY_MONO), filter=flt, other=plan)
    return [r.payload["doc_id"] for r in index.query(query)]


def test_other_language_block_is_ranked_by_the_multilingual_vector_and_merged(index: Index) -> None:
    ranked = run(index, weight=0.6, min_score=0.5)
    assert ranked == ["en-best", "ja-best", "en-second", "ja-second"], "same-language #1 first, then other #1"
    assert "ja-far" not in ranked, "below the cosine floor"


def test_other_language_block_applies_the_acl_inside_the_engine(index: Index) -> None:
    assert "ja-secret" not in run(index, min_score=0.5)
    assert run(index, ("public", "group:tokyo-managers"), min_score=0.5)[1] == "ja-secret"


def test_without_other_language_chunks_the_ranking_is_unchanged(index: Index) -> None:
    """A one-language corpus (or a language filter that leaves one block) ranks exactly as before."""
    index.delete_documents(["ja-best", "ja-second", "ja-far", "ja-secret"])
    before = [r.id for r in index.query(HybridQuery(limit=10, dense=("mono", QUERY_MONO)))]
    assert run(index) == ["en-best", "en-second"]
    assert [point_id(d, 0) for d in run(index)] == before


def test_a_filter_leaving_no_language_of_the_query_searches_the_other_only(index: Index) -> None:
    flt = IndexFilter(acl_any=("public",), languages=())
    plan = OtherLanguageBlock(dense=(("multi", QUERY_MULTI),), languages=("ja",))
    query = HybridQuery(limit=10, dense=("mono", QUERY_MONO), filter=flt, other=plan)
    assert [r.payload["doc_id"] for r in index.query(query)] == ["ja-best", "ja-second", "ja-far"]


def test_ingest_embeds_each_chunk_once_per_model_and_heading_trails_once(
    tmp_path: Path, embedders: LanguageEmbedders, analyzer: Analyzer
) -> None:
    """English chunks get MiniLM + USE + the USE heading-trail vector; Japanese chunks reuse their USE vector as
    the multilingual one; a heading trail shared by several chunks is embedded once; a re-sync embeds nothing."""
    multilingual = LanguageEmbedders(embedders.by_language, embedders.by_language["ja"])
    spy = spy_on(multilingual)
    spied = LanguageEmbedders(spy.embedders.by_language, spy.embedders.by_language["ja"])
    index = Index(EdgeBackend(tmp_path / "edge"))
    indexer = Indexer(index, spied, Chunker(spied.for_language, 200, 30), analyzer)
    steps = " ".join(f"Step {n}: restart the fleet agent and check the dashboard." for n in range(60))
    docs = [
        Document(id="files:en", source="files", title="Runbook", sections=[Section(path=["Restart"], text=steps)]),
        Document(
            id="files:ja", source="files", title="手順書", sections=[Section(text="エージェントを再起動します。")]
        ),
    ]
    indexer.ensure_index()
    indexer.write(docs)
    stored = {p.payload["doc_id"]: p for p in index.stored_chunks(["files:en", "files:ja"])}
    assert set(stored["files:en"].dense) == {"minilm-l6-int8", "use-multilingual", "use-multilingual-title"}
    assert set(stored["files:ja"].dense) == {"use-multilingual", "use-multilingual-title"}
    en_chunks = index.count_chunks(IndexFilter(doc_ids=("files:en",)))
    assert en_chunks > 1
    texts = spy.texts
    assert texts.count("Runbook > Restart") == 1, "the heading trail is embedded once for all its chunks"
    assert sum(t.startswith("手順書\n") for t in texts) == 1, "the Japanese text is embedded once, not twice"
    assert sum(t.startswith("Runbook > Restart\n") for t in texts) == 2 * en_chunks, "MiniLM and USE, once each"
    before = spy.calls
    indexer.write(docs)
    assert spy.calls == before, "unchanged text reuses every stored vector"


def test_a_language_that_is_a_sliver_of_the_corpus_gets_less_weight(index: Index) -> None:
    """Chunks are counted per language; a minority keeps full weight, a sliver (under 5% of the other) does not."""
    shares = LanguageShares(index)
    assert shares.counts() == {"en": 2, "ja": 4}
    assert shares.own_weight("en") == 1.0 and shares.own_weight("ja") == 1.0
    assert sliver_weight(12, 7004) == pytest.approx(12 / (0.05 * 7004)) and sliver_weight(4, 12) == 1.0


def titled_index(backend: str, path: Path, chunks: dict[str, tuple[list[float], list[float]]]) -> Index:
    """Japanese chunks with a text ("multi") and a heading-trail ("multi-title") vector: doc -> (trail, text)."""
    idx = Index(EdgeBackend(path) if backend == "edge" else ServerBackend(QdrantClient(":memory:"), "t"))
    idx.ensure(CollectionSpec(dense={"mono": 2, "multi": 2, "multi-title": 2}))
    payload = {doc: point(doc, "ja", None, text).payload for doc, (_, text) in chunks.items()}
    idx.write_documents(
        [(doc, [IndexedChunk(payload[doc], "multi", text, ([7], [1.0]), dl=1, extra_dense={"multi-title": trail})])
         for doc, (trail, text) in chunks.items()]
    )  # fmt: skip
    return idx


def ranked_by_merge(idx: Index, merge: str, prefetch_limit: int = 100) -> list[str]:
    """The other-language block alone (no English chunks), the query [1, 0] on both multilingual vectors."""
    dense = (("multi", [1.0, 0.0]), ("multi-title", [1.0, 0.0]))
    other = OtherLanguageBlock(dense=dense, languages=("ja",), bm25=False, dense_merge=merge)  # type: ignore[arg-type]
    flt = IndexFilter(languages=("en",))
    query = HybridQuery(limit=10, dense=("mono", [1.0, 0.0]), filter=flt, other=other, prefetch_limit=prefetch_limit)
    return [r.payload["doc_id"] for r in idx.query(query)]


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_a_chunk_scores_its_text_and_heading_trail_cosines_combined(backend: str, tmp_path: Path) -> None:
    """dense_merge "sum" (the default): text cosine + 0.25 x heading-trail cosine; "max": the higher of the two (a
    page found by its title alone ranks first); "fusion" ranks the chunk that is middling on both first instead."""
    chunks = {"by-title": ([1.0, 0.0], [0.2, 0.98]), "by-text": ([0.6, 0.8], [0.8, 0.6]), "both": ([0.7, 0.71],) * 2}
    idx = titled_index(backend, tmp_path / "e", chunks)
    try:
        assert ranked_by_merge(idx, "sum") == ["by-text", "both", "by-title"]  # 0.95, 0.88, 0.45
        assert ranked_by_merge(idx, "max") == ["by-title", "by-text", "both"]
        assert ranked_by_merge(idx, "fusion")[0] == "both"
    finally:
        idx.close()


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_the_sum_counts_both_cosines_of_a_chunk_only_one_leg_found(backend: str, tmp_path: Path) -> None:
    """With one candidate per leg, "text-top" tops the text leg (0.9, trail 0) and "trail-top" the trail leg (1.0,
    text 0.85): the sum re-scores both on both vectors (0.9 against 1.1), not 0.9 against 0.25 (a missing
    cosine counting 0), so "trail-top" is the block's one result."""
    chunks = {"text-top": ([0.0, 1.0], [0.9, 0.436]), "trail-top": ([1.0, 0.0], [0.85, 0.527])}
    idx = titled_index(backend, tmp_path / "e", {**chunks, "far": ([0.1, 0.995], [0.1, 0.995])})
    try:
        assert ranked_by_merge(idx, "sum", prefetch_limit=1) == ["trail-top"]
    finally:
        idx.close()


def test_an_index_built_without_the_multilingual_vectors_still_serves_and_a_rebuild_adds_them(
    tmp_path: Path, sample_workspace: Path, make_indexer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An index from before cross-lingual search (or built with ASKDOCS_EMBEDDER_XLING empty) under the default
    settings: searches answer per language, with a warning (they failed on the missing vector), and
    `askdocs reindex` with the same models adds the multilingual vectors, after which the English question finds
    the Japanese page."""
    settings = Settings(data_dir=tmp_path / "data", workspace_dir=sample_workspace)
    index = Index.open(settings)
    try:  # the shared test embedders carry no multilingual model: the index of an older version
        assert make_indexer(index).full_sync(FilesConnector(sample_workspace)).status == "succeeded"
    finally:
        index.close()
    services = Services.build(settings)
    try:
        assert services.embedders.multilingual is None
        assert "holds no cross-lingual vectors of use-multilingual" in caplog.text
        hits = services.retriever.search("How do I reissue my Tokyo office entry card?", [PUBLIC], top_k=3)
        assert hits and {h.language for h in hits} == {"en"}
        current = services.serving_models()
        rebuild = services.reindexer(current.en, current.ja)
        rebuild.start()
        rebuild.switch()
        assert services.embedders.multilingual is not None
        hits = services.retriever.search("How do I reissue my Tokyo office entry card?", [PUBLIC], top_k=3)
        assert "files:tokyo/office-guide.md" in [h.doc_id for h in hits]
    finally:
        services.close()
