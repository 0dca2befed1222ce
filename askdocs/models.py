"""Domain model shared by every stage: documents in, chunks indexed, hits and answers out."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

PUBLIC = "public"
# The principal that may see operational detail (sync failures, metrics) and trigger syncs; documents never carry it.
ADMIN = "role:admin"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_PRINCIPAL = re.compile(r"^(public|(user|group|space):\S+)$")


def validate_principal(value: str) -> str:
    """Return ``value`` if it is an ACL principal (``public``, ``user:x``, ``group:x``, ``space:x``)."""
    if not _PRINCIPAL.match(value):
        raise ValueError(
            f"invalid ACL principal {value!r}: expected 'public', 'user:<email>', 'group:<name>' or 'space:<key>'"
        )
    return value


class Location(BaseModel):
    """Where in a file a passage sits: a PDF page, a slide, or a sheet and its rows (all 1-based)."""

    page: int | None = Field(default=None, ge=1, description="PDF page.")
    slide: int | None = Field(default=None, ge=1, description="Slide number.")
    sheet: str | None = Field(default=None, description="Spreadsheet sheet name.")
    rows: tuple[int, int] | None = Field(default=None, description="First and last spreadsheet row of the passage.")
    anchor: str = Field(default="", description="URL fragment that opens the place, e.g. 'page=12' or 'gid=0'.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """Short human form: 'p. 12', 'slide 3', 'Prices, rows 2-20'."""
        if self.page is not None:
            return f"p. {self.page}"
        if self.slide is not None:
            return f"slide {self.slide}"
        rows = f"rows {self.rows[0]}-{self.rows[1]}" if self.rows else ""
        return ", ".join(part for part in (self.sheet, rows) if part)

    def link(self, url: str) -> str:
        """``url`` opened at this place (unchanged when there is no anchor or the url already has a fragment)."""
        if not self.anchor or not url or "#" in url:
            return url
        return f"{url}#{self.anchor}"


class Section(BaseModel):
    """One titled part of a document; ``path`` holds the heading trail, outermost first."""

    path: list[str] = Field(default_factory=list)
    text: str
    location: Location | None = Field(default=None, description="The page, slide or sheet rows it comes from.")
    context: str = Field(
        default="", description="A line repeated before every chunk cut from this section (a sheet's header row)."
    )


class Blob(BaseModel):
    """A binary file (PDF, Office, CSV) a connector fetched; ingest extracts its title and sections."""

    name: str = Field(description="The file's name at the source (the title when the file names none).")
    mime: str
    sha256: str
    size: int = Field(ge=0)
    anchors: dict[str, str] = Field(
        default_factory=dict,
        description="Place -> URL fragment that opens it: a sheet name -> 'gid=N', 'slide N' -> 'slide=id.<page id>'.",
    )
    data: bytes | None = Field(default=None, exclude=True, repr=False, description="Dropped once extracted.")

    @classmethod
    def of(cls, name: str, data: bytes, mime: str, anchors: dict[str, str] | None = None) -> Blob:
        """A blob holding ``data``, hashed."""
        digest = hashlib.sha256(data).hexdigest()
        return cls(name=name, mime=mime, sha256=digest, size=len(data), anchors=anchors or {}, data=data)

    @property
    def key(self) -> str:
        """What identifies the extracted text: name, type, bytes and place links (the title derives from these)."""
        anchors = ",".join(f"{k}={v}" for k, v in sorted(self.anchors.items()))
        return f"blob:{self.name}:{self.mime}:{self.sha256}:{anchors}"


def container_of(metadata: dict[str, Any]) -> str | None:
    """Where a document sits inside its source, as a facet value: ``space:<key>`` (Confluence),
    ``channel:<name>`` (Slack) or ``folder:<top folder>`` (files); None when the source has no such place."""
    if metadata.get("space"):
        return f"space:{metadata['space']}"
    if metadata.get("channel"):
        return f"channel:{metadata['channel']}"
    folder, _, rest = str(metadata.get("path") or "").partition("/")
    return f"folder:{folder}" if rest and folder else None


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
    blob: Blob | None = Field(default=None, description="The file to extract; its hash stands for the text.")

    @field_validator("acl")
    @classmethod
    def _check_acl(cls, acl: list[str]) -> list[str]:
        if not acl:
            raise ValueError("a document needs at least one ACL principal (use 'public' for everyone)")
        return [validate_principal(p) for p in acl]

    def _hashed(self) -> tuple[str, str]:
        """Title and text, or for a file the hash of its bytes: unchanged bytes need no extraction or embedding."""
        return ("", self.blob.key) if self.blob else (self.title, self.text)

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
        for part in self._hashed():
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the index; unchanged hash means nothing to re-embed."""
        h = hashlib.sha256()
        title, body = self._hashed()
        for part in (title, self.url, body, self.author or "", ",".join(sorted(self.acl))):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        h.update(str(self.updated_at or "").encode())
        h.update(str(sorted(self.metadata.items())).encode())
        h.update(str(container_of(self.metadata) or "").encode())  # stored since the facets: rewritten once
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
    location: Location | None = None

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
    location: Location | None = None


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
    location: Location | None = Field(default=None, description="Page, slide or sheet of the best chunk.")

    def place_of(self, chunk_id: str) -> tuple[str, Location | None]:
        """The link and location of one of its chunks (the url opens at that chunk's page, slide or sheet)."""
        for passage in self.passages:
            if passage.chunk_id == chunk_id and passage.location is not None:
                return passage.location.link(self.url.partition("#")[0]), passage.location
        return self.url, self.location if chunk_id == self.chunk_id else None


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
    location: Location | None = Field(default=None, description="Page, slide or sheet of the cited passage.")


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
    containers: list[str] | None = Field(
        default=None,
        description="Only documents in these spaces, channels or folders: 'space:<key>', 'channel:<name>', "
        "'folder:<top folder>' (the values GET /v1/facets lists).",
    )
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    doc_ids: list[str] | None = None
    language: Literal["en", "ja", "both"] | None = Field(
        default=None, description="Only chunks in this language ('en': every non-Japanese text); 'both' or unset: all."
    )

    @field_validator("updated_after", "updated_before", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        """Only an ISO 8601 string (or a datetime): a bare number is not silently read as a Unix time."""
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not _ISO_DATE.match(value):  # pydantic would read "0" as a Unix time
            raise ValueError("expected an ISO 8601 date-time string, e.g. 2026-01-01T00:00:00Z")
        return value

    @field_validator("updated_after", "updated_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


FusionMethod = Literal["rrf", "dbsf"]
