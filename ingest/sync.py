"""The sync run: bring the index in step with one connector, touching only what changed."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from askdocs.connectors.base import (
    Checkpoint,
    ConnectorFailure,
    DocumentDeleted,
    LoadConnector,
    PollConnector,
    Skipped,
    SlimConnector,
)
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.extract import EXTRACTION_VERSION, Extractor, extract_document
from askdocs.ingest.vectors import VectorRequest, fill_vectors, request_vectors
from askdocs.ingest.vectors import stored_embed_text as _stored_embed_text
from askdocs.models import Chunk, Document
from askdocs.retrieval.analyzer import ANALYZER_VERSION, Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import CollectionSpec, Index, IndexedChunk, StoredVectors
from askdocs.retrieval.index.bm25 import BM25_TOLERANCE, average_length, bm25_weights, refresh_stale
from askdocs.retrieval.index.payload import ChunkPayload, DocumentFields

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int], None]


RunStatus = Literal["succeeded", "partial", "failed"]


def run_status(failures: list[ConnectorFailure]) -> RunStatus:
    """``failed`` after a fatal failure, ``partial`` after others, else ``succeeded``."""
    if any(f.fatal for f in failures):
        return "failed"
    return "partial" if failures else "succeeded"


@dataclass
class SyncReport:
    """What a run did; ``status`` is 'failed' when a fatal failure stopped it (nothing was pruned)."""

    source: str
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    metadata_only: int = 0
    chunks_written: int = 0
    embedded_chunks: int = 0
    reweighted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items the source left out on purpose
    failures: list[ConnectorFailure] = field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        return run_status(self.failures)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.source}: {self.status}; {self.seen} documents seen, {self.added} added, "
            f"{self.updated} updated ({self.metadata_only} metadata only), {self.unchanged} unchanged, "
            f"{self.deleted} deleted; {self.chunks_written} chunks written ({self.embedded_chunks} embedded), "
            f"{self.reweighted} re-weighted; {self._skipped_summary()}{len(self.failures)} failures"
        )

    def _skipped_summary(self) -> str:
        if not self.skipped:
            return ""
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
        return f"{sum(self.skipped.values())} skipped ({reasons}); "


class Indexer:
    """Chunks, embeds and writes documents; deletes what the source no longer has."""

    def __init__(
        self,
        index: Index,
        embedders: LanguageEmbedders,
        chunker: Chunker,
        analyzer: Analyzer,
        k1: float = 1.2,
        b: float = 0.75,
        batch_docs: int = 32,
        extractor: Extractor | None = None,
        lookahead: int = 0,
        batch_chunks: int = 0,
        mirror: Callable[[], Indexer | None] | None = None,
        sync_lock: threading.Lock | None = None,
    ) -> None:
        """``lookahead``: batches of documents whose embeddings are requested while earlier ones are analysed and
        written (for remote embedders, so the endpoint never waits for the pipeline; 0 for local models).
        ``batch_chunks``: a batch is also closed once its chunks reach this many (``remote_batch_chunks``: the
        first requests leave after a few documents, and the write after the last answer is short); 0: by
        ``batch_docs`` only.
        ``mirror``: the indexer of a collection being rebuilt with other models, which every change also reaches;
        ``sync_lock``: held for a whole sync (a model switch takes it to find no sync half done)."""
        self.index = index
        self.extractor = extractor or Extractor()
        self.embedders = embedders
        self.chunker = chunker
        self.analyzer = analyzer
        self.k1, self.b = k1, b
        self.batch_docs = batch_docs
        self.lookahead = lookahead
        self.batch_chunks = batch_chunks
        self._mirror = mirror or (lambda: None)
        self._sync_lock = sync_lock or threading.Lock()
        self._analyzer_version = ANALYZER_VERSION

    @property
    def pipeline(self) -> str:
        """Fingerprint of what shapes chunks and vectors now (the embedders can switch under a running indexer)."""
        return pipeline_fingerprint(self.embedders, self.chunker, self.k1, self.b, self._analyzer_version)

    def _embedding_key(self, item: Document | Chunk) -> str:
        """What was embedded and analysed, and how: a document whose stored key differs is rewritten (chunks whose
        text and model are unchanged keep their stored vectors; see ``_vectors``)."""
        return f"{item.embedding_hash}:{self.pipeline}"

    def ensure_index(self) -> None:
        """Create the collection for the configured embedders if it does not exist."""
        self.index.ensure(CollectionSpec(dense=self.embedders.vector_sizes()))

    def full_sync(self, connector: LoadConnector, progress: ProgressFn | None = None) -> SyncReport:
        """Load everything; write changed documents; delete indexed documents the source no longer has."""
        with self._sync_lock:
            return self._full_sync(connector, progress)

    def _full_sync(self, connector: LoadConnector, progress: ProgressFn | None) -> SyncReport:
        self.ensure_index()
        report = SyncReport(source=connector.source)
        indexed = self.index.document_states(connector.source)
        keep: set[str] = set()
        self._consume(connector.load_all(), indexed, keep, report, progress)
        if report.status == "failed":
            log.error("sync of %s stopped by a fatal failure; nothing pruned", connector.source)
            return report
        self._delete_missing(set(indexed), keep, report)
        report.reweighted = self._refresh_both(connector.source)
        return report

    def _refresh_both(self, source: str) -> int:
        """``refresh_bm25`` here and in a collection being rebuilt."""
        mirror = self._mirror()
        if mirror is not None:
            mirror.refresh_bm25(source)
        return self.refresh_bm25(source)

    def refresh_bm25(self, source: str | None = None, tolerance: float = BM25_TOLERANCE) -> int:
        """Recompute the BM25 weights of chunks (of ``source``) computed with an average chunk length that is now
        off by more than ``tolerance``; returns how many chunks were rewritten.

        Each write weighs its chunks with the average length of that moment, so as a corpus grows or shrinks its
        older chunks drift from what Lucene's BM25 would give them. This rebuilds them from their stored text:
        no source is read and nothing is embedded. Every sync (full or poll) runs it for its own source at the end,
        so no other writer touches those documents meanwhile; the engine finds the stale chunks, so a sync with
        none costs one filtered scroll.
        """
        return refresh_stale(
            self.index, self.analyzer, _stored_text, self.k1, self.b, source, tolerance, self.batch_docs
        )

    def _delete_missing(self, indexed: set[str], present: set[str], report: SyncReport) -> SyncReport:
        """Delete ``indexed`` ids not ``present`` at the source, unless the source listed nothing at all."""
        if not present and indexed:
            report.failures.append(_empty_listing(report.source, len(indexed)))
            return report
        gone = sorted(indexed - present)
        self.delete(gone)
        report.deleted = len(gone)
        return report

    def prune(self, connector: SlimConnector) -> SyncReport:
        """Delete indexed documents whose ids the source no longer lists; nothing when the listing failed."""
        with self._sync_lock:
            return self._prune(connector)

    def _prune(self, connector: SlimConnector) -> SyncReport:
        self.ensure_index()
        report = SyncReport(source=connector.source)
        current: set[str] = set()
        for item in connector.list_ids():
            if isinstance(item, ConnectorFailure):
                report.failures.append(item)
                if item.document_id:
                    current.add(item.document_id)
            else:
                current.add(item)
        if report.failures:
            log.error("listing %s had failures; nothing pruned", connector.source)
            return report
        return self._delete_missing(set(self.index.document_hashes(connector.source)), current, report)

    def poll_sync(
        self, connector: PollConnector, checkpoint: Checkpoint | None, progress: ProgressFn | None = None
    ) -> tuple[SyncReport, Checkpoint | None]:
        """Apply what changed since ``checkpoint``; returns the report and the checkpoint to store next."""
        with self._sync_lock:
            return self._poll_sync(connector, checkpoint, progress)

    def _poll_sync(
        self, connector: PollConnector, checkpoint: Checkpoint | None, progress: ProgressFn | None
    ) -> tuple[SyncReport, Checkpoint | None]:
        self.ensure_index()
        report = SyncReport(source=connector.source)
        indexed = self.index.document_states(connector.source)
        deleted: list[str] = []
        returned: list[Checkpoint] = []

        def documents() -> Iterator[Document | ConnectorFailure | Skipped]:
            returned.append((yield from _set_aside_deletions(connector.poll(checkpoint), deleted)))

        self._consume(documents(), indexed, set(), report, progress)
        if report.status == "failed" or not returned:
            return report, checkpoint
        self.delete(deleted)
        report.deleted = len(set(deleted) & set(indexed))
        report.reweighted = self._refresh_both(connector.source)
        return report, returned[0]

    def _consume(
        self,
        items: Iterable[Document | ConnectorFailure | Skipped],
        indexed: dict[str, tuple[str, str]],
        keep: set[str],
        report: SyncReport,
        progress: ProgressFn | None,
    ) -> None:
        batch: list[tuple[Document, list[Chunk]]] = []
        queue: deque[_Prepared] = deque()  # batches whose embeddings are on their way, oldest first

        def flush(chunked: list[tuple[Document, list[Chunk]]]) -> None:
            queue.append(self._prepare(chunked))
            while len(queue) > self.lookahead:
                self._store(queue.popleft(), report)

        fatal = False
        for item in items:
            if isinstance(item, Skipped):
                report.skipped[item.reason] = report.skipped.get(item.reason, 0) + item.count
                continue
            if isinstance(item, ConnectorFailure):
                report.failures.append(item)
                log.warning("%s failure: %s", item.source, item.message)
                if item.document_id:
                    keep.add(item.document_id)
                if item.fatal:
                    fatal = True
                    break
                continue
            report.seen += 1
            keep.add(item.id)
            content_hash, embedding_hash = indexed.get(item.id, ("", ""))
            same_pipeline = embedding_hash == self._embedding_key(item)
            if same_pipeline and content_hash == item.content_hash:
                report.unchanged += 1
            elif same_pipeline:
                self.update_fields(item)
                report.updated += 1
                report.metadata_only += 1
            else:
                extracted = extract_document(self.extractor, item)
                if isinstance(extracted, ConnectorFailure):
                    report.failures.append(extracted)
                    log.warning("%s failure: %s", extracted.source, extracted.message)
                    continue
                batch.append((extracted, self.chunker.chunk(extracted)))
                if item.id in indexed:
                    report.updated += 1
                else:
                    report.added += 1
            full = len(batch) >= self.batch_docs
            if full or (self.batch_chunks and sum(len(chunks) for _, chunks in batch) >= self.batch_chunks):
                flush(batch)
                batch = []
            if progress:
                progress(report.seen, report.chunks_written)
        if batch and not fatal:  # a fatal failure leaves the batch it interrupted unwritten
            flush(batch)
        while queue:
            self._store(queue.popleft(), report)
        if progress and report.seen:
            progress(report.seen, report.chunks_written)

    def update_fields(self, item: Document) -> None:
        """Rewrite a document's descriptive fields (ACL, url, times…) on its stored chunks; nothing is embedded."""
        self.index.update_document_fields(item.id, _document_fields(item))
        mirror = self._mirror()
        if mirror is not None:
            mirror.update_fields(item)

    def set_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        """Overwrite payload fields of a stored document (a permission refresh's ACL), here and in a rebuild."""
        self.index.update_document_fields(doc_id, fields)
        mirror = self._mirror()
        if mirror is not None:
            mirror.set_fields(doc_id, fields)

    def delete(self, doc_ids: list[str]) -> None:
        """Delete documents here and in a collection being rebuilt."""
        self.index.delete_documents(doc_ids)
        mirror = self._mirror()
        if mirror is not None:
            mirror.delete(doc_ids)

    def write(self, documents: list[Document], report: SyncReport | None = None) -> None:
        """Chunk, analyse and embed ``documents`` and replace their chunks in the index."""
        self._store(self._prepare([(doc, self.chunker.chunk(doc)) for doc in documents]), report)

    def _prepare(self, chunked: list[tuple[Document, list[Chunk]]]) -> _Prepared:
        """Request the embeddings the chunks of ``chunked`` documents need (a remote model answers later)."""
        documents = [doc for doc, _ in chunked]
        all_chunks = [c for _, chunks in chunked for c in chunks]
        vectors, requested = self._vectors(all_chunks, [doc.id for doc in documents])
        return _Prepared(chunked, all_chunks, vectors, requested)

    def _store(self, prepared: _Prepared, report: SyncReport | None) -> None:
        """Wait for ``prepared``'s embeddings, weigh BM25 and replace the documents' chunks in the index."""
        chunked, all_chunks, vectors = prepared.chunked, prepared.chunks, prepared.vectors
        embedded = fill_vectors(vectors, prepared.requested)
        terms = [self.analyzer.terms(c.embed_text, c.language) for c in all_chunks]  # type: ignore[arg-type]
        avgdl = average_length(self.index.bm25_stats(), [len(t) for t in terms])
        position = 0
        written: list[tuple[str, list[IndexedChunk]]] = []
        for doc, chunks in chunked:
            indexed = []
            for chunk in chunks:
                ids, values, dl = bm25_weights(terms[position], avgdl, self.k1, self.b)
                (name, vector), *extra = vectors[position].items()
                position += 1
                payload = _payload(chunk, self._embedding_key(chunk))
                indexed.append(
                    IndexedChunk(
                        payload=payload, dense_name=name, dense=vector, sparse=(ids, values), dl=dl, avgdl=avgdl,
                        extra_dense=dict(extra),
                    )
                )  # fmt: skip
            written.append((doc.id, indexed))
        self.index.write_documents(written)
        mirror = self._mirror()
        if mirror is not None:
            mirror.write([doc for doc, _ in chunked])
        if report is not None:
            report.chunks_written += position
            report.embedded_chunks += embedded

    def _vectors(
        self, chunks: list[Chunk], doc_ids: list[str]
    ) -> tuple[list[dict[str, list[float]]], list[VectorRequest]]:
        """Vectors per chunk where a stored one is kept, and the embeddings requested for the others
        (``ingest.vectors.request_vectors``); the sparse vector is always rebuilt from text."""
        stored = self.index.stored_chunks(doc_ids, ["title", "heading", "text"])
        return request_vectors(self.embedders, chunks, stored)


