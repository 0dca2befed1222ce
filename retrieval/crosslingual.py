"""Cross-lingual search: the query language's chunks ranked as before, the other language's chunks ranked by a
multilingual vector (with BM25), the two blocks merged by weighted RRF inside the same engine query."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Literal

from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.types import OtherLanguageBlock

# The chunk languages the analyzer tells apart ("en" stands for every non-Japanese text).
LANGUAGES = ("en", "ja")
# A language with fewer chunks than this share of the other's weighs less in the merge (see ``sliver_weight``).
SLIVER = 0.05


@dataclass(frozen=True)
class CrossLingualConfig:
    """How other-language chunks are ranked and how far they rank against the query language's.

    Inside the other-language block the multilingual legs (cosine at least ``min_cosine``; the text's and the
    heading trail's, which ``dense_merge`` "sum" scores as the text's cosine plus ``trail_weight`` times the
    trail's) and the BM25 leg (for ``bm25_languages``' questions) are fused by ``fusion``; the block then meets the
    query language's block in RRF with ``merge_k``, weighted
    ``weight`` against 1 (Qdrant's weighted RRF: ``1/((rank+1)/w + k - 1)``).
    """

    fusion: Literal["rrf", "dbsf"] = "dbsf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    dense_merge: Literal["sum", "max", "fusion"] = "sum"
    trail_weight: float = 0.25
    bm25_languages: tuple[str, ...] = ()  # query languages whose BM25 leg also ranks the other language
    weight: float = 0.6
    merge: Literal["rrf", "dbsf"] = "rrf"
    merge_k: int = 60
    min_cosine: float | None = 0.1


def split_languages(flt: IndexFilter, language: str) -> tuple[IndexFilter, tuple[str, ...]]:
    """The filter of the query language's block (only ``language``'s chunks) and the other wanted languages.

    A caller's language filter (``flt.languages``) is honoured: asking for one language leaves one block.
    """
    wanted = flt.languages if flt.languages is not None else LANGUAGES
    own = tuple(lang for lang in wanted if lang == language)
    return replace(flt, languages=own), tuple(lang for lang in wanted if lang != language)


class LanguageShares:
    """Chunks per language in the index, re-counted at most every ``ttl_s`` seconds (two filtered counts)."""

    def __init__(self, index: Index, ttl_s: float = 60.0) -> None:
        self.index, self.ttl_s = index, ttl_s
        self._counts: dict[str, int] = {}
        self._at = -math.inf

    def counts(self) -> dict[str, int]:
        """Language -> number of chunks."""
        if time.monotonic() - self._at > self.ttl_s:
            self._counts = {lang: self.index.count_chunks(IndexFilter(languages=(lang,))) for lang in LANGUAGES}
            self._at = time.monotonic()
        return self._counts

    def own_weight(self, language: str) -> float:
        """The query language's block weight (``sliver_weight`` of its chunks against the other languages')."""
        counts = self.counts()
        return sliver_weight(counts.get(language, 0), sum(n for lang, n in counts.items() if lang != language))


def sliver_weight(own: int, other: int) -> float:
    """1, or less for a language with under ``SLIVER`` times the other's chunks (in proportion), so a sliver of the
    corpus (12 code-only chunks labelled English among 7,004 Japanese ones) does not take every other rank."""
    if other == 0 or own >= SLIVER * other:
        return 1.0
    return own / (SLIVER * other)


def other_block(
    config: CrossLingualConfig,
    embedders: LanguageEmbedders,
    vector: list[float],
    query_language: str,
    languages: tuple[str, ...],
    own_weight: float = 1.0,
) -> OtherLanguageBlock:
    """The engine's description of the other-language block: the multilingual query ``vector`` searches the
    chunks' multilingual vectors (of their text, and of their heading trail)."""
    model = embedders.multilingual.name if embedders.multilingual else ""
    names = [model, *([embedders.title_vector] if embedders.title_vector else [])]
    return OtherLanguageBlock(
        dense=tuple((name, vector) for name in names),
        languages=languages,
        fusion=config.fusion,
        rrf_k=config.rrf_k,
        dense_weight=config.dense_weight,
        dense_merge=config.dense_merge,
        trail_weight=config.trail_weight,
        bm25=query_language in config.bm25_languages,
        min_score=config.min_cosine,
        weight=config.weight,
        own_weight=own_weight,
        merge=config.merge,
        merge_k=config.merge_k,
    )
