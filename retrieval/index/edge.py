"""Index backend on Qdrant Edge: Qdrant's engine in-process, one shard folder on disk."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as q

from askdocs.errors import ConfigError, IndexDamaged, IndexLocked, IndexUnavailable
from askdocs.retrieval.index.plan import Fused, Leg, Stage, outer_filter, plan
from askdocs.retrieval.index.types import (
    BM25_VECTOR,
    DEFAULT_LAYOUT,
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    Between,
    CollectionSpec,
    Condition,
    HybridQuery,
    IndexFilter,
    IndexPoint,
    Match,
    Missing,
    PagedRecords,
    ScoredPayload,
    StorageLayout,
    ranked,
)

SPEC_FILE = "askdocs-collection.json"


def _condition(cond: Condition) -> Any:
    if isinstance(cond, Match):
        return q.FieldCondition(key=cond.key, match=q.MatchAny(any=list(cond.values)))
    if isinstance(cond, Between):
        return q.FieldCondition(key=cond.key, range=q.RangeFloat(gte=cond.gte, lte=cond.lte, gt=cond.gt, lt=cond.lt))
    if isinstance(cond, Missing):
        return q.IsEmptyCondition(key=cond.key)
    return q.Filter(should=[_condition(c) for c in cond.conditions])


def _filter(flt: IndexFilter) -> q.Filter | None:
    must = [_condition(c) for c in flt.conditions()]
    return q.Filter(must=must) if must else None


def _nearest(leg: Leg) -> Any:
    if leg.sparse is not None:
        return q.Query.Nearest(q.SparseVector(*leg.sparse), using=leg.using)
    return q.Query.Nearest(list(leg.dense or []), using=leg.using)


def _fusion(stage: Fused) -> Any:
    if stage.method in ("max", "sum"):  # a point missing from a stage (under its cosine floor) counts 0 there
        expr = q.Expression
        scores = [f"$score[{i}]" for i in range(len(stage.stages))]
        if stage.method == "max":
            formula = expr.Max([expr.Variable(s) for s in scores])
        else:
            formula = expr.Sum([expr.Mult([expr.Constant(w), expr.Variable(s)]) for w, s in zip(stage.weights, scores)])
        return q.Formula(formula, defaults=dict.fromkeys(scores, 0.0))
    return q.Fusion.Rrf(k=stage.rrf_k, weights=stage.weights) if stage.method == "rrf" else q.Fusion.Dbsf()


def _prefetch(stage: Stage, limit: int, keep: int = 1) -> q.Prefetch:
    """A plan stage as an engine prefetch (fused stages nest their own prefetches, of ``limit`` points each, and
    keep ``keep`` times as many: a union that re-scoring legs read keeps every candidate)."""
    if isinstance(stage, Leg):
        keep = len(stage.within.stages) if stage.within is not None else keep  # a re-scoring leg keeps every one
        within = [_prefetch(stage.within, limit, keep)] if stage.within is not None else None
        return q.Prefetch(limit=limit * keep, query=_nearest(stage), filter=_filter(stage.filter),
                          score_threshold=stage.min_score, prefetches=within)  # fmt: skip
    stages = [_prefetch(s, limit) for s in stage.stages]
    return q.Prefetch(limit=limit * keep, prefetches=stages, query=_fusion(stage))


def _load(path: Path) -> q.EdgeShard:
    """Open the shard; a held or damaged shard gets an explanation instead of an engine error."""
    try:
        return q.EdgeShard.load(str(path))
    except Exception as exc:
        if "WouldBlock" in str(exc):
            raise IndexLocked(
                f"the index at {path} is in use by another askdocs process (in embedded mode the API server holds "
                "it): stop that process, or ask it to sync with POST /v1/sources/<name>/sync"
            ) from None
        raise IndexDamaged(
            f"the index at {path} is damaged ({' '.join(str(exc).split())[:400]}); `askdocs serve` rebuilds it from "
            "the sources by itself, or move the folder away and run `askdocs sync --full`"
        ) from None


def _shard_config(layout: StorageLayout, spec: CollectionSpec) -> q.EdgeConfig:
    """The ``EdgeConfig`` of a new shard holding ``spec``'s vectors, laid out as ``layout`` says."""
    quantization = None
    if layout.quantization == "int8":
        quantization = q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True)
    return q.EdgeConfig(
        vectors={
            name: q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine, on_disk=layout.on_disk_vectors)
            for name, dim in spec.dense.items()
        },
        sparse_vectors={BM25_VECTOR: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        on_disk_payload=layout.on_disk_payload,
        quantization_config=quantization,
    )


