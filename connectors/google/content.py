"""Google Drive files as askdocs documents: export formats, text structure, sharing as ACL principals.

Sharing maps to principals as follows (emails lower-cased):

- ``type=user`` -> ``user:<email>``; ``type=group`` -> ``group:google:<email>`` (its members: the identity sync)
- ``type=domain`` -> ``group:domain:<domain>`` when the domain may find the file (``allowFileDiscovery``);
  "anyone in the domain with the link" grants nothing unless link sharing is configured to count, like
  "anyone with the link"
- ``type=anyone`` -> ``public`` when the file is published (``allowFileDiscovery``); "anyone with the link"
  counts as public only when the connector is configured so, otherwise it grants nothing.

Limited access (``inheritedPermissionsDisabled`` on the item, on a permission or on a folder above it): "only
organizers, owners, and users with permissions added directly on the item can access it" (Drive v3 Permission
schema), so an inherited permission grants nothing there; one whose ``permissionDetails`` do not say it is direct
counts as inherited (fail closed).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

from askdocs.connectors.parsing import html_sections, markdown_sections
from askdocs.formats import PPTX, XLSX
from askdocs.models import PUBLIC, Blob, Document, Section

DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
SLIDES = "application/vnd.google-apps.presentation"
FOLDER = "application/vnd.google-apps.folder"
# Export formats in order of preference (structure first): Sheets as XLSX keep every sheet by name (CSV is
# "first-sheet only": a Sheet over the export limit is read through the Sheets API instead), Slides as PPTX keep
# slide numbers; both are extracted by ingest like files, the text formats are the fallback.
EXPORTS: dict[str, tuple[str, ...]] = {
    DOC: ("text/markdown", "text/html", "text/plain"),
    SHEET: (XLSX,),
    SLIDES: (PPTX, "text/plain"),
}
EXTRACTED_EXPORTS = frozenset({XLSX, PPTX})
MAX_EXPORT_BYTES = 10 * 1024 * 1024
PERMISSION_FIELDS = (
    "id,type,role,emailAddress,domain,allowFileDiscovery,deleted,inheritedPermissionsDisabled,"
    "permissionDetails(inherited,inheritedFrom,permissionType,role)"
)
# Roles that keep access to a limited-access item whatever is inherited (owner: My Drive, organizer: shared drive).
ALWAYS_ACCESS_ROLES = frozenset({"owner", "organizer"})
FILE_FIELDS = (
    "id,name,mimeType,parents,trashed,createdTime,modifiedTime,webViewLink,driveId,exportLinks,size,"
    "inheritedPermissionsDisabled,"
    f"owners(displayName,emailAddress),permissions({PERMISSION_FIELDS})"
)
_XLSX_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")
# Inline images come out of the Markdown export as base64 data URIs: noise for search.
_DATA_IMAGE_REF = re.compile(r"^\[[^\]]+\]:\s*<?data:[^\s>]*>?\s*$", re.MULTILINE)
_DATA_IMAGE_INLINE = re.compile(r"!\[[^\]]*\]\((?:data:[^)]*|)\)|!\[[^\]]*\]\[[^\]]*\]")


def _direct(perm: dict[str, Any]) -> bool:
    """Whether a permission is on the item itself: a role that always keeps access, or a detail saying so."""
    if perm.get("role") in ALWAYS_ACCESS_ROLES:
        return True
    details = perm.get("permissionDetails") or []
    return any(isinstance(d, dict) and d.get("inherited") is False for d in details)


def principals_from_permissions(
    permissions: list[dict[str, Any]], link_sharing_public: bool = False, limited: bool = False
) -> list[str]:
    """ACL principals from Drive ``permissions`` (every role can read); sorted, without duplicates.

    ``limited``: the item or a folder above it has inherited permissions disabled (only direct ones count)."""
    found: set[str] = set()
    for perm in permissions:
        if perm.get("deleted"):
            continue
        if (limited or perm.get("inheritedPermissionsDisabled")) and not _direct(perm):
            continue
        kind = perm.get("type")
        email = str(perm.get("emailAddress") or "").strip().lower()
        domain = str(perm.get("domain") or "").strip().lower()
        if kind == "user" and email:
            found.add(f"user:{email}")
        elif kind == "group" and email:
            found.add(f"group:google:{email}")
        elif kind == "domain" and domain and (perm.get("allowFileDiscovery") or link_sharing_public):
            found.add(f"group:domain:{domain}")
        elif kind == "anyone" and (perm.get("allowFileDiscovery") or link_sharing_public):
            found.add(PUBLIC)
    return sorted(p for p in found if not any(c.isspace() for c in p))


def owner_principals(file: dict[str, Any]) -> list[str]:
    """``user:<email>`` of the file's owners: the fail-closed ACL when sharing cannot be read."""
    emails = {str(o.get("emailAddress") or "").strip().lower() for o in file.get("owners") or []}
    return sorted(f"user:{e}" for e in emails if e and not any(c.isspace() for c in e))


