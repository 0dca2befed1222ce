"""Embeddings end to end through a real OpenAI-compatible server: llama.cpp serving Gemma 3 270M in embedding mode.

The index starts on the offline models, switches to the server's model (``askdocs reindex``'s engine), then a sync
and searches go through it. Run with ``make test-llm``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fixtures import WORKSPACE
from test_llama_cpp import running_llama_server

from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.retrieval.remote_embedder import RemoteEmbedder
from askdocs.settings import Settings

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("llama-embed")
    flags = ("--embedding", "True", "--n_batch", "1024", "--n_ubatch", "1024")
    with running_llama_server(folder, *flags, mean_pooling=True) as base:
        yield base


def test_sync_search_and_switch_through_llama_cpp(embedding_server: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "hr", workspace / "hr")
    (workspace / "it").mkdir()
    settings = Settings(
        data_dir=tmp_path / "data", workspace_dir=workspace, scheduler=False,
        embedder_batch_size=8, embedder_concurrency=1, embedder_timeout_s=300,  # one CPU-bound llama.cpp process
    )  # fmt: skip
    services = Services.build(settings)
    store = CheckpointStore(tmp_path / "state")
    try:
        assert run_source(services.indexer(), FilesConnector(workspace), store).status == "succeeded"
        spec = f"openai-compatible:gemma3-270m@{embedding_server}"
        rebuild = services.reindexer(spec, spec)
        rebuild.start()
        rebuild.switch()
        embedder = services.embedders.for_language("en")
        assert isinstance(embedder, RemoteEmbedder) and embedder.dim == 640
        assert embedder.usage().inputs >= services.index.count_chunks() > 10

        hits = services.retriever.search("How many weeks of parental leave?", ["public"], top_k=3)
        assert "files:hr/parental-leave.md" in [h.doc_id for h in hits]
        dense = services.retriever.search_chunks("parental leave weeks", ["public"], limit=5, mode="dense")
        assert len(dense) == 5 and all(-1.0 <= c.score <= 1.0 for c in dense)

        (workspace / "it" / "printer.md").write_text(
            "# Printers\n\nThe third-floor printer is called Kumo-Print; add it with the PrintNow app.\n",
            encoding="utf-8",
        )
        report = run_source(services.indexer(), FilesConnector(workspace), store)
        assert report.status == "succeeded" and report.embedded_chunks >= 1
        hits = services.retriever.search("Kumo-Print printer PrintNow", ["public"], top_k=3)
        assert hits[0].doc_id == "files:it/printer.md"
    finally:
        services.close()