@dataclass
class _Prepared:
    """A batch of documents chunked, with kept vectors filled in and the missing ones requested."""

    chunked: list[tuple[Document, list[Chunk]]]
    chunks: list[Chunk]
    vectors: list[dict[str, list[float]]]  # vector name -> vector, the chunk's language model's first
    requested: list[VectorRequest]


def remote_batch_chunks(concurrency: int, batch_size: int) -> int:
    """Chunks per document batch for a remote embedder: two windows of full requests, at least eight requests (the
    embedder cuts requests across batches, so a batch's size sets how soon the first requests leave and how long
    the write after the last answer takes, not how full the requests are)."""
    return max(2 * concurrency, 8) * batch_size


def pipeline_fingerprint(
    embedders: LanguageEmbedders, chunker: Chunker, k1: float, b: float, analyzer_version: str = ANALYZER_VERSION
) -> str:
    """Short hash of everything besides a document's text that shapes its chunks and vectors.

    Changing the analyzer (``ANALYZER_VERSION``), the extraction (``EXTRACTION_VERSION``), chunk size, overlap,
    BM25 parameters or a language's dense model changes it, and the next sync then rewrites every document instead
    of skipping it as unchanged.
    """
    models = ",".join(f"{lang}={'+'.join(e.name for e in embedders.for_chunk(lang))}" for lang in ("en", "ja"))
    models += f",titles={embedders.title_vector}" if embedders.title_vector else ""
    spec = f"{analyzer_version}|{EXTRACTION_VERSION}|{chunker.chunk_tokens}|{chunker.overlap_tokens}|{k1}|{b}|{models}"
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def _empty_listing(source: str, indexed: int) -> ConnectorFailure:
    return ConnectorFailure(
        source=source,
        message=f"the source listed no documents while {indexed} are indexed; nothing pruned "
        "(an empty folder or a lost permission looks the same: delete the collection to start over)",
    )


def _set_aside_deletions(
    changes: Generator[Document | DocumentDeleted | ConnectorFailure | Skipped, None, Checkpoint], deleted: list[str]
) -> Generator[Document | ConnectorFailure | Skipped, None, Checkpoint]:
    """Pass documents and failures on, collect deletions in ``deleted``, return the poll's checkpoint."""
    while True:
        try:
            item = next(changes)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(item, DocumentDeleted):
            deleted.append(item.document_id)
        else:
            yield item


def _document_fields(item: Document | Chunk) -> dict[str, Any]:
    """Payload fields that describe the document rather than the chunk (updatable without re-embedding)."""
    return DocumentFields.of(item).to_payload()


def _stored_text(stored: StoredVectors) -> str:
    return _stored_embed_text(stored.payload) or ""


def _payload(chunk: Chunk, embedding_key: str) -> dict[str, Any]:
    return ChunkPayload.of_chunk(chunk, embedding_key).to_payload()
