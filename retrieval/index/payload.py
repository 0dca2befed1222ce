"""The stored payload of a chunk, typed: the writer builds it, the retriever and the facade read it.

``to_payload`` gives the dict the engine stores; ``from_payload`` reads one back, also a partial one (a scroll that
asked for a few fields), with the defaults below for what is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from askdocs.models import Chunk, Document, container_of, embed_text


@dataclass(frozen=True)
class DocumentFields:
    """Payload fields that describe the document rather than the chunk (updatable without re-embedding)."""

    source: str = ""
    url: str = ""
    author: str | None = None
    updated_at: datetime | None = None
    acl: list[str] = field(default_factory=list)
    content_hash: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    container: str | None = None  # the space, channel or folder (``askdocs.models.container_of``), for facets

    @classmethod
    def of(cls, item: Document | Chunk) -> DocumentFields:
        """The document-level fields of a document or one of its chunks."""
        return cls(
            item.source,
            item.url,
            item.author,
            item.updated_at,
            list(item.acl),
            item.content_hash,
            item.metadata,
            container_of(item.metadata),
        )

    def to_payload(self) -> dict[str, Any]:
        """As stored: ``updated_at`` ISO 8601, plus ``updated_ts`` (epoch seconds) for range filters."""
        out = asdict(self)
        out["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        out["updated_ts"] = self.updated_at.timestamp() if self.updated_at else None
        return out


@dataclass(frozen=True)
class ChunkPayload(DocumentFields):
    """One chunk as stored: its document's fields, its place in the document, its text and how it was made."""

    doc_id: str = ""
    chunk_no: int = 0
    title: str = ""
    heading: str = ""
    text: str = ""
    language: str = "en"
    embedding_hash: str = ""
    location: dict[str, Any] | None = None  # the page, slide or sheet rows (``askdocs.models.Location``, no label)

    @classmethod
    def of_chunk(cls, chunk: Chunk, embedding_hash: str) -> ChunkPayload:
        """The payload the writer stores for ``chunk``; ``embedding_hash`` says what it was embedded with."""
        document = DocumentFields.of(chunk)
        return cls(
            **{name: getattr(document, name) for name in DocumentFields.__dataclass_fields__},
            doc_id=chunk.doc_id,
            chunk_no=chunk.chunk_no,
            title=chunk.title,
            heading=chunk.heading,
            text=chunk.text,
            language=chunk.language,
            embedding_hash=embedding_hash,
            location=chunk.location.model_dump(exclude_defaults=True, exclude={"label"}) if chunk.location else None,
        )

    def to_payload(self) -> dict[str, Any]:
        """As ``DocumentFields.to_payload``; no ``container`` key when there is none, as the engine stores a
        metadata-only update that sets it to null, so a chunk reads the same whichever way it was written."""
        out = super().to_payload()
        if out["container"] is None:
            del out["container"]
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChunkPayload:
        """Read a stored payload (or the fields a scroll asked for); unknown keys (``kind``, ``dl``…) are ignored."""
        values = {name: payload[name] for name in cls.__dataclass_fields__ if payload.get(name) is not None}
        if isinstance(values.get("updated_at"), str):
            values["updated_at"] = datetime.fromisoformat(values["updated_at"])
        values["chunk_no"] = int(values.get("chunk_no", 0))
        return cls(**values)

    @property
    def embed_text(self) -> str:
        """``Chunk.embed_text`` rebuilt from the stored fields (title and heading trail, then the text)."""
        return embed_text(self.title, self.heading, self.text)


__all__ = ["ChunkPayload", "DocumentFields"]
