"""A hybrid query as a tree of engine stages, which each backend turns into its own prefetch/fusion request."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from askdocs.retrieval.index.types import BM25_VECTOR, HybridQuery, IndexFilter

Sparse = tuple[list[int], list[float]]
Method = Literal["rrf", "dbsf", "max", "sum"]


@dataclass(frozen=True)
class Leg:
    """One nearest-neighbour search: a named dense vector (or BM25's sparse one) under a filter; ``within``: only
    among that stage's results (re-scoring them)."""

    using: str
    dense: list[float] | None
    sparse: Sparse | None
    filter: IndexFilter
    weight: float = 1.0
    min_score: float | None = None
    within: Fused | None = None


@dataclass(frozen=True)
class Fused:
    """Stages fused by RRF (k, each stage's weight), DBSF, "max" (each point's best score among the stages) or
    "sum" (each point's scores times the stages' weights, summed); ``weight`` is this stage's in its parent."""

    stages: tuple[Leg | Fused, ...]
    method: Method
    rrf_k: int
    weight: float = 1.0

    @property
    def weights(self) -> list[float]:
        """The RRF weight of each stage, in order."""
        return [s.weight for s in self.stages]


Stage = Leg | Fused


def _legs(
    dense: tuple[str, list[float]] | None,
    sparse: Sparse | None,
    flt: IndexFilter,
    dense_weight: float,
    sparse_weight: float,
) -> list[Stage]:
    legs: list[Stage] = []
    if dense is not None:
        legs.append(Leg(dense[0], list(dense[1]), None, flt, dense_weight))
    if sparse is not None and sparse[0]:
        legs.append(Leg(BM25_VECTOR, None, sparse, flt, sparse_weight))
    return legs


def _fuse(stages: list[Stage], method: Method, rrf_k: int, weight: float) -> Stage | None:
    """Nothing for no stage, the stage itself (with ``weight``) for one, else their fusion."""
    if not stages:
        return None
    if len(stages) == 1:
        return replace(stages[0], weight=weight)
    return Fused(tuple(stages), method, rrf_k, weight)


def _combined(legs: list[Leg], method: Literal["max", "sum"], trail_weight: float, rrf_k: int, weight: float) -> Fused:
    """The legs' cosines as one score. A sum needs every leg's cosine of each candidate (a chunk in one leg's top
    results may be missing from the other's), so each leg re-scores the union of the legs' results first."""
    if method == "max":
        return Fused(tuple(legs), "max", rrf_k, weight)
    union = Fused(tuple(legs), "rrf", rrf_k)
    rescored = [replace(leg, weight=trail_weight if i else 1.0, within=union) for i, leg in enumerate(legs)]
    return Fused(tuple(rescored), "sum", rrf_k, weight)


def plan(query: HybridQuery) -> Stage | None:
    """The query's stages: its dense and BM25 legs fused; with ``query.other``, that block (the query language's)
    and the other-language block merged by weighted RRF. None when the query has no leg at all."""
    searched = query.filter.languages != ()  # a filter that admits no language leaves the block out
    legs: list[Stage] = (
        _legs(query.dense, query.sparse, query.filter, query.dense_weight, query.sparse_weight) if searched else []
    )
    main = _fuse(legs, query.fusion, query.rrf_k, query.other.own_weight if query.other else 1.0)
    other = query.other
    if other is None or not other.languages:
        return main
    flt = replace(query.filter, languages=other.languages)
    dense = [Leg(name, list(vector), None, flt, other.dense_weight, other.min_score) for name, vector in other.dense]
    legs = list(dense)
    if other.dense_merge != "fusion" and len(dense) > 1:  # one score from the text's and the heading trails' cosines
        legs = [_combined(dense, other.dense_merge, other.trail_weight, other.rrf_k, other.dense_weight)]
    legs += _legs(None, query.sparse if other.bm25 else None, flt, 0.0, query.sparse_weight)
    block = _fuse(legs, other.fusion, other.rrf_k, other.weight)
    stages = [s for s in (main, block) if s is not None]
    return _fuse(stages, other.merge, other.merge_k, 1.0)


def outer_filter(query: HybridQuery) -> IndexFilter:
    """The filter of the final fusion (ACL and the caller's filters again); languages are left to each block."""
    return replace(query.filter, languages=None) if query.other is not None else query.filter
