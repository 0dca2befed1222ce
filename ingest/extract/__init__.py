"""The extraction stage: a file's bytes + MIME type -> title and sections with a place (page, slide, sheet rows).

Connectors fetch files and hand them on as ``Document.blob``; the indexer checks the content hash first and only
extracts what changed, in a separate worker process with a time limit, a memory limit and a size cap. Whatever
goes wrong with one file (encrypted, corrupt, too big, a ZIP bomb, a parser crash) is that document's failure value.
"""

from askdocs.connectors.base import ConnectorFailure
from askdocs.ingest.extract.sandbox import ExtractionLimits, Extractor, ExtractResult
from askdocs.models import Document, Section

# Bump when extraction changes what a file yields: the next sync then re-extracts every file.
EXTRACTION_VERSION = 1


def extract_document(extractor: Extractor, doc: Document) -> Document | ConnectorFailure:
    """``doc`` with the title and sections of its file (bytes dropped), or the failure value saying why not."""
    blob = doc.blob
    if blob is None or blob.data is None:
        return doc
    result = extractor.extract(blob.data, blob.mime)
    if result.error is not None:
        return ConnectorFailure(source=doc.source, document_id=doc.id, message=f"extraction failed: {result.error}")
    sections = [_linked(section, blob.anchors) for section in result.sections]
    if not sections:  # an empty file still needs some text, or it yields no chunk and looks new on every sync
        sections = [Section(text=doc.title)]
    title = result.title or doc.title
    return doc.model_copy(update={"sections": sections, "blob": blob.model_copy(update={"data": None}), "title": title})


def _linked(section: Section, anchors: dict[str, str]) -> Section:
    """A sheet or slide section with the URL fragment that opens it at the source (a Google Sheet's gid, a Google
    Slides page id), when the source gave one."""
    location = section.location
    if location is None:
        return section
    place = location.sheet if location.sheet is not None else f"slide {location.slide}" if location.slide else None
    if place is None or place not in anchors:
        return section
    return section.model_copy(update={"location": location.model_copy(update={"anchor": anchors[place]})})


__all__ = ["EXTRACTION_VERSION", "ExtractResult", "ExtractionLimits", "Extractor", "extract_document"]
