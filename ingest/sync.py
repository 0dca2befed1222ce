"""The sync run: bring the index in step with one connector, touching only what changed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from askdocs.models import Chunk, Document
from connectors.base import (
    Checkpoint,
    ConnectorFailure,
    DocumentDeleted,
    LoadConnector,
    PollConnector,
    SlimConnector,
)
from ingest.chunker import Chunker
from ingest.vectors import chunk_vectors
from ingest.vectors import stored_embed_text as _stored_embed_text
from retrieval.analyzer import ANALYZER_VERSION, Analyzer, bm25_weights
from retrieval.embedders import LanguageEmbedders
from retrieval.index import CollectionSpec, Index, IndexedChunk

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int], None]


# A chunk's BM25 weights are rebuilt once the corpus's average chunk length is off by more than this share from
# the one they were computed with (within it, a chunk's length normalisation moves by less than 5%).
BM25_TOLERANCE = 0.05


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
    failures: list[ConnectorFailure] = field(default_factory=list)

    @property
    def status(self) -> Literal["succeeded", "partial", "failed"]:
        if any(f.fatal for f in self.failures):
            return "failed"
        return "partial" if self.failures else "succeeded"

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.source}: {self.status}; {self.seen} documents seen, {self.added} added, "
            f"{self.updated} updated ({self.metadata_only} metadata only), {self.unchanged} unchanged, "
            f"{self.deleted} deleted; {self.chunks_written} chunks written ({self.embedded_chunks} embedded), "
            f"{self.reweighted} re-weighted; {len(self.failures)} failures"
        )


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
    ) -> None:
        self.index = index
        self.embedders = embedders
        self.chunker = chunker
        self.analyzer = analyzer
        self.k1, self.b = k1, b
        self.batch_docs = batch_docs
        self.pipeline = pipeline_fingerprint(embedders, chunker, k1, b)

    def _embedding_key(self, item: Document | Chunk) -> str:
        """What was embedded and analysed, and how: a document whose stored key differs is rewritten (chunks whose
        text and model are unchanged keep their stored vectors; see ``_vectors``)."""
        return f"{item.embedding_hash}:{self.pipeline}"

    def ensure_index(self) -> None:
        """Create the collection for the configured embedders if it does not exist."""
        self.index.ensure(CollectionSpec(dense=self.embedders.vector_sizes()))

    def full_sync(self, connector: LoadConnector, progress: ProgressFn | None = None) -> SyncReport:
        """Load everything; write changed documents; delete indexed documents the source no longer has."""
        self.ensure_index()
        report = SyncReport(source=connector.source)
        indexed = self.index.document_states(connector.source)
        keep: set[str] = set()
        self._consume(connector.load_all(), indexed, keep, report, progress)
        if report.status == "failed":
            log.error("sync of %s stopped by a fatal failure; nothing pruned", connector.source)
            return report
        self._delete_missing(set(indexed), keep, report)
        report.reweighted = self.refresh_bm25(connector.source)
        return report

    def refresh_bm25(self, source: str | None = None, tolerance: float = BM25_TOLERANCE) -> int:
        """Recompute the BM25 weights of chunks (of ``source``) computed with an average chunk length that is now
        off by more than ``tolerance``; returns how many chunks were rewritten.

        Each write weighs its chunks with the average length of that moment, so as a corpus grows or shrinks its
        older chunks drift from what Lucene's BM25 would give them. This rebuilds them from their stored text:
        no source is read and nothing is embedded. Every sync (full or poll) runs it for its own source at the end,
        so no other writer touches those documents meanwhile; the engine finds the stale chunks, so a sync with
        none costs one filtered scroll.
        """
        n, total = self.index.bm25_stats()
        if n == 0:
            return 0
        avgdl = total / n
        stale = self.index.documents_weighted_off(avgdl, tolerance, source)
        rewritten = 0
        for start in range(0, len(stale), self.batch_docs):
            updates = []
            for stored in self.index.stored_chunks(stale[start : start + self.batch_docs]):
                text = _stored_embed_text(stored.payload) or ""
                terms = self.analyzer.terms(text, stored.payload.get("language"))
                ids, values, dl = bm25_weights(terms, avgdl, self.k1, self.b)
                updates.append((stored, (ids, values), dl))
            self.index.replace_bm25(updates, avgdl)
            rewritten += len(updates)
        if rewritten:
            log.info("%s: BM25 weights of %d chunks rebuilt for average length %.1f", source or "index", rewritten,
                     avgdl)  # fmt: skip
        return rewritten

    def _delete_missing(self, indexed: set[str], present: set[str], report: SyncReport) -> SyncReport:
        """Delete ``indexed`` ids not ``present`` at the source, unless the source listed nothing at all."""
        if not present and indexed:
            report.failures.append(_empty_listing(report.source, len(indexed)))
            return report
        gone = sorted(indexed - present)
        self.index.delete_documents(gone)
        report.deleted = len(gone)
        return report

    def prune(self, connector: SlimConnector) -> SyncReport:
        """Delete indexed documents whose ids the source no longer lists; nothing when the listing failed."""
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
        self.ensure_index()
        report = SyncReport(source=connector.source)
        indexed = self.index.document_states(connector.source)
        deleted: list[str] = []
        returned: list[Checkpoint] = []

        def documents() -> Iterator[Document | ConnectorFailure]:
            returned.append((yield from _set_aside_deletions(connector.poll(checkpoint), deleted)))

        self._consume(documents(), indexed, set(), report, progress)
        if report.status == "failed" or not returned:
            return report, checkpoint
        self.index.delete_documents(deleted)
        report.deleted = len(set(deleted) & set(indexed))
        report.reweighted = self.refresh_bm25(connector.source)
        return report, returned[0]

    def _consume(
        self,
        items: Iterable[Document | ConnectorFailure],
        indexed: dict[str, tuple[str, str]],
        keep: set[str],
        report: SyncReport,
        progress: ProgressFn | None,
    ) -> None:
        batch: list[Document] = []
        for item in items:
            if isinstance(item, ConnectorFailure):
                report.failures.append(item)
                log.warning("%s failure: %s", item.source, item.message)
                if item.document_id:
                    keep.add(item.document_id)
                if item.fatal:
                    return
                continue
            report.seen += 1
            keep.add(item.id)
            content_hash, embedding_hash = indexed.get(item.id, ("", ""))
            same_pipeline = embedding_hash == self._embedding_key(item)
            if same_pipeline and content_hash == item.content_hash:
                report.unchanged += 1
            elif same_pipeline:
                self.index.update_document_fields(item.id, _document_fields(item))
                report.updated += 1
                report.metadata_only += 1
            else:
                batch.append(item)
                if item.id in indexed:
                    report.updated += 1
                else:
                    report.added += 1
            if len(batch) >= self.batch_docs:
                self.write(batch, report)
                batch = []
            if progress:
                progress(report.seen, report.chunks_written)
        if batch:
            self.write(batch, report)
            if progress:
                progress(report.seen, report.chunks_written)

    def write(self, documents: list[Document], report: SyncReport | None = None) -> None:
        """Chunk, analyse and embed ``documents`` and replace their chunks in the index."""
        chunked = [(doc, self.chunker.chunk(doc)) for doc in documents]
        all_chunks = [c for _, chunks in chunked for c in chunks]
        terms = [self.analyzer.terms(c.embed_text, c.language) for c in all_chunks]  # type: ignore[arg-type]
        vectors, embedded = self._vectors(all_chunks, [doc.id for doc in documents])
        n, total = self.index.bm25_stats()
        avgdl = (total + sum(len(t) for t in terms)) / max(1, n + len(all_chunks))
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
        if report is not None:
            report.chunks_written += position
            report.embedded_chunks += embedded

    def _vectors(self, chunks: list[Chunk], doc_ids: list[str]) -> tuple[list[dict[str, list[float]]], int]:
        """Vectors per chunk, stored ones reused (``ingest.vectors.chunk_vectors``); the sparse vector is always
        rebuilt from text."""
        stored = self.index.stored_chunks(doc_ids, ["title", "heading", "text"])
        return chunk_vectors(self.embedders, chunks, stored)


def pipeline_fingerprint(embedders: LanguageEmbedders, chunker: Chunker, k1: float, b: float) -> str:
    """Short hash of everything besides a document's text that shapes its chunks and vectors.

    Changing the analyzer (``ANALYZER_VERSION``), chunk size, overlap, BM25 parameters or a language's dense model
    changes it, and the next sync then rewrites every document instead of skipping it as unchanged.
    """
    models = ",".join(f"{lang}={'+'.join(e.name for e in embedders.for_chunk(lang))}" for lang in ("en", "ja"))
    models += f",titles={embedders.title_vector}" if embedders.title_vector else ""
    spec = f"{ANALYZER_VERSION}|{chunker.chunk_tokens}|{chunker.overlap_tokens}|{k1}|{b}|{models}"
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def _empty_listing(source: str, indexed: int) -> ConnectorFailure:
    return ConnectorFailure(
        source=source,
        message=f"the source listed no documents while {indexed} are indexed; nothing pruned "
        "(an empty folder or a lost permission looks the same: delete the collection to start over)",
    )


def _set_aside_deletions(
    changes: Generator[Document | DocumentDeleted | ConnectorFailure, None, Checkpoint], deleted: list[str]
) -> Generator[Document | ConnectorFailure, None, Checkpoint]:
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
    return {
        "source": item.source,
        "url": item.url,
        "author": item.author,
        "updated_at": item.updated_at.isoformat() if item.updated_at else None,
        "updated_ts": item.updated_at.timestamp() if item.updated_at else None,
        "acl": list(item.acl),
        "content_hash": item.content_hash,
        "metadata": item.metadata,
    }


def _payload(chunk: Chunk, embedding_key: str) -> dict[str, Any]:
    return {
        **_document_fields(chunk),
        "doc_id": chunk.doc_id,
        "chunk_no": chunk.chunk_no,
        "title": chunk.title,
        "heading": chunk.heading,
        "text": chunk.text,
        "language": chunk.language,
        "embedding_hash": embedding_key,
    }
