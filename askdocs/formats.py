"""The binary file types askdocs extracts, by MIME type and file suffix: one list for every connector and ingest."""

from __future__ import annotations

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"

EXTRACTED_SUFFIXES: dict[str, str] = {".pdf": PDF, ".docx": DOCX, ".pptx": PPTX, ".xlsx": XLSX, ".csv": CSV}
EXTRACTED_MIMES: frozenset[str] = frozenset(EXTRACTED_SUFFIXES.values())
# Office files are ZIP containers: their unpacked size is checked before any parser opens them.
ZIP_MIMES: frozenset[str] = frozenset({DOCX, PPTX, XLSX})
FORMAT_NAMES: dict[str, str] = {PDF: "pdf", DOCX: "docx", PPTX: "pptx", XLSX: "xlsx", CSV: "csv"}


def too_big(size: int, max_file_mb: int) -> str:
    """The failure message for a file over the size cap (connectors say it before downloading)."""
    return f"file is {size / 2**20:.0f} MiB, more than the {max_file_mb} MiB extraction size cap"


def extracted_mime(filename: str, media_type: str = "") -> str | None:
    """The type to extract a file as, by its suffix or else its declared media type; None when askdocs does not."""
    suffix = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    declared = media_type.split(";")[0].strip().lower()
    return EXTRACTED_SUFFIXES.get(suffix) or (declared if declared in EXTRACTED_MIMES else None)
