"""Collections askdocs creates on a Qdrant server carry the configured cluster layout (qdrant-client's local mode
stands in for the server: it keeps on-disk vectors and ignores sharding, so the request itself is checked too); a
new embedded (Edge) shard takes the on-disk and int8 settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient, models

from askdocs.retrieval.index import CollectionSpec, HybridQuery, Index
from askdocs.retrieval.index.facade import point_id, server_options
from askdocs.retrieval.index.locations import ServerLocations
from askdocs.retrieval.index.server import ServerCollectionOptions
from askdocs.retrieval.index.types import IndexPoint
from askdocs.settings import Settings


class RecordingClient(QdrantClient):
    """The real local-mode client, remembering what each collection was created with."""

    created: dict[str, dict[str, Any]]

    def create_collection(self, collection_name: str, **kwargs: Any) -> bool:  # type: ignore[override]
        self.created = {**getattr(self, "created", {}), collection_name: kwargs}
        return super().create_collection(collection_name, **kwargs)


def test_new_collections_get_shards_replicas_consistency_on_disk_and_int8() -> None:
    settings = Settings(
        qdrant_shards=3, qdrant_replication_factor=2, qdrant_write_consistency=2, qdrant_on_disk_vectors=True,
        qdrant_on_disk_payload=False, qdrant_quantization="int8",
    )  # fmt: skip
    client = RecordingClient(":memory:")
    index = Index.at(ServerLocations(client, "askdocs", server_options(settings)))
    index.ensure(CollectionSpec(dense={"minilm": 4}))
    sent = client.created["askdocs--g1"]  # a new deployment's first collection, behind the alias from the start
    assert [(a.alias_name, a.collection_name) for a in client.get_aliases().aliases] == [("askdocs", "askdocs--g1")]
    assert (sent["shard_number"], sent["replication_factor"], sent["write_consistency_factor"]) == (3, 2, 2)
    assert sent["on_disk_payload"] is False
    quantization = sent["quantization_config"]
    assert isinstance(quantization, models.ScalarQuantization)
    assert quantization.scalar.type == models.ScalarType.INT8 and quantization.scalar.always_ram is True
    vectors = client.get_collection("askdocs--g1").config.params.vectors
    assert isinstance(vectors, dict) and vectors["minilm"].on_disk is True
    index.close()


def test_the_default_layout_is_one_plain_shard() -> None:
    client = RecordingClient(":memory:")
    Index.at(ServerLocations(client, "askdocs")).ensure(CollectionSpec(dense={"minilm": 4}))
    sent = client.created["askdocs--g1"]
    assert (sent["shard_number"], sent["replication_factor"], sent["quantization_config"]) == (1, 1, None)


def test_bad_layouts_are_named() -> None:
    with pytest.raises(ValueError, match="WRITE_CONSISTENCY cannot exceed ASKDOCS_QDRANT_REPLICATION_FACTOR"):
        server_options(Settings(qdrant_replication_factor=1, qdrant_write_consistency=2))
    with pytest.raises(ValidationError, match="qdrant_quantization"):
        Settings(qdrant_quantization="int4")  # type: ignore[arg-type]
    assert ServerCollectionOptions().create_arguments()["on_disk_payload"] is True


@pytest.mark.parametrize("int8", [False, True])
def test_the_embedded_index_takes_the_on_disk_and_int8_settings(tmp_path: Path, int8: bool) -> None:
    settings = Settings(
        data_dir=tmp_path, qdrant_on_disk_vectors=int8, qdrant_quantization="int8" if int8 else "none"
    )  # fmt: skip
    index = Index.open(settings)
    index.ensure(CollectionSpec(dense={"minilm": 4}))
    corners = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]]
    index.serving_backend.upsert(
        [
            IndexPoint(point_id(f"d{i}", 0), {"kind": "chunk", "doc_id": f"d{i}"}, {"minilm": v})
            for i, v in enumerate(corners)
        ]
    )
    hits = index.serving_backend.query(HybridQuery(limit=1, dense=("minilm", [0.1, 0.9, 0.1, 0])))
    assert [h.payload["doc_id"] for h in hits] == ["d1"]
    index.close()
    stored = json.loads(next(tmp_path.rglob("edge_config.json")).read_text())  # what the shard was created with
    assert stored["vectors"]["minilm"].get("on_disk", False) is int8 and stored["on_disk_payload"] is True
    assert stored.get("quantization_config") == (
        {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}} if int8 else None
    )