class EdgeBackend(PagedRecords):
    """Qdrant Edge shard at ``path``; thread-safe for one process (writes are serialised). ``layout``: how a
    shard it creates stores vectors and payload (an existing shard keeps its own)."""

    def __init__(self, path: Path, layout: StorageLayout = DEFAULT_LAYOUT) -> None:
        self.path = Path(path)
        self.layout = layout
        self._shard: q.EdgeShard | None = None
        self._lock = threading.RLock()

    @property
    def _spec_path(self) -> Path:
        return self.path.parent / f"{self.path.name}.{SPEC_FILE}"

    def dense_names(self) -> dict[str, int]:
        if not self._spec_path.exists():
            return {}
        try:
            return {k: int(v) for k, v in json.loads(self._spec_path.read_text())["dense"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexDamaged(
                f"the index's collection spec {self._spec_path} is unreadable ({type(exc).__name__}: {exc}); "
                "restore it from a backup, or delete it and the folder beside it and re-index (askdocs sync --full)"
            ) from None

    def set_aside(self) -> Path:
        """Close the shard and move it and its spec out of the way (``<name>.damaged-<time>``); returns where."""
        with self._lock:
            if self._shard is not None:
                try:
                    self._shard.close()
                except Exception:  # noqa: BLE001 - a damaged shard may not close cleanly; it is being dropped
                    pass
                self._shard = None
            target = self.path.parent / f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
            if self.path.exists():
                self.path.rename(target)
            if self._spec_path.exists():
                self._spec_path.rename(target.with_name(target.name + ".spec.json"))
            return target

    def _open(self) -> q.EdgeShard:
        if self._shard is None:
            with self._lock:
                if self._shard is None:
                    if not self._spec_path.exists():
                        raise IndexUnavailable(f"no index at {self.path}; run 'askdocs index' first")
                    self._shard = _load(self.path)
        return self._shard

    def ensure(self, spec: CollectionSpec) -> None:
        with self._lock:
            existing = self.dense_names()
            if existing:
                if existing != spec.dense:
                    raise ConfigError(
                        f"index at {self.path} holds dense vectors {existing}, but the configured embedders "
                        f"need {spec.dense}; switch with `askdocs reindex`, or use another ASKDOCS_COLLECTION"
                    )
                self._add_missing_indexes(self._open())
                return
            self.path.mkdir(parents=True, exist_ok=True)
            shard = q.EdgeShard.create(str(self.path), _shard_config(self.layout, spec))
            for name in KEYWORD_FIELDS:
                shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Keyword))
            for name in INTEGER_FIELDS:
                shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Integer))
            for name in FLOAT_FIELDS:
                shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Float))
            shard.flush()
            tmp = self._spec_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"dense": spec.dense}))
            tmp.replace(self._spec_path)
            self._shard = shard

    @staticmethod
    def _add_missing_indexes(shard: q.EdgeShard) -> None:
        """Keyword indexes that a collection made by an older version lacks (the facets' ``container``)."""
        missing = set(KEYWORD_FIELDS) - set(shard.info().payload_schema)
        for name in sorted(missing):
            shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Keyword))

    def upsert(self, points: list[IndexPoint]) -> None:
        edge_points = []
        for p in points:
            vector: dict[str, Any] = dict(p.dense)
            if p.sparse is not None and p.sparse[0]:
                vector[BM25_VECTOR] = q.SparseVector(p.sparse[0], p.sparse[1])
            edge_points.append(q.Point(p.id, vector, p.payload))
        with self._lock:
            self._open().update(q.UpdateOperation.upsert_points(edge_points))

    def delete(self, flt: IndexFilter) -> None:
        qf = _filter(flt)
        if qf is None:
            raise ValueError("refusing to delete with an empty filter")
        with self._lock:
            self._open().update(q.UpdateOperation.delete_points_by_filter(qf))

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            with self._lock:
                self._open().update(q.UpdateOperation.delete_points(list(ids)))

    def set_payload(self, flt: IndexFilter, payload: dict[str, Any]) -> None:
        qf = _filter(flt)
        if qf is None:
            raise ValueError("refusing to update with an empty filter")
        with self._lock:
            self._open().update(q.UpdateOperation.set_payload_by_filter(qf, payload))

    def retrieve(self, ids: list[str]) -> list[ScoredPayload]:
        records = self._open().retrieve(list(ids), True, False)
        return self._payloads(records)

    def _records(self, flt: IndexFilter, fields: list[str] | None, batch: int, vectors: bool) -> Iterator[Any]:
        """Every point matching ``flt``, page by page."""
        shard = self._open()
        selector = list(fields) if fields is not None else True
        offset: Any = None
        while True:
            request = q.ScrollRequest(
                offset=offset, limit=batch, filter=_filter(flt), with_payload=selector, with_vector=vectors
            )
            records, offset = shard.scroll(request)
            yield from records
            if offset is None or not records:
                return

    def count(self, flt: IndexFilter) -> int:
        return int(self._open().count(q.CountRequest(exact=True, filter=_filter(flt))))

    def facet(self, key: str, flt: IndexFilter, limit: int) -> dict[str, int]:
        response = self._open().facet(q.FacetRequest(key=key, limit=limit, exact=True, filter=_filter(flt)))
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def query(self, query: HybridQuery) -> list[ScoredPayload]:
        root = plan(query)
        if root is None:
            return []
        limit = query.prefetch_limit
        if isinstance(root, Leg):
            request = q.QueryRequest(limit=query.limit, query=_nearest(root), filter=_filter(root.filter),
                                     with_payload=True, score_threshold=root.min_score)  # fmt: skip
        else:
            stages = [_prefetch(s, limit) for s in root.stages]
            request = q.QueryRequest(limit=query.limit, prefetches=stages, query=_fusion(root),
                                     filter=_filter(outer_filter(query)), with_payload=True)  # fmt: skip
        points = self._open().query(request)
        return ranked([ScoredPayload(str(p.id), float(p.score), dict(p.payload or {})) for p in points])

    def flush(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()

    def optimize(self) -> None:
        with self._lock:
            self._open().optimize()

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
