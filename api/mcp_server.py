"""askdocs as an MCP server: tools ``search``, ``ask`` and ``fetch_document`` for AI assistants.

One ``MCPServer`` (the official ``mcp`` SDK) per transport: ``askdocs mcp`` serves it over stdio as one API key's
principals (anonymous without one); the API mounts it as streamable HTTP at ``/mcp`` (see ``api.routes.mcp``),
where every request is identified by the same dependency as the REST routes. Tools read the caller's principals
through a ``PrincipalsFor`` callable, so both transports share every line that touches the index.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from askdocs import __version__
from askdocs.api.auth.authenticator import Authenticator
from askdocs.api.auth.principals import ANONYMOUS, AuthError
from askdocs.app import Services
from askdocs.models import Citation, Hit, Location, SearchFilters
from askdocs.retrieval.answer import LLMError
from askdocs.retrieval.index import ScoredPayload

PrincipalsFor = Callable[[Context], Awaitable[list[str]]]
"""The ACL principals of the caller behind a tool call (raises ``ToolError`` when it may not call)."""

REQUEST_PRINCIPALS = "mcp_principals"
"""Where the HTTP route leaves the caller's principals on the request's state for the tools."""

INSTRUCTIONS = (
    "askdocs searches the company's documents (files, Slack, Confluence, Google Drive; English and Japanese) with "
    "the caller's permissions. Use `search` to find documents, `ask` for a short answer that cites its sources "
    "as [n], and `fetch_document` with a doc_id from either to read a whole document. Cite titles and urls."
)
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
# Names no id: one the caller may not see reads exactly like one that does not exist, and no log records it.
NOT_FOUND = "document not found (or not visible to this caller)"
PAGE_CHARS = 50_000

Query = Annotated[str, Field(min_length=1, max_length=2000, description="What to look for, in English or Japanese.")]
TopK = Annotated[int, Field(ge=1, le=50, description="How many documents to return (1-50).")]
Filters = Annotated[
    SearchFilters | None,
    Field(description="Optional: only these sources (files, slack, confluence, google-docs), updated within a range."),
]


class FoundDocument(BaseModel):
    """One search result: a document and its best passage."""

    doc_id: str = Field(description="Pass to fetch_document to read the whole document.")
    title: str
    url: str
    source: str
    score: float
    updated_at: datetime | None = None
    location: Location | None = None
    passage: str = Field(description="The best-matching passage, verbatim.")


class SearchResult(BaseModel):
    """The documents the caller may see that best match the query, best first."""

    query: str
    results: list[FoundDocument]


class AskResult(BaseModel):
    """An answer drawn only from documents the caller may see, with its numbered sources."""

    question: str
    answer: str = Field(description="The answer text with [n] markers, or a refusal when found is false.")
    found: bool = Field(description="False when the visible documents do not contain an answer.")
    citations: list[Citation] = Field(description="One entry per [n] source: title, url and the quoted snippet.")
    generator: str = Field(description="'extractive' (offline) or 'llm'.")


class DocumentText(BaseModel):
    """A whole document's indexed text."""

    doc_id: str
    title: str
    url: str
    source: str
    updated_at: datetime | None = None
    text: str = Field(description="The text from `offset` on, at most `max_chars` characters.")
    offset: int = 0
    total_chars: int = Field(description="Length of the whole text.")
    next_offset: int | None = Field(description="Pass as `offset` to read on; null at the end of the document.")


def _found(hit: Hit) -> FoundDocument:
    return FoundDocument(
        doc_id=hit.doc_id, title=hit.title, url=hit.url, source=hit.source, score=round(hit.score, 4),
        updated_at=hit.updated_at, location=hit.location, passage=hit.text,
    )  # fmt: skip


def document_text(chunks: list[ScoredPayload]) -> DocumentText:
    """The document's text from its chunks in order: overlaps removed, each new heading on its own line."""
    first = chunks[0].payload
    parts: list[str] = []
    heading, previous = "", ""
    for chunk in chunks:
        text, chunk_heading = str(chunk.payload.get("text", "")), str(chunk.payload.get("heading", ""))
        overlap = _overlap(previous, text) if chunk_heading == heading else 0
        if overlap:
            parts[-1] += text[overlap:]
        else:
            parts.append(f"## {chunk_heading}\n\n{text}" if chunk_heading and chunk_heading != heading else text)
        heading, previous = chunk_heading, text
    updated, text = first.get("updated_at"), "\n\n".join(parts).strip()
    return DocumentText(
        doc_id=first["doc_id"], title=first.get("title", ""), url=first.get("url", ""), source=first.get("source", ""),
        updated_at=datetime.fromisoformat(updated) if updated else None, text=text, total_chars=len(text),
        next_offset=None,
    )  # fmt: skip


