"""Hybrid retrieval: dense (the query language's model) + BM25, fused by Qdrant in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from askdocs.models import PUBLIC, Hit, Location, Passage, SearchFilters
from askdocs.retrieval.analyzer import Analyzer, detect_language
from askdocs.retrieval.crosslingual import CrossLingualConfig, LanguageShares, other_block, split_languages
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import HybridQuery, Index, IndexFilter, ScoredPayload
from askdocs.retrieval.index.payload import ChunkPayload

Mode = Literal["hybrid", "dense", "bm25"]

# The most chunks one search reads while looking for ``top_k`` distinct documents.
MAX_CHUNKS = 2000


@dataclass(frozen=True)
class FusionConfig:
    """How the two legs are fused: RRF with explicit k and per-leg weights, or DBSF."""

    method: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    prefetch_limit: int = 100


class HybridRetriever:
    """Search chunks for a caller; returns the best chunk per document, adjacent hits merged."""

    def __init__(
        self,
        index: Index,
        embedders: LanguageEmbedders,
        analyzer: Analyzer,
        fusion: FusionConfig = FusionConfig(),
        fusion_by_language: dict[str, FusionConfig] | None = None,
        xling: CrossLingualConfig | None = None,
    ) -> None:
        self.index = index
        self.embedders = embedders
        self.analyzer = analyzer
        self.fusion = fusion
        self.fusion_by_language = fusion_by_language or {}
        self.xling = xling  # cross-lingual block (needs the embedders' multilingual model); None: off
        self.shares = LanguageShares(index)

    def search_chunks(
        self,
        query: str,
        principals: list[str],
        filters: SearchFilters | None = None,
        limit: int = 10,
        mode: Mode = "hybrid",
        fusion: FusionConfig | None = None,
        documents: int | None = None,
    ) -> list[ScoredPayload]:
        """Ranked chunks visible to ``principals`` (the ACL filter runs inside the engine).

        Fusion: ``fusion`` when given, else the query language's own configuration, else the default.
        ``documents``: read past ``limit`` (up to ``MAX_CHUNKS``) until the chunks span that many documents.
        """
        language = detect_language(query)
        fusion = fusion or self.fusion_by_language.get(language, self.fusion)
        sparse = self.analyzer.query_vector(query, language) if mode in ("hybrid", "bm25") else None
        with self.index.reading():  # the model that embeds the query is the one whose vectors are searched
            dense = None
            if mode in ("hybrid", "dense"):
                embedder = self.embedders.for_language(language)
                dense = (embedder.name, embedder.embed_query(query).tolist())
            flt, other = _index_filter(principals, filters), None
            multilingual = self.embedders.multilingual
            if self.xling is not None and multilingual is not None and mode != "bm25":
                flt, languages = split_languages(flt, language)
                same = dense is not None and dense[0] == multilingual.name  # a Japanese query's USE vector serves both
                vector = dense[1] if dense is not None and same else multilingual.embed_query(query).tolist()
                own = self.shares.own_weight(language)
                other = other_block(self.xling, self.embedders, vector, language, languages, own)
            request = HybridQuery(
                limit=limit,
                dense=dense,
                sparse=sparse,
                other=other,
                filter=flt,
                prefetch_limit=max(fusion.prefetch_limit, limit),
                fusion=fusion.method,
                rrf_k=fusion.rrf_k,
                dense_weight=fusion.dense_weight,
                sparse_weight=fusion.sparse_weight,
            )
            if documents is None:
                return self.index.query(request)
            return chunks_spanning(self.index.query, request, documents)

    def search(
        self,
        query: str,
        principals: list[str],
        filters: SearchFilters | None = None,
        top_k: int = 10,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``top_k`` best documents, each as its best chunk merged with adjacent matching chunks."""
        chunks = self.search_chunks(query, principals, filters, limit=top_k * 4, mode=mode, documents=top_k)
        by_doc: dict[str, list[ScoredPayload]] = defaultdict(list)
        order: list[str] = []
        for chunk in chunks:
            doc_id = chunk.payload["doc_id"]
            if doc_id not in by_doc:
                order.append(doc_id)
            by_doc[doc_id].append(chunk)
        return [_merge_adjacent(by_doc[doc_id]) for doc_id in order[:top_k]]

    def document_chunks(self, doc_id: str, principals: list[str]) -> list[ScoredPayload]:
        """Every chunk of ``doc_id`` in reading order when ``principals`` may see it; none otherwise, as if absent."""
        chunks = self.index.chunks(_index_filter(principals, SearchFilters(doc_ids=[doc_id])))
        return sorted(chunks, key=lambda chunk: int(chunk.payload["chunk_no"]))


