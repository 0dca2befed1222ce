"""The extraction worker: ``python -m askdocs.ingest.extract.worker MEMORY_BYTES`` reads framed requests on stdin.

A request is a JSON header (``mime``, ``max_unpacked``, ``ocr`` languages or null) followed by the file's bytes;
the answer is JSON only (never pickle: a file that subverted a parser must not reach into the service). The memory
limit is set before any parser is imported, so a decompression bomb fails here, not in the service.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
from typing import Any, BinaryIO

FRAME = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> bytes | None:
    """One length-prefixed frame; None at end of input."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: BinaryIO, body: bytes) -> None:
    """Write one length-prefixed frame and flush it."""
    stream.write(FRAME.pack(len(body)) + body)
    stream.flush()


def answer(header: dict[str, Any], data: bytes, memory_bytes: int) -> dict[str, Any]:
    """Extract one file; failures become ``{"error": ...}`` with a message that quotes none of its content."""
    from askdocs.ingest.extract.formats import ExtractionError, extract

    try:
        title, sections = extract(data, str(header["mime"]), int(header["max_unpacked"]), header.get("ocr"))
    except ExtractionError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": f"extraction needed more than the {memory_bytes // 2**20} MiB memory limit"}
    except Exception as exc:  # noqa: BLE001 - any parser failure is this file's failure, never the run's
        return {"error": f"corrupt or unreadable file ({type(exc).__name__})"}
    return {"title": title, "sections": [s.model_dump(mode="json") for s in sections]}


def main() -> None:
    """Serve requests until stdin closes."""
    memory_bytes = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = read_frame(stdin)
        if head is None:
            return
        header = json.loads(head)
        data = read_frame(stdin)
        if data is None:
            return
        reply = answer(header, data, memory_bytes)
        del data
        write_frame(stdout, json.dumps(reply, ensure_ascii=False).encode("utf-8"))


if __name__ == "__main__":
    main()
