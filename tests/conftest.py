"""Shared, generic fixtures: the sample workspace, the real embedders and analyzer, and indexes.

Everything here is real: the dense models load offline from installed packages and the index is
Qdrant Edge in a temporary folder. Expensive things (models, the indexed sample workspace) are
session-scoped; tests that write get their own copies.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.extract import Extractor
from askdocs.ingest.sync import Indexer, SyncReport
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_WORKSPACE = REPO_ROOT / "examples" / "workspace"

# Fixed modification times given to the indexed sample workspace, so date filters are predictable:
# files under tokyo/ were "updated" in July 2026, every other file in January 2026.
TOKYO_MTIME = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
OTHER_MTIME = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sample_workspace() -> Path:
    """The checked-in sample workspace (read it, never write it)."""
    assert (SAMPLE_WORKSPACE / "_acl.toml").is_file()
    return SAMPLE_WORKSPACE


@pytest.fixture(scope="session")
def embedders() -> LanguageEmbedders:
    """The default embedders (MiniLM for English, USE multilingual for Japanese), loaded once."""
    built = LanguageEmbedders.from_names("minilm-l6-int8", "use-multilingual")
    built.warm_up()
    return built


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    """A BM25 analyzer (SudachiPy loads on first Japanese text)."""
    return Analyzer()


@pytest.fixture(scope="session")
def extractor() -> Iterator[Extractor]:
    """One extraction worker process (default limits) for the session."""
    worker = Extractor()
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def chunker(embedders: LanguageEmbedders) -> Chunker:
    """The chunker with the default settings (200 tokens, 30 overlap)."""
    return Chunker(embedders.for_language, chunk_tokens=200, overlap_tokens=30)


def copy_workspace(src: Path, dest: Path) -> Path:
    """Copy a workspace folder (modification times preserved) and return the copy."""
    shutil.copytree(src, dest)
    return dest


def set_mtimes(root: Path, by_top_folder: dict[str, datetime], default: datetime) -> None:
    """Give every file under ``root`` a fixed modification time, chosen by its top-level folder."""
    for path in root.rglob("*"):
        if path.is_file():
            when = by_top_folder.get(path.relative_to(root).parts[0], default)
            os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def workspace_copy(tmp_path: Path, sample_workspace: Path) -> Path:
    """A private, writable copy of the sample workspace."""
    return copy_workspace(sample_workspace, tmp_path / "workspace")


@pytest.fixture
def edge_index(tmp_path: Path) -> Iterator[Index]:
    """An empty (not yet created) Qdrant Edge index in a temporary folder."""
    index = Index(EdgeBackend(tmp_path / "edge" / "test"))
    yield index
    index.close()


@pytest.fixture(scope="session")
def make_indexer(embedders: LanguageEmbedders, analyzer: Analyzer, extractor: Extractor) -> Callable[..., Indexer]:
    """Build an ``Indexer`` over an index, with the shared models (and extraction worker) unless others are given."""

    def make(index: Index, embedders_: LanguageEmbedders | None = None) -> Indexer:
        chosen = embedders_ or embedders
        return Indexer(index, chosen, Chunker(chosen.for_language, 200, 30), analyzer, extractor=extractor)

    return make


@dataclass
class IndexedWorkspace:
    """A copy of the sample workspace and the Edge index built from it by one full sync."""

    root: Path
    index: Index
    report: SyncReport


@pytest.fixture(scope="session")
def indexed_workspace(
    tmp_path_factory: pytest.TempPathFactory,
    sample_workspace: Path,
    embedders: LanguageEmbedders,
    analyzer: Analyzer,
    extractor: Extractor,
) -> Iterator[IndexedWorkspace]:
    """The sample workspace indexed once per session; READ ONLY for tests (copy it to write).

    File times are fixed: ``tokyo/`` files at ``TOKYO_MTIME``, all others at ``OTHER_MTIME``.
    """
    base = tmp_path_factory.mktemp("indexed-workspace")
    root = copy_workspace(sample_workspace, base / "workspace")
    set_mtimes(root, {"tokyo": TOKYO_MTIME}, OTHER_MTIME)
    index = Index(EdgeBackend(base / "edge" / "askdocs"))
    indexer = Indexer(index, embedders, Chunker(embedders.for_language, 200, 30), analyzer, extractor=extractor)
    report = indexer.full_sync(FilesConnector(root))
    assert report.status == "succeeded", report.summary()
    yield IndexedWorkspace(root=root, index=index, report=report)
    index.close()