def export_formats(file: dict[str, Any]) -> list[str]:
    """Export MIME types to try for ``file``, preferred first, limited to its ``exportLinks`` when known."""
    wanted = EXPORTS.get(file.get("mimeType", ""), ())
    links = file.get("exportLinks") or {}
    offered = [m for m in wanted if m in links] if links else list(wanted)
    return offered or list(wanted)


def workbook_of(tabs: list[tuple[str, list[list[Any]]]]) -> bytes:
    """An XLSX workbook with one sheet per ``(title, rows)``, so Sheets API values extract like an export."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for n, (title, rows) in enumerate(tabs):
        name = _XLSX_BAD_TITLE.sub("_", title)[:31] or f"Sheet{n + 1}"  # what an XLSX sheet name may hold
        sheet = book.create_sheet(name if name not in book.sheetnames else f"{name[:26]} ({n + 1})")
        for row in rows:
            sheet.append([str(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _clean_markdown(text: str) -> str:
    text = _DATA_IMAGE_REF.sub("", text)
    return _DATA_IMAGE_INLINE.sub("", text)


def _csv_text(text: str) -> str:
    rows = [" | ".join(cell.strip() for cell in row) for row in csv.reader(io.StringIO(text))]
    return "\n".join(r for r in rows if r.strip(" |"))


def sections_from_export(body: bytes, export_mime: str, title: str) -> list[Section]:
    """Sections (heading trail + text) of exported content; headings, lists and tables kept as text."""
    text = body.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
    if export_mime == "text/markdown":
        _, sections = markdown_sections(_clean_markdown(text), title)
    elif export_mime == "text/html":
        _, sections = html_sections(text)
    elif export_mime == "text/csv":
        sections = [Section(path=[], text=_csv_text(text))]
    else:
        sections = [Section(path=[], text=text.strip())]
    sections = [s for s in sections if s.text.strip()]
    # An empty document still needs some text, or it yields no chunk and looks new on every sync.
    return sections or [Section(path=[], text=title)]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def build_document(
    source: str,
    file: dict[str, Any],
    sections: list[Section],
    acl: list[str],
    export_mime: str,
    blob: Blob | None = None,
) -> Document:
    """The askdocs document of a Drive file: title, owners, times, ``webViewLink``, ACL (and bytes to extract)."""
    owners = file.get("owners") or []
    first = owners[0] if owners else {}
    owner_emails = [str(o.get("emailAddress", "")).lower() for o in owners if o.get("emailAddress")]
    return Document(
        id=f"{source}:{file['id']}",
        source=source,
        title=file.get("name") or file["id"],
        url=file.get("webViewLink") or "",
        sections=sections,
        author=first.get("displayName") or first.get("emailAddress") or None,
        created_at=_time(file.get("createdTime")),
        updated_at=_time(file.get("modifiedTime")),
        acl=acl,
        metadata={
            "file_id": file["id"],
            "mime_type": file.get("mimeType", ""),
            "export_format": export_mime,
            "owners": owner_emails,
            "drive_id": file.get("driveId") or "",
        },
        blob=blob,
    )
