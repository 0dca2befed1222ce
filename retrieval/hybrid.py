"""Hybrid retrieval: dense (the query language's model) + BM25, fused by Qdrant in one query."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from askdocs.models import PUBLIC, Hit, Passage, SearchFilters
from retrieval.analyzer import Analyzer, detect_language
from retrieval.crosslingual import CrossLingualConfig, LanguageShares, other_block, split_languages
from retrieval.embedders import LanguageEmbedders
from retrieval.index import HybridQuery, Index, IndexFilter, ScoredPayload

Mode = Literal["hybrid", "dense", "bm25"]


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
    ) -> list[ScoredPayload]:
        """Ranked chunks visible to ``principals`` (the ACL filter runs inside the engine).

        Fusion: ``fusion`` when given, else the query language's own configuration, else the default.
        """
        language = detect_language(query)
        fusion = fusion or self.fusion_by_language.get(language, self.fusion)
        dense = None
        if mode in ("hybrid", "dense"):
            embedder = self.embedders.for_language(language)
            dense = (embedder.name, embedder.embed_query(query).tolist())
        sparse = self.analyzer.query_vector(query, language) if mode in ("hybrid", "bm25") else None
        flt, other = _index_filter(principals, filters), None
        multilingual = self.embedders.multilingual
        if self.xling is not None and multilingual is not None and mode != "bm25":
            flt, languages = split_languages(flt, language)
            same = dense is not None and dense[0] == multilingual.name  # a Japanese query's USE vector serves both
            vector = dense[1] if dense is not None and same else multilingual.embed_query(query).tolist()
            own = self.shares.own_weight(language)
            other = other_block(self.xling, self.embedders, vector, language, languages, own)
        return self.index.query(
            HybridQuery(
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
        )

    def search(
        self,
        query: str,
        principals: list[str],
        filters: SearchFilters | None = None,
        top_k: int = 10,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``top_k`` best documents, each as its best chunk merged with adjacent matching chunks."""
        chunks = self.search_chunks(query, principals, filters, limit=top_k * 4, mode=mode)
        by_doc: dict[str, list[ScoredPayload]] = defaultdict(list)
        order: list[str] = []
        for chunk in chunks:
            doc_id = chunk.payload["doc_id"]
            if doc_id not in by_doc:
                order.append(doc_id)
            by_doc[doc_id].append(chunk)
        return [_merge_adjacent(by_doc[doc_id]) for doc_id in order[:top_k]]


def _merge_adjacent(chunks: list[ScoredPayload]) -> Hit:
    """The best chunk joined with its direct neighbours when they matched too."""
    best = chunks[0]
    by_no = {int(c.payload["chunk_no"]): c for c in chunks}
    start = end = int(best.payload["chunk_no"])
    if start - 1 in by_no:
        start -= 1
    if end + 1 in by_no:
        end += 1
    run = [by_no[n] for n in range(start, end + 1)]
    payload = best.payload
    updated = payload.get("updated_at")
    return Hit(
        doc_id=payload["doc_id"],
        chunk_id=best.id,
        chunk_nos=list(range(start, end + 1)),
        passages=[
            Passage(chunk_id=c.id, chunk_no=int(c.payload["chunk_no"]), text=c.payload.get("text", "")) for c in run
        ],
        score=best.score,
        title=payload.get("title", ""),
        url=payload.get("url", ""),
        source=payload.get("source", ""),
        heading=payload.get("heading", ""),
        text="\n\n".join(c.payload.get("text", "") for c in run),
        updated_at=datetime.fromisoformat(updated) if updated else None,
        language=payload.get("language", "en"),
    )


def _index_filter(principals: list[str], filters: SearchFilters | None) -> IndexFilter:
    flt = IndexFilter(acl_any=tuple(sorted(set(principals) | {PUBLIC})))
    if filters is None:
        return flt
    return replace(
        flt,
        sources=tuple(filters.sources) if filters.sources else None,
        doc_ids=tuple(filters.doc_ids) if filters.doc_ids else None,
        updated_gte=filters.updated_after.timestamp() if filters.updated_after else None,
        updated_lte=filters.updated_before.timestamp() if filters.updated_before else None,
        languages=None if filters.language in (None, "both") else (str(filters.language),),
    )


__all__ = ["FusionConfig", "HybridRetriever", "Mode"]
