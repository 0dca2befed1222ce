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
from retrieval.index.types import (
    BM25_AVGDL,
    BM25_VECTOR,
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    CollectionSpec,
    HybridQuery,
    IndexFilter,
    IndexPoint,
    ScoredPayload,
    StoredVectors,
    dense_only,
    ranked,
)


def _filter(flt: IndexFilter) -> models.Filter | None:
    must: list[Any] = []
    if flt.kind is not None:
        must.append(models.FieldCondition(key="kind", match=models.MatchValue(value=flt.kind)))
    if flt.acl_any is not None:
        must.append(models.FieldCondition(key="acl", match=models.MatchAny(any=list(flt.acl_any))))
    if flt.sources is not None:
        must.append(models.FieldCondition(key="source", match=models.MatchAny(any=list(flt.sources))))
    if flt.containers is not None:
        must.append(models.FieldCondition(key="container", match=models.MatchAny(any=list(flt.containers))))
    if flt.doc_ids is not None:
        must.append(models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(flt.doc_ids))))
    if flt.chunk_nos is not None:
        must.append(models.FieldCondition(key="chunk_no", match=models.MatchAny(any=list(flt.chunk_nos))))
    if flt.chunk_no_gte is not None:
        must.append(models.FieldCondition(key="chunk_no", range=models.Range(gte=flt.chunk_no_gte)))
    if flt.updated_gte is not None or flt.updated_lte is not None:
        must.append(
            models.FieldCondition(key="updated_ts", range=models.Range(gte=flt.updated_gte, lte=flt.updated_lte))
        )
    if flt.bm25_avgdl_outside is not None:
        low, high = flt.bm25_avgdl_outside
        outside: list[Any] = [
            models.FieldCondition(key=BM25_AVGDL, range=models.Range(lt=low)),
            models.FieldCondition(key=BM25_AVGDL, range=models.Range(gt=high)),
            models.IsEmptyCondition(is_empty=models.PayloadField(key=BM25_AVGDL)),
        ]
        must.append(models.Filter(should=outside))
    return models.Filter(must=must) if must else None


@dataclass(frozen=True)
class ServerCollectionOptions:
    """How a new collection is laid out on a cluster (``ASKDOCS_QDRANT_*``)."""

    shards: int = 1
    replication_factor: int = 1
    write_consistency: int = 1
    on_disk_vectors: bool = False
    on_disk_payload: bool = True
    quantization: str = "none"

    def __post_init__(self) -> None:
        if self.write_consistency > self.replication_factor:
            raise ValueError("ASKDOCS_QDRANT_WRITE_CONSISTENCY cannot exceed ASKDOCS_QDRANT_REPLICATION_FACTOR")

    def create_arguments(self) -> dict[str, Any]:
        """``create_collection`` arguments besides the vectors."""
        quantization = None
        if self.quantization == "int8":
            config = models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
            quantization = models.ScalarQuantization(scalar=config)
        return {
            "shard_number": self.shards,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency,
            "on_disk_payload": self.on_disk_payload,
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


class ServerBackend:
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
                    size=dim, distance=models.Distance.COSINE, on_disk=self.options.on_disk_vectors
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
        return [ScoredPayload(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def scroll(self, flt: IndexFilter, fields: list[str] | None = None, batch: int = 1000) -> list[ScoredPayload]:
        return [ScoredPayload(str(r.id), 0.0, dict(r.payload or {})) for r in self._records(flt, fields, batch, False)]

    def scroll_vectors(self, flt: IndexFilter, fields: list[str] | None) -> list[StoredVectors]:
        return [
            StoredVectors(str(r.id), dict(r.payload or {}), dense_only(r.vector))
            for r in self._records(flt, fields, 256, True)
        ]

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
        flt = _filter(query.filter)
        legs: list[tuple[Any, str, float]] = []
        if query.dense is not None:
            legs.append((list(query.dense[1]), query.dense[0], query.dense_weight))
        if query.sparse is not None and query.sparse[0]:
            sparse = models.SparseVector(indices=query.sparse[0], values=query.sparse[1])
            legs.append((sparse, BM25_VECTOR, query.sparse_weight))
        if not legs:
            return []
        if len(legs) == 1:
            response = self.client.query_points(
                self.collection,
                query=legs[0][0],
                using=legs[0][1],
                query_filter=flt,
                limit=query.limit,
                with_payload=True,
            )
        else:
            fusion: Any = (
                models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=[w for _, _, w in legs]))
                if query.fusion == "rrf"
                else models.FusionQuery(fusion=models.Fusion.DBSF)
            )
            response = self.client.query_points(
                self.collection,
                prefetch=[
                    models.Prefetch(query=vec, using=name, filter=flt, limit=query.prefetch_limit)
                    for vec, name, _ in legs
                ],
                query=fusion,
                query_filter=flt,
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
