"""Index backend on a Qdrant server or cluster through ``qdrant-client`` (same data model as Edge).

``QdrantClient(location=":memory:")`` or ``path=`` run qdrant-client's pure-Python local mode; the
conformance tests use it to exercise this code path where no server runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from askdocs.errors import ConfigError, IndexUnavailable
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


def _condition(cond: Condition) -> Any:
    if isinstance(cond, Match):
        return models.FieldCondition(key=cond.key, match=models.MatchAny(any=list(cond.values)))
    if isinstance(cond, Between):
        bounds = models.Range(gte=cond.gte, lte=cond.lte, gt=cond.gt, lt=cond.lt)
        return models.FieldCondition(key=cond.key, range=bounds)
    if isinstance(cond, Missing):
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=cond.key))
    return models.Filter(should=[_condition(c) for c in cond.conditions])


def _filter(flt: IndexFilter) -> models.Filter | None:
    must = [_condition(c) for c in flt.conditions()]
    return models.Filter(must=must) if must else None


@dataclass(frozen=True)
class ServerCollectionOptions:
    """How a new collection is laid out on a cluster (``ASKDOCS_QDRANT_*``)."""

    shards: int = 1
    replication_factor: int = 1
    write_consistency: int = 1
    layout: StorageLayout = DEFAULT_LAYOUT

    def __post_init__(self) -> None:
        if self.write_consistency > self.replication_factor:
            raise ValueError("ASKDOCS_QDRANT_WRITE_CONSISTENCY cannot exceed ASKDOCS_QDRANT_REPLICATION_FACTOR")

    def create_arguments(self) -> dict[str, Any]:
        """``create_collection`` arguments besides the vectors."""
        quantization = None
        if self.layout.quantization == "int8":
            config = models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
            quantization = models.ScalarQuantization(scalar=config)
        return {
            "shard_number": self.shards,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency,
            "on_disk_payload": self.layout.on_disk_payload,
            "quantization_config": quantization,
        }


def checked_client(url: str, api_key: str | None = None, timeout: int = 30) -> QdrantClient:
    """A client of the Qdrant server at ``url``; ``IndexUnavailable`` says why when it does not answer."""
    client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
    try:
        client.get_collections()
    except ResponseHandlingException as exc:
        client.close()
        raise IndexUnavailable(f"no Qdrant server answers ({exc})") from None
    except UnexpectedResponse as exc:
        client.close()
        hint = "the API key (ASKDOCS_QDRANT_API_KEY) was refused" if exc.status_code in (401, 403) else "error"
        raise IndexUnavailable(f"the server answered {exc.status_code}: {hint}") from None
    return client


def _vector(leg: Leg) -> Any:
    if leg.sparse is not None:
        return models.SparseVector(indices=leg.sparse[0], values=leg.sparse[1])
    return list(leg.dense or [])


def _fusion(stage: Fused) -> Any:
    if stage.method in ("max", "sum"):  # a point missing from a stage (under its cosine floor) counts 0 there
        scores = [f"$score[{i}]" for i in range(len(stage.stages))]
        formula: Any = models.MaxExpression(max=list(scores))
        if stage.method == "sum":
            weighted = [models.MultExpression(mult=[w, s]) for w, s in zip(stage.weights, scores)]
            formula = models.SumExpression(sum=list(weighted))
        return models.FormulaQuery(formula=formula, defaults=dict.fromkeys(scores, 0.0))
    if stage.method == "rrf":
        return models.RrfQuery(rrf=models.Rrf(k=stage.rrf_k, weights=stage.weights))
    return models.FusionQuery(fusion=models.Fusion.DBSF)


def _prefetch(stage: Stage, limit: int, keep: int = 1) -> models.Prefetch:
    """A plan stage as a prefetch (fused stages nest their own prefetches, of ``limit`` points each, and keep
    ``keep`` times as many: a union that re-scoring legs read keeps every candidate)."""
    if isinstance(stage, Leg):
        keep = len(stage.within.stages) if stage.within is not None else keep  # a re-scoring leg keeps every one
        within = [_prefetch(stage.within, limit, keep)] if stage.within is not None else None
        return models.Prefetch(query=_vector(stage), using=stage.using, filter=_filter(stage.filter),
                               limit=limit * keep, score_threshold=stage.min_score, prefetch=within)  # fmt: skip
    stages = [_prefetch(s, limit) for s in stage.stages]
    return models.Prefetch(prefetch=stages, query=_fusion(stage), limit=limit * keep)


class ServerBackend(PagedRecords):
    """One collection on a Qdrant server (``url``) or in a given ``QdrantClient``."""

    def __init__(
        self, client: QdrantClient, collection: str, options: ServerCollectionOptions = ServerCollectionOptions()
    ) -> None:
        self.client = client
        self.collection = collection
        self.options = options

    def dense_names(self) -> dict[str, int]:
        if not self.client.collection_exists(self.collection):
            return {}
        vectors = self.client.get_collection(self.collection).config.params.vectors
        if not isinstance(vectors, dict):
            return {}
        return {name: params.size for name, params in vectors.items()}

    def ensure(self, spec: CollectionSpec) -> None:
        existing = self.dense_names()
        if existing:
            if existing != spec.dense:
                raise ConfigError(
                    f"collection {self.collection!r} holds dense vectors {existing}, but the configured embedders "
                    f"need {spec.dense}; switch with `askdocs reindex`, or use another ASKDOCS_COLLECTION"
                )
            indexed = set(self.client.get_collection(self.collection).payload_schema)
            for name in sorted(set(KEYWORD_FIELDS) - indexed):  # made by an older version (the facets' container)
                self.client.create_payload_index(self.collection, name, field_schema=models.PayloadSchemaType.KEYWORD)
            return
        self.client.create_collection(
            self.collection,
            vectors_config={
                name: models.VectorParams(
                    size=dim, distance=models.Distance.COSINE, on_disk=self.options.layout.on_disk_vectors
                )
                for name, dim in spec.dense.items()
            },
            sparse_vectors_config={BM25_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            **self.options.create_arguments(),
        )
        schemas = (
            [(n, models.PayloadSchemaType.KEYWORD) for n in KEYWORD_FIELDS]
            + [(n, models.PayloadSchemaType.INTEGER) for n in INTEGER_FIELDS]
            + [(n, models.PayloadSchemaType.FLOAT) for n in FLOAT_FIELDS]
        )
        for name, schema in schemas:
            self.client.create_payload_index(self.collection, name, field_schema=schema)

    def upsert(self, points: list[IndexPoint]) -> None:
        structs = []
        for p in points:
            vector: dict[str, Any] = dict(p.dense)
            if p.sparse is not None and p.sparse[0]:
                vector[BM25_VECTOR] = models.SparseVector(indices=p.sparse[0], values=p.sparse[1])
            structs.append(models.PointStruct(id=p.id, vector=vector, payload=p.payload))
        if structs:
            self.client.upsert(self.collection, points=structs, wait=True)

    def delete(self, flt: IndexFilter) -> None:
        qf = _filter(flt)
        if qf is None:
            raise ValueError("refusing to delete with an empty filter")
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=qf), wait=True)

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def set_payload(self, flt: IndexFilter, payload: dict[str, Any]) -> None:
        qf = _filter(flt)
        if qf is None:
            raise ValueError("refusing to update with an empty filter")
        self.client.set_payload(self.collection, payload=payload, points=models.FilterSelector(filter=qf), wait=True)

    def retrieve(self, ids: list[str]) -> list[ScoredPayload]:
        records = self.client.retrieve(self.collection, ids=list(ids), with_payload=True)
        return self._payloads(records)

    def _records(self, flt: IndexFilter, fields: list[str] | None, batch: int, vectors: bool) -> Iterator[Any]:
        """Every point matching ``flt``, page by page."""
        selector: Any = list(fields) if fields is not None else True
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=_filter(flt),
                limit=batch,
                offset=offset,
                with_payload=selector,
                with_vectors=vectors,
            )
            yield from records
            if offset is None or not records:
                return

    def count(self, flt: IndexFilter) -> int:
        return int(self.client.count(self.collection, count_filter=_filter(flt), exact=True).count)

    def facet(self, key: str, flt: IndexFilter, limit: int) -> dict[str, int]:
        response = self.client.facet(self.collection, key, facet_filter=_filter(flt), limit=limit, exact=True)
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def query(self, query: HybridQuery) -> list[ScoredPayload]:
        root = plan(query)
        if root is None:
            return []
        if isinstance(root, Leg):
            response = self.client.query_points(self.collection, query=_vector(root), using=root.using,
                                                query_filter=_filter(root.filter), limit=query.limit,
                                                score_threshold=root.min_score, with_payload=True)  # fmt: skip
        else:
            response = self.client.query_points(
                self.collection,
                prefetch=[_prefetch(s, query.prefetch_limit) for s in root.stages],
                query=_fusion(root),
                query_filter=_filter(outer_filter(query)),
                limit=query.limit,
                with_payload=True,
            )
        return ranked([ScoredPayload(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points])

    def flush(self) -> None:
        """Writes use ``wait=True``: the server has applied them when the call returns."""

    def optimize(self) -> None:
        """The server builds HNSW in the background; nothing to do."""

    def close(self) -> None:
        self.client.close()
