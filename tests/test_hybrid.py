"""Hybrid retrieval over the indexed sample workspace: relevance, ACLs, filters, merging."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.sync import Indexer
from askdocs.models import Document, SearchFilters, Section
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.hybrid import FusionConfig, HybridRetriever
from askdocs.retrieval.index import Index

QUESTIONS_MD = Path(__file__).resolve().parent.parent / "examples" / "QUESTIONS.md"
ROW = re.compile(r"^\|\s*([EJR]\d+)\s*\|\s*(.+?)\s*\|\s*`([^`]+)`\s*\|(.*)$")


def _questions() -> dict[str, tuple[str, str, list[str], str]]:
    """id -> (question, expected doc id, allowed principals, unique keyword) from examples/QUESTIONS.md."""
    out = {}
    for line in QUESTIONS_MD.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if not match:
            continue
        qid, question, path, rest = match.groups()
        cells = [c.strip() for c in rest.split("|")]
        principals = re.findall(r"`([^`]+)`", cells[0]) if qid.startswith("R") else ["public"]
        keyword = cells[2] if qid.startswith("R") else ""
        out[qid] = (question, f"files:{path}", principals, keyword)
    return out


QUESTIONS = _questions()
ENGLISH = sorted((k for k in QUESTIONS if k.startswith("E")), key=lambda k: int(k[1:]))
JAPANESE = sorted((k for k in QUESTIONS if k.startswith("J")), key=lambda k: int(k[1:]))
RESTRICTED = sorted((k for k in QUESTIONS if k.startswith("R")), key=lambda k: int(k[1:]))
MODES = ["hybrid", "dense", "bm25"]


def test_questions_file_parsed() -> None:
    assert len(ENGLISH) == 12 and len(JAPANESE) == 6 and len(RESTRICTED) == 7
    assert QUESTIONS["R4"] == (
        "When does the Project Heron reorganisation take effect?",
        "files:leadership/reorg-plan-2027.md",
        ["group:leadership"],
        "Project Heron",
    )


@pytest.fixture(scope="module")
def retriever(indexed_workspace, embedders: LanguageEmbedders, analyzer: Analyzer) -> HybridRetriever:
    return HybridRetriever(indexed_workspace.index, embedders, analyzer)


@pytest.fixture(scope="module")
def restricted_docs(indexed_workspace) -> set[str]:
    docs = FilesConnector(indexed_workspace.root).load_all()
    return {d.id for d in docs if isinstance(d, Document) and d.acl != ["public"]}


def ids(hits: list) -> list[str]:
    return [h.doc_id for h in hits]


# --- relevance ---------------------------------------------------------------------------
def test_japanese_query_finds_the_japanese_document_first(retriever: HybridRetriever) -> None:
    hits = retriever.search("東京オフィスの入館カードの再発行手数料", ["public"], top_k=5)
    assert hits[0].doc_id == "files:tokyo/office-guide.md"
    assert hits[0].language == "ja"
    assert "2,000円" in hits[0].text or "再発行" in hits[0].text


@pytest.mark.parametrize("qid", ENGLISH)
def test_english_questions_find_their_document(retriever: HybridRetriever, qid: str) -> None:
    question, expected, _, _ = QUESTIONS[qid]
    assert expected in ids(retriever.search(question, ["public"], top_k=3)), question


@pytest.mark.parametrize("qid", JAPANESE)
def test_japanese_questions_find_their_document(retriever: HybridRetriever, qid: str) -> None:
    question, expected, _, _ = QUESTIONS[qid]
    assert expected in ids(retriever.search(question, ["public"], top_k=3)), question


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers(retriever: HybridRetriever, mode: str) -> None:
    hits = retriever.search("What command do I run to connect to the VPN?", ["public"], top_k=5, mode=mode)
    assert 0 < len(hits) <= 5
    assert "files:it/vpn-setup.md" in ids(hits)[:3]


# --- access control ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qid", RESTRICTED)
def test_restricted_questions_show_nothing_to_public(
    retriever: HybridRetriever, restricted_docs: set[str], qid: str, mode: str
) -> None:
    question, _, _, keyword = QUESTIONS[qid]
    for query in (question, keyword):
        hits = retriever.search(query, ["public"], top_k=10, mode=mode)
        assert not set(ids(hits)) & restricted_docs
        assert all(keyword.lower() not in (h.text + h.title).lower() for h in hits)


@pytest.mark.parametrize("qid", RESTRICTED)
def test_restricted_questions_answer_allowed_principals(retriever: HybridRetriever, qid: str) -> None:
    question, expected, principals, keyword = QUESTIONS[qid]
    for principal in principals:
        hits = retriever.search(question, [principal], top_k=3)
        assert expected in ids(hits), (question, principal)
    keyword_hits = retriever.search(keyword, principals, top_k=3)
    assert expected in ids(keyword_hits)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Project Heron", "files:leadership/reorg-plan-2027.md"),
        ("Falcon budget line", "files:finance/q3-2026-budget.md"),
    ],
)
def test_restricted_keywords_public_versus_leadership(
    retriever: HybridRetriever, restricted_docs: set[str], query: str, expected: str
) -> None:
    public = retriever.search(query, ["public"], top_k=10)
    assert not set(ids(public)) & restricted_docs
    leadership = retriever.search(query, ["group:leadership"], top_k=10)
    assert ids(leadership)[0] == expected
    # Leadership also sees public documents: "public" is always added to the caller's principals.
    assert set(ids(leadership)) - restricted_docs


def test_finance_does_not_see_leadership_only_documents(retriever: HybridRetriever) -> None:
    hits = retriever.search("Project Heron reorganisation Kestrel term sheet", ["group:finance"], top_k=10)
    assert "files:leadership/reorg-plan-2027.md" not in ids(hits)
    assert "files:leadership/board-meeting-2026-09.html" not in ids(hits)
    assert "files:finance/q3-2026-budget.md" in ids(retriever.search("Falcon budget line", ["group:finance"]))


def test_private_document_only_for_its_user(retriever: HybridRetriever) -> None:
    doc = "files:hr/private/mei-tanaka-relocation.md"
    assert doc not in ids(retriever.search("Cedar relocation grant", ["group:leadership"], top_k=10))
    assert ids(retriever.search("Cedar relocation grant", ["user:mei.tanaka@kumo.example"], top_k=3))[0] == doc


# --- filters -----------------------------------------------------------------------------
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def test_updated_after_filter(retriever: HybridRetriever) -> None:
    # The indexed workspace dates tokyo/ files July 2026 and everything else January 2026.
    hits = retriever.search("K2", ["public"], SearchFilters(updated_after=JUNE), top_k=10)
    assert "files:tokyo/k2-maintenance.md" in ids(hits)
    assert all(h.doc_id.startswith("files:tokyo/") for h in hits)
    assert all(h.updated_at is not None and h.updated_at > JUNE for h in hits)


def test_updated_before_filter(retriever: HybridRetriever) -> None:
    query = "K2"  # in English documents and, as an ASCII word, in Japanese ones under tokyo/
    unfiltered = retriever.search(query, ["public"], top_k=30)  # the PDF and Office samples mention K2 too
    assert any(h.doc_id.startswith("files:tokyo/") for h in unfiltered)
    hits = retriever.search(query, ["public"], SearchFilters(updated_before=JUNE), top_k=10)
    assert hits and not any(h.doc_id.startswith("files:tokyo/") for h in hits)
    assert all(h.updated_at is not None and h.updated_at < JUNE for h in hits)
    naive = retriever.search(query, ["public"], SearchFilters(updated_before=datetime(2026, 6, 1)), top_k=10)
    assert ids(naive) == ids(hits)  # naive datetimes are taken as UTC
    # A Japanese query only reaches Japanese chunks (its own dense model); all of them are newer.
    assert retriever.search("東京オフィスの入館カード", ["public"], SearchFilters(updated_before=JUNE)) == []


def test_updated_range_that_matches_nothing(retriever: HybridRetriever) -> None:
    flt = SearchFilters(updated_after=datetime(2026, 2, 1, tzinfo=UTC), updated_before=JUNE)
    assert retriever.search("VPN", ["public"], flt) == []


def test_source_filter_on_the_workspace(retriever: HybridRetriever) -> None:
    assert retriever.search("VPN", ["public"], SearchFilters(sources=["files"]))
    assert retriever.search("VPN", ["public"], SearchFilters(sources=["slack"])) == []


def test_doc_ids_filter(retriever: HybridRetriever) -> None:
    only = ["files:hr/pto-policy.md", "files:hr/parental-leave.md"]
    hits = retriever.search("VPN laptop leave", ["public"], SearchFilters(doc_ids=only), top_k=10)
    assert set(ids(hits)) == set(only)


def test_source_filter_with_two_sources(
    edge_index: Index, make_indexer: Callable[..., Indexer], embedders: LanguageEmbedders, analyzer: Analyzer
) -> None:
    indexer = make_indexer(edge_index)
    indexer.ensure_index()
    indexer.write(
        [
            Document(id="files:a", source="files", title="Printer", sections=[Section(text="The printer is Quokka.")]),
            Document(id="wiki:b", source="wiki", title="Printer FAQ", sections=[Section(text="Quokka jams often.")]),
            Document(id="slack:c", source="slack", title="#it", sections=[Section(text="Quokka printer is down")]),
        ]
    )
    retriever = HybridRetriever(edge_index, embedders, analyzer)
    assert sorted(ids(retriever.search("Quokka printer", ["public"]))) == ["files:a", "slack:c", "wiki:b"]
    assert ids(retriever.search("Quokka printer", ["public"], SearchFilters(sources=["wiki"]))) == ["wiki:b"]
    both = retriever.search("Quokka printer", ["public"], SearchFilters(sources=["wiki", "slack"]))
    assert sorted(ids(both)) == ["slack:c", "wiki:b"]
    assert all(h.source in {"wiki", "slack"} for h in both)


# --- result shape ------------------------------------------------------------------------
def test_one_hit_per_document_with_adjacent_chunks_merged(retriever: HybridRetriever, indexed_workspace) -> None:
    hits = retriever.search("on-call rotation PagerDuty handoff escalation", ["public"], top_k=8)
    assert len(ids(hits)) == len(set(ids(hits)))
    for hit in hits:
        assert hit.chunk_nos == list(range(hit.chunk_nos[0], hit.chunk_nos[-1] + 1))
        assert 1 <= len(hit.chunk_nos) <= 3
        assert hit.title and hit.url.startswith("file://") and hit.source == "files"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_top_k_and_limit(retriever: HybridRetriever) -> None:
    assert len(retriever.search("policy", ["public"], top_k=1)) == 1
    chunks = retriever.search_chunks("policy", ["public"], limit=7)
    assert len(chunks) == 7
    assert all("public" in c.payload["acl"] for c in chunks)


def test_fusion_config_is_used(retriever: HybridRetriever) -> None:
    query = "How many PTO days do US employees get per year?"
    rrf = retriever.search_chunks(query, ["public"], limit=5, fusion=FusionConfig(method="rrf", rrf_k=60))
    dbsf = retriever.search_chunks(query, ["public"], limit=5, fusion=FusionConfig(method="dbsf"))
    assert rrf[0].payload["doc_id"] == dbsf[0].payload["doc_id"] == "files:hr/pto-policy.md"
    assert rrf[0].score < 1 / 60 * 2 + 1e-9  # an RRF score, at most 1/k per leg
    assert dbsf[0].score > rrf[0].score


def test_empty_index_returns_no_hits(edge_index: Index, embedders: LanguageEmbedders, analyzer: Analyzer) -> None:
    retriever = HybridRetriever(edge_index, embedders, analyzer)
    assert retriever.search("anything at all", ["public"]) == []  # never created
    from askdocs.retrieval.index import CollectionSpec

    edge_index.ensure(CollectionSpec(dense=embedders.vector_sizes()))
    for mode in MODES:
        assert retriever.search("anything at all", ["public"], mode=mode) == []  # created, empty
    assert retriever.search("東京", ["public"]) == []
