"""Run extraction in a long-lived worker process with a size cap, a memory limit and a time limit per file.

The worker is started on first use and reused; a file that times out or kills it (memory limit, parser crash)
costs only that file: the worker is stopped and the next file starts a fresh one.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from askdocs.formats import EXTRACTED_MIMES, too_big
from askdocs.ingest.extract.worker import FRAME
from askdocs.models import Section
from askdocs.settings import Settings

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


@dataclass(frozen=True)
class ExtractionLimits:
    """Per-file limits: wall time, worker memory (address space), file size and unpacked size of Office files."""

    timeout_s: float = 30.0
    memory_mb: int = 1024
    max_file_mb: int = 50
    max_unpacked_mb: int = 256

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractionLimits:
        """The limits configured by ``ASKDOCS_EXTRACT_*``."""
        return cls(
            timeout_s=settings.extract_timeout_s,
            memory_mb=settings.extract_memory_mb,
            max_file_mb=settings.extract_max_file_mb,
            max_unpacked_mb=settings.extract_max_unpacked_mb,
        )


@dataclass
class ExtractResult:
    """A title (None: the file names none) and sections, or an ``error`` saying why there are none."""

    title: str | None = None
    sections: list[Section] = field(default_factory=list)
    error: str | None = None


class Extractor:
    """Extracts files one at a time in a worker process (thread-safe; syncs share one worker)."""

    def __init__(self, limits: ExtractionLimits | None = None, ocr_languages: str | None = None) -> None:
        self.limits = limits or ExtractionLimits()
        self.ocr_languages = ocr_languages  # e.g. 'jpn+eng': OCR image-only PDFs (None: report them)
        self._worker: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.extracted = 0  # files handed to the worker, for tests and benchmarks

    def extract(self, data: bytes, mime: str) -> ExtractResult:
        """Title and sections of one file, or the reason it has none."""
        limits = self.limits
        if mime not in EXTRACTED_MIMES:
            return ExtractResult(error=f"unsupported file type {mime!r}")
        if len(data) > limits.max_file_mb * MiB:
            return ExtractResult(error=too_big(len(data), limits.max_file_mb))
        header = {"mime": mime, "max_unpacked": limits.max_unpacked_mb * MiB, "ocr": self.ocr_languages}
        with self._lock:
            self.extracted += 1
            try:
                reply = self._ask(json.dumps(header).encode(), data)
            except TimeoutError:
                self._stop()
                return ExtractResult(error=f"extraction took longer than the {limits.timeout_s:g} s limit")
            except (OSError, EOFError, ValueError):
                self._stop()
                died = f"the extraction worker died (over the {limits.memory_mb} MiB memory limit, or a parser crash)"
                return ExtractResult(error=died)
        return _result(reply)

    def close(self) -> None:
        """Stop the worker (a later call starts a new one)."""
        with self._lock:
            self._stop()

    def __del__(self) -> None:
        try:
            self._stop()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit the worker may already be gone
            pass

    def _ask(self, header: bytes, data: bytes) -> bytes:
        worker = self._start()
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(FRAME.pack(len(header)) + header)
        worker.stdin.write(FRAME.pack(len(data)))
        worker.stdin.write(data)
        worker.stdin.flush()
        deadline = time.monotonic() + self.limits.timeout_s
        fd = worker.stdout.fileno()
        (size,) = FRAME.unpack(_read_exact(fd, FRAME.size, deadline))
        return _read_exact(fd, size, deadline)

    def _start(self) -> subprocess.Popen[bytes]:
        if self._worker is not None and self._worker.poll() is None:
            return self._worker
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self._worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "askdocs.ingest.extract.worker", str(self.limits.memory_mb * MiB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        return self._worker

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.kill()
        worker.wait()
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                stream.close()


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    """``size`` bytes from ``fd`` before ``deadline`` (TimeoutError), EOFError when the worker is gone."""
    parts: list[bytes] = []
    left = size
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _result(reply: bytes) -> ExtractResult:
    """Validate the worker's JSON answer (it is not trusted: it parsed the file)."""
    try:
        body = json.loads(reply)
        if "error" in body:
            return ExtractResult(error=str(body["error"])[:300])
        title = body.get("title")
        sections = [Section.model_validate(s) for s in body["sections"]]
    except (ValueError, KeyError, TypeError, ValidationError):
        return ExtractResult(error="the extraction worker gave an unreadable answer")
    return ExtractResult(title=title if isinstance(title, str) and title.strip() else None, sections=sections)