def _overlap(before: str, after: str, shortest: int = 16) -> int:
    """Length of the longest end of ``before`` that ``after`` starts with (the chunker's overlap), or 0."""
    for size in range(min(len(before), len(after)), shortest - 1, -1):
        if before.endswith(after[:size]):
            return size
    return 0


def _not_blank(text: str, what: str) -> str:
    if not text.strip():
        raise ToolError(f"{what} must not be blank")
    return text.strip()


def build_mcp(services: Callable[[], Services], principals_for: PrincipalsFor, *, warm_up: bool = False) -> MCPServer:
    """The MCP server over ``services()``; ``principals_for`` decides what each call may see."""

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        if warm_up:  # stdio: load the models before the first call (stdout is already diverted by the SDK)
            await anyio.to_thread.run_sync(services().warm_up)
        yield {}

    server: MCPServer = MCPServer(
        "askdocs", title="askdocs", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan
    )

    @server.tool(annotations=READ_ONLY)
    async def search(query: Query, ctx: Context, top_k: TopK = 10, filters: Filters = None) -> SearchResult:
        """Hybrid (keyword + semantic) search over the documents you may see; returns titles, urls and passages."""
        query = _not_blank(query, "query")
        principals = await principals_for(ctx)
        retriever = services().retriever
        hits = await anyio.to_thread.run_sync(lambda: retriever.search(query, principals, filters, top_k=top_k))
        return SearchResult(query=query, results=[_found(hit) for hit in hits])

    @server.tool(annotations=READ_ONLY)
    async def ask(question: Query, ctx: Context, filters: Filters = None) -> AskResult:
        """A short answer drawn only from the documents you may see, citing each source as [n]."""
        question = _not_blank(question, "question")
        principals = await principals_for(ctx)
        try:
            answer = await anyio.to_thread.run_sync(services().ask, question, principals, filters)
        except LLMError as exc:
            raise ToolError(f"the answer generator failed ({exc.status}): {exc.message}") from None
        citations = list({c.n: c for c in answer.citations}.values())
        return AskResult(
            question=question, answer=answer.text, found=answer.found, citations=citations, generator=answer.generator
        )

    @server.tool(annotations=READ_ONLY)
    async def fetch_document(
        doc_id: Annotated[str, Field(min_length=1, max_length=1000, description="A doc_id from search or ask.")],
        ctx: Context,
        offset: Annotated[int, Field(ge=0, description="Where to start reading (a next_offset from before).")] = 0,
        max_chars: Annotated[int, Field(ge=200, le=200_000, description="Longest text to return.")] = PAGE_CHARS,
    ) -> DocumentText:
        """The text of one document you may see, by the doc_id that search or ask returned; long ones in pages."""
        principals = await principals_for(ctx)
        chunks = await anyio.to_thread.run_sync(services().retriever.document_chunks, doc_id.strip(), principals)
        if not chunks:
            raise ToolError(NOT_FOUND)
        whole = document_text(chunks)
        end = min(offset + max_chars, whole.total_chars)
        return whole.model_copy(
            update={
                "text": whole.text[offset:end],
                "offset": offset,
                "next_offset": end if end < whole.total_chars else None,
            }
        )

    return server


async def http_principals(ctx: Context) -> list[str]:
    """Principals the ``/mcp`` route resolved for this HTTP request (the REST API's own authentication)."""
    state = getattr(ctx.request_context.request, "state", None)
    principals = getattr(state, REQUEST_PRINCIPALS, None)
    if not isinstance(principals, list):  # fail closed: only the authenticated route sets them
        raise ToolError("this request was not authenticated")
    return principals


def key_principals(
    authenticator: Authenticator, api_key: str | None, space_access: dict[str, list[str]]
) -> PrincipalsFor:
    """Principals of ``api_key`` (anonymous without one), checked again on every call so revocation is immediate."""

    async def resolved(_: Context) -> list[str]:
        try:
            identity = await authenticator.verify_token(api_key) if api_key else ANONYMOUS
        except AuthError as exc:
            raise ToolError(f"API key refused: {exc.message}") from None
        return authenticator.principals(identity, space_access)

    return resolved
