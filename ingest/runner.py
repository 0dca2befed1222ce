"""One sync of one source, the way the CLI and the scheduler run it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from askdocs.errors import AskdocsError, SourceError
from askdocs.settings import Settings
from connectors.base import ConnectorFailure, LoadConnector, PollConnector, SlimConnector, closing_connector
from connectors.registry import build_connector
from ingest.sources import SourceConfig
from ingest.state import CheckpointStore
from ingest.sync import Indexer, ProgressFn, SyncReport
from retrieval.index import IndexFilter

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
    (the configured source name; defaults to the connector's source).
    """
    source = getattr(connector, "source", "?")
    name = name or source
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
            connector = build_connector(source.type, source.settings_for(base))
        except AskdocsError as exc:
            report = SyncReport(source=source.name)
            report.failures.append(ConnectorFailure(source=source.name, message=str(exc), fatal=True))
            return report
        with closing_connector(connector):
            return run_source(indexer, connector, checkpoints, full=full, progress=progress, name=source.name)

    return run