def chunks_spanning(
    run: Callable[[HybridQuery], list[ScoredPayload]], query: HybridQuery, documents: int, max_chunks: int = MAX_CHUNKS
) -> list[ScoredPayload]:
    """``run(query)``, read further until the chunks span ``documents`` documents or ``max_chunks`` are read.

    One long document can fill a chunk budget on its own. Each further read asks for four times the chunks (and,
    once the fused candidates are used up, four times the candidates per leg); what was found before keeps its
    rank and the newly found chunks follow, so the first documents never change order.
    """
    found = run(query)
    while len({c.payload["doc_id"] for c in found}) < documents and query.limit < max_chunks:
        single_leg = query.other is None and (query.dense is None or not (query.sparse and query.sparse[0]))
        exhausted = len(found) < query.limit  # the fused candidates are used up: widen each leg
        if exhausted and (single_leg or query.prefetch_limit >= max_chunks):
            break  # every matching chunk has been read
        prefetch = min(query.prefetch_limit * 4, max_chunks) if exhausted else query.prefetch_limit
        query = replace(query, limit=min(query.limit * 4, max_chunks), prefetch_limit=prefetch)
        seen = {c.id for c in found}
        found += [c for c in run(query) if c.id not in seen]
    return found


def _merge_adjacent(chunks: list[ScoredPayload]) -> Hit:
    """The best chunk joined with its direct neighbours when they matched too."""
    stored = [(c, ChunkPayload.from_payload(c.payload)) for c in chunks]
    by_no = {payload.chunk_no: (c, payload) for c, payload in stored}
    best, first = stored[0]
    start = end = first.chunk_no
    if start - 1 in by_no:
        start -= 1
    if end + 1 in by_no:
        end += 1
    run = [by_no[n] for n in range(start, end + 1)]
    location = _location(first.location)
    return Hit(
        doc_id=first.doc_id,
        chunk_id=best.id,
        chunk_nos=list(range(start, end + 1)),
        passages=[
            Passage(chunk_id=c.id, chunk_no=payload.chunk_no, text=payload.text, location=_location(payload.location))
            for c, payload in run
        ],
        score=best.score,
        title=first.title,
        url=location.link(first.url) if location else first.url,
        source=first.source,
        heading=first.heading,
        text="\n\n".join(payload.text for _, payload in run),
        updated_at=first.updated_at,
        language=first.language,
        location=location,
    )


def _location(stored: dict[str, Any] | None) -> Location | None:
    """A stored chunk's page, slide or sheet rows (None for chunks of plain documents)."""
    return Location.model_validate(stored) if isinstance(stored, dict) else None


def facet_counts(
    index: Index, principals: list[str], filters: SearchFilters | None = None, limit: int = 100
) -> dict[str, dict[str, int]]:
    """Documents per source and per container (space, channel, folder) among those ``principals`` may see.

    Each facet applies every filter but its own, so the other choices of the same facet stay visible; the counts
    come from the engine's payload indexes (one facet query per field, no scan)."""
    out: dict[str, dict[str, int]] = {}
    for key, field_name in (("sources", "source"), ("containers", "container")):
        others = filters.model_copy(update={key: None}) if filters else None
        flt = replace(_index_filter(principals, others), chunk_nos=(0,))  # one point per document
        counts = index.facet(field_name, flt, limit)
        out[key] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return out


def _index_filter(principals: list[str], filters: SearchFilters | None) -> IndexFilter:
    flt = IndexFilter(acl_any=tuple(sorted(set(principals) | {PUBLIC})))
    if filters is None:
        return flt
    return replace(
        flt,
        sources=tuple(filters.sources) if filters.sources else None,
        containers=tuple(filters.containers) if filters.containers else None,
        doc_ids=tuple(filters.doc_ids) if filters.doc_ids else None,
        updated_gte=filters.updated_after.timestamp() if filters.updated_after else None,
        updated_lte=filters.updated_before.timestamp() if filters.updated_before else None,
        languages=None if filters.language in (None, "both") else (str(filters.language),),
    )


__all__ = ["FusionConfig", "HybridRetriever", "Mode", "facet_counts"]
