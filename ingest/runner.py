"""One sync of one source, the way the CLI and the scheduler run it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from askdocs.connectors.base import ConnectorFailure, LoadConnector, PollConnector, SlimConnector, closing_connector
from askdocs.connectors.registry import build_connector
from askdocs.errors import AskdocsError, SourceError
from askdocs.ingest import integrity
from askdocs.ingest.sources import SourceConfig
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer, ProgressFn, SyncReport
from askdocs.retrieval.index import IndexFilter
from askdocs.retrieval.remote_embedder import RemoteEmbedder, usage_line
from askdocs.settings import Settings

log = logging.getLogger(__name__)


def run_source(
    indexer: Indexer,
    connector: object,
    checkpoints: CheckpointStore,
    full: bool = False,
    progress: ProgressFn | None = None,
    name: str | None = None,
) -> SyncReport:
    """Incremental poll from the stored checkpoint when the connector can poll, else a full load.

    Without a checkpoint (first run, ``full``, or an index that lost the source's documents) everything is
    read and documents the source no longer lists are pruned. The checkpoint is saved only after the run's
    documents are flushed to the index, and never after a fatal failure. ``name`` keys the checkpoint
    (the configured source name; defaults to the connector's source). Before the run the index is checked against
    what the last run left (``ingest.integrity``): documents lost behind askdocs's back make this run a full
    re-read of a purged source; after it, against what the run did.
    """
    source = getattr(connector, "source", "?")
    name = name or source
    read_all = full or not isinstance(connector, PollConnector) or checkpoints.load(name) is None
    baseline, problem = integrity.before_sync(indexer.index, checkpoints.folder, name, source)
    if problem is not None:  # purge what is left of the source and read it all again
        integrity.repair(indexer.index, checkpoints.folder, checkpoints, [problem], [name])
        full = read_all = True
        baseline, _ = integrity.before_sync(indexer.index, checkpoints.folder, name, source)
    meter = _UsageMeter(indexer)
    report = _run(indexer, connector, checkpoints, full, progress, name)
    meter.log(name)
    problem = integrity.after_sync(indexer.index, checkpoints.folder, name, source, report, read_all, baseline)
    if problem is not None:
        log.error("integrity: %s; the next run checks the index again", problem.detail)
    return report


class _UsageMeter:
    """What one sync cost each remote embedder: requests, tokens, retries, chunks/s, estimated cost."""

    def __init__(self, indexer: Indexer) -> None:
        self.remote = {id(e): e for e in indexer.embedders.by_language.values() if isinstance(e, RemoteEmbedder)}
        self.before = {key: e.usage() for key, e in self.remote.items()}
        self.started = time.perf_counter()

    def log(self, name: str) -> None:
        """Log one line per remote embedder that was used."""
        elapsed = time.perf_counter() - self.started
        for key, embedder in self.remote.items():
            used = embedder.usage().minus(self.before[key])
            if used.requests:
                log.info("%s: embeddings %s", name, usage_line(embedder, used, used.inputs, elapsed))


def _run(
    indexer: Indexer,
    connector: object,
    checkpoints: CheckpointStore,
    full: bool,
    progress: ProgressFn | None,
    name: str,
) -> SyncReport:
    source = getattr(connector, "source", "?")
    if isinstance(connector, PollConnector):
        checkpoint = None if full else checkpoints.load(name)
        if checkpoint is not None and not indexer.index.count_chunks(IndexFilter(sources=(source,))):
            log.warning("%s has a checkpoint but no indexed documents; starting from scratch", source)
            checkpoint = None
        report, new_checkpoint = indexer.poll_sync(connector, checkpoint, progress=progress)
        if report.status != "failed" and new_checkpoint is not None:
            indexer.index.flush()
            checkpoints.save(name, new_checkpoint)
        if checkpoint is None and report.status == "succeeded" and isinstance(connector, SlimConnector):
            pruned = indexer.prune(connector)
            report.deleted += pruned.deleted
            report.failures.extend(pruned.failures)
        return report
    if isinstance(connector, LoadConnector):
        return indexer.full_sync(connector, progress=progress)
    raise SourceError(f"connector {source!r} can neither load nor poll")


def source_runner(
    indexer: Indexer, checkpoints: CheckpointStore, base: Settings
) -> Callable[[SourceConfig, bool], SyncReport]:
    """``run(source, full)`` for the scheduler and ``askdocs sync``: build the connector, run it, report."""

    def run(source: SourceConfig, full: bool, progress: ProgressFn | None = None) -> SyncReport:
        try:
            connector = build_connector(source.type, source.connector_config(), base)
        except AskdocsError as exc:
            report = SyncReport(source=source.name)
            report.failures.append(ConnectorFailure(source=source.name, message=str(exc), fatal=True))
            return report
        with closing_connector(connector):
            return run_source(indexer, connector, checkpoints, full=full, progress=progress, name=source.name)

    return run
