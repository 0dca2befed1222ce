"""The extraction stage: a file's bytes + MIME type -> title and sections with a place (page, slide, sheet rows).

Connectors fetch files and hand them on as ``Document.blob``; the indexer checks the content hash first and only
extracts what changed, in a separate worker process with a time limit, a memory limit and a size cap. Whatever
goes wrong with one file (encrypted, corrupt, too big, a ZIP bomb, a parser crash) is that document's failure value.
"""

from ingest.extract.sandbox import ExtractionLimits, Extractor, ExtractResult

# Bump when extraction changes what a file yields: the next sync then re-extracts every file.
EXTRACTION_VERSION = 1

__all__ = ["EXTRACTION_VERSION", "ExtractResult", "ExtractionLimits", "Extractor"]
