"""Confluence attachments as their own documents: text-like ones parsed here, PDF and Office files handed to
ingest's extractors as blobs (their reported size checked before the download); the page's ACL applies."""

from __future__ import annotations

from typing import Any

from askdocs.connectors.confluence.client import ConfluenceClient, ConfluenceError, parse_time
from askdocs.connectors.confluence.storage import attachment_kind, attachment_sections
from askdocs.formats import extracted_mime, too_big
from askdocs.models import Blob, Document

SOURCE = "confluence"
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


def attachment_doc_id(attachment_id: str) -> str:
    """Document id of an attachment."""
    return f"{SOURCE}:attachment:{attachment_id}"


def attachment_document(
    client: ConfluenceClient, item: dict[str, Any], page: Document, max_file_mb: int
) -> Document | None:
    """A text-like, PDF or Office attachment as its own document (files extracted by ingest); None for others."""
    filename = str(item.get("title") or "")
    kind = attachment_kind(filename, str(item.get("mediaType") or ""))
    binary = None if kind else extracted_mime(filename, str(item.get("mediaType") or ""))
    link = item.get("downloadLink") or (item.get("_links") or {}).get("download")
    if not (kind or binary) or not link:
        return None
    sections, blob = [], None
    if binary:  # the size Confluence reports is checked before the download
        if int(item.get("fileSize") or 0) > max_file_mb * 2**20:
            raise ConfluenceError(too_big(int(item["fileSize"]), max_file_mb))
        blob = Blob.of(filename, client.get_bytes(str(link), max_file_mb * 2**20), binary)
    else:
        raw = client.get_bytes(str(link), MAX_ATTACHMENT_BYTES).decode("utf-8-sig", errors="replace")
        sections = attachment_sections(raw, kind or "text", filename)
    version = item.get("version") or {}
    webui = item.get("webuiLink") or (item.get("_links") or {}).get("webui")
    return Document(
        id=attachment_doc_id(str(item["id"])),
        source=SOURCE,
        title=filename,
        url=client.url(str(webui)) if webui else page.url,
        sections=sections,
        created_at=parse_time(item.get("createdAt")),
        updated_at=parse_time(version.get("createdAt")),
        acl=page.acl,
        metadata={
            **{k: page.metadata[k] for k in ("space", "space_name")},
            "kind": "attachment",
            "page_id": page.metadata["page_id"],
            "page_title": page.title,
            "page_url": page.url,
            "media_type": str(item.get("mediaType") or ""),
            "breadcrumb": f"{page.metadata['breadcrumb']} > {filename}",
        },
        blob=blob,
    )
