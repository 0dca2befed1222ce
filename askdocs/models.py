"""Domain model shared by every stage: documents in, chunks indexed, hits and answers out."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PUBLIC = "public"
# The principal that may see operational detail (sync failures, metrics) and trigger syncs; documents never carry it.
ADMIN = "role:admin"
_PRINCIPAL = re.compile(r"^(public|(user|group|space):\S+)$")


def validate_principal(value: str) -> str:
    """Return ``value`` if it is an ACL principal (``public``, ``user:x``, ``group:x``, ``space:x``)."""
    if not _PRINCIPAL.match(value):
        raise ValueError(
            f"invalid ACL principal {value!r}: expected 'public', 'user:<email>', 'group:<name>' or 'space:<key>'"
        )
    return value


class Section(BaseModel):
    """One titled part of a document; ``path`` holds the heading trail, outermost first."""

    path: list[str] = Field(default_factory=list)
    text: str


class Document(BaseModel):
    """A unit of source content with its identity, provenance and access list."""

    id: str = Field(min_length=1, description="Stable id, unique across sources, e.g. 'files:hr/leave.md'.")
    source: str = Field(min_length=1, description="Connector name, e.g. 'files', 'slack'.")
    title: str
    url: str = ""
    sections: list[Section]
    author: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    acl: list[str] = Field(default_factory=lambda: [PUBLIC])
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("acl")
    @classmethod
    def _check_acl(cls, acl: list[str]) -> list[str]:
        if not acl:
            raise ValueError("a document needs at least one ACL principal (use 'public' for everyone)")
        return [validate_principal(p) for p in acl]

    @property
    def text(self) -> str:
        """The whole document as Markdown-like text, headings included."""
        parts: list[str] = []
        for section in self.sections:
            if section.path:
                parts.append("#" * len(section.path) + " " + section.path[-1])
            parts.append(section.text)
        return "\n\n".join(p for p in parts if p.strip())

    @property
    def embedding_hash(self) -> str:
        """Hash of what is chunked and embedded (title and text); unchanged means no re-embedding."""
        h = hashlib.sha256()
        for part in (self.title, self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the index; unchanged hash means nothing to re-embed."""
        h = hashlib.sha256()
        for part in (self.title, self.url, self.text, self.author or "", ",".join(sorted(self.acl))):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        h.update(str(self.updated_at or "").encode())
        h.update(str(sorted(self.metadata.items())).encode())
        return h.hexdigest()


class Chunk(BaseModel):
    """A piece of one document, sized for the embedder, as stored in the index."""

    doc_id: str
    chunk_no: int = Field(ge=0)
    text: str
    heading: str = ""
    language: str = "en"
    source: str
    title: str
    url: str = ""
    author: str | None = None
    updated_at: datetime | None = None
    acl: list[str]
    content_hash: str
    embedding_hash: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        """What the embedder sees: title and heading trail before the text."""
        return embed_text(self.title, self.heading, self.text)


def embed_text(title: str, heading: str, text: str) -> str:
    """A chunk's text as embedded and analysed: title and heading trail first (also rebuilt from stored payloads)."""
    head = title if not heading else f"{title} > {heading}"
    return f"{head}\n{text}"


class Passage(BaseModel):
    """One stored chunk's text inside a hit."""

    chunk_id: str
    chunk_no: int
    text: str


class Hit(BaseModel):
    """One search result: the best chunk of a document, neighbours merged in."""

    doc_id: str
    chunk_id: str = Field(description="Id of the best-scoring chunk.")
    chunk_nos: list[int]
    passages: list[Passage] = Field(default_factory=list, description="The merged chunks, in reading order.")
    score: float
    title: str
    url: str
    source: str
    heading: str = ""
    text: str
    updated_at: datetime | None = None
    language: str = "en"


class Citation(BaseModel):
    """A numbered source an answer cites."""

    n: int = Field(ge=1, description="The number used as [n] in the answer text.")
    doc_id: str
    chunk_id: str
    title: str
    url: str
    snippet: str = Field(
        description="The cited passage, verbatim from the chunk (the answer quotes it without markup)."
    )


SupportStatus = Literal["supported", "unsupported", "uncited"]


class SentenceCheck(BaseModel):
    """One answer sentence and whether the sources it cites support it."""

    text: str = Field(description="The sentence without its [n] markers.")
    cites: list[int] = Field(default_factory=list, description="The valid source numbers it cites.")
    status: SupportStatus = Field(
        description="'supported': its cited sources hold its terms; 'unsupported': they do not; 'uncited': no [n]."
    )
    support: float = Field(ge=0, le=1, description="Best lexical (or embedding) support among its cited sources.")


class LLMUsage(BaseModel):
    """What one LLM answer cost: tokens in and out, and why generation stopped."""

    source_tokens: int = Field(description="Tokens of the packed sources (the budgeted part of the prompt).")
    sources: int = Field(description="How many sources were packed.")
    prompt_tokens: int | None = Field(default=None, description="As reported by the server.")
    completion_tokens: int | None = Field(default=None, description="As reported by the server.")
    finish_reason: str | None = Field(default=None, description="'stop', 'length', ... as reported by the server.")


class Answer(BaseModel):
    """A grounded answer: text with [n] markers and the citations they refer to."""

    question: str
    text: str
    citations: list[Citation]
    found: bool = Field(description="False when the indexed documents did not contain an answer.")
    generator: str = Field(description="Which answer generator produced this answer ('extractive' or 'llm').")
    hits: list[Hit] = Field(default_factory=list)
    model: str | None = Field(default=None, description="The LLM that wrote the answer (LLM generator only).")
    groundedness: float | None = Field(
        default=None, ge=0, le=1, description="Share of checked sentences supported by their citations; None: refusal."
    )
    sentences: list[SentenceCheck] = Field(default_factory=list, description="Per-sentence citation check.")
    removed_citations: list[int] = Field(
        default_factory=list, description="[n] markers dropped because no source n was given to the generator."
    )
    usage: LLMUsage | None = Field(default=None, description="Token accounting (LLM generator only).")


class SearchFilters(BaseModel):
    """Restrictions on a search; applied inside the engine query."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = Field(default=None, description="Only these connector sources.")
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    doc_ids: list[str] | None = None
    language: Literal["en", "ja", "both"] | None = Field(
        default=None, description="Only chunks in this language ('en': every non-Japanese text); 'both' or unset: all."
    )

    @field_validator("updated_after", "updated_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


FusionMethod = Literal["rrf", "dbsf"]
