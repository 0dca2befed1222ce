"""One sync of one source, the way the CLI and the scheduler run it."""

from __future__ import annotations

import logging

from connectors.base import LoadConnector, PollConnector, SlimConnector
from ingest.state import CheckpointStore
from ingest.sync import Indexer, ProgressFn, SyncReport

log = logging.getLogger(__name__)


def run_source(
    indexer: Indexer,
    connector: object,
    checkpoints: CheckpointStore,
    full: bool = False,
    progress: ProgressFn | None = None,
) -> SyncReport:
    """Incremental poll from the stored checkpoint when the connector can poll, else a full load.

    Without a checkpoint (first run, ``full``, or an index that lost the source's documents) everything is
    read and documents the source no longer lists are pruned. The checkpoint is saved only after the run's
    documents are flushed to the index, and never after a fatal failure.
    """
    source = getattr(connector, "source", "?")
    if isinstance(connector, PollConnector):
        checkpoint = None if full else checkpoints.load(source)
        if checkpoint is not None and not indexer.index.document_hashes(source):
            log.warning("%s has a checkpoint but no indexed documents; starting from scratch", source)
            checkpoint = None
        report, new_checkpoint = indexer.poll_sync(connector, checkpoint, progress=progress)
        if report.status != "failed" and new_checkpoint is not None:
            indexer.index.flush()
            checkpoints.save(source, new_checkpoint)
        if checkpoint is None and report.status == "succeeded" and isinstance(connector, SlimConnector):
            pruned = indexer.prune(connector)
            report.deleted += pruned.deleted
            report.failures.extend(pruned.failures)
        return report
    if isinstance(connector, LoadConnector):
        return indexer.full_sync(connector, progress=progress)
    raise ValueError(f"connector {source!r} can neither load nor poll")
