"""Extraction fidelity on the sample files: character-level F1 against their sources, and places exact.

    python -m askdocs.eval.extraction              # the extractor askdocs uses (worker process, default limits)
    python -m askdocs.eval.extraction --compare    # also pypdf alone on the PDFs, for the choice of library

Times are the best of three runs, through the worker process (so they include passing the bytes over a pipe).

For each file built from ``examples/sources`` the extracted text of each place (PDF page, slide, sheet; a Word
file is one place) is compared with the source's text, whitespace ignored: precision and recall of the longest
common character alignment. A place is exact when the extracted place with the same number matches its source
best. Exits 1 when a file scores under ``--min-f1`` or a place is not exact.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import partial
from typing import TypeVar

from askdocs.eval.samples import WORKSPACE, SampleSource, load_sources
from askdocs.formats import EXTRACTED_SUFFIXES
from askdocs.ingest.extract import Extractor
from askdocs.models import Location, Section

_START = object()
T = TypeVar("T")


@dataclass
class Fidelity:
    """One file's score."""

    output: str
    language: str
    kind: str
    places: int
    exact: int
    f1: float
    ms: float


def char_f1(expected: str, extracted: str) -> float:
    """F1 of the characters two texts share in order (whitespace ignored)."""
    a, b = "".join(expected.split()), "".join(extracted.split())
    if not a or not b:
        return float(a == b)
    matched = sum(block.size for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    precision, recall = matched / len(b), matched / len(a)
    return 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)


def extracted_places(source: SampleSource, title: str | None, sections: list[Section]) -> list[str]:
    """The extracted text per place, in the source's terms: headings back in the text, a sheet's header once."""
    places: dict[object, list[str]] = {}
    last_path: list[str] = []
    last_place: object = _START
    for section in sections:
        location = section.location or Location()
        place = location.page or location.slide or location.sheet
        parts = places.setdefault(place, [])
        if place != last_place:
            parts.extend([section.context] if section.context else [])
            last_path = [] if location.slide else last_path  # every slide shows its title
        if location.sheet is None:  # a sheet's name is its place, not its text
            common = next((i for i, (a, b) in enumerate(zip(section.path, last_path)) if a != b), None)
            parts.extend(section.path[min(len(section.path), len(last_path)) if common is None else common :])
        parts.append(section.text)
        last_path, last_place = section.path, place
    ordered = [" ".join(parts) for parts in places.values()]
    if source.kind == "docx" and title and ordered:
        ordered[0] = f"{title} {ordered[0]}"
    return ordered


def measure(source: SampleSource, extractor: Extractor) -> Fidelity:
    """Extract one sample file and score it against its source."""
    path = WORKSPACE / source.output
    data = path.read_bytes()
    result, ms = best_of_three(lambda: extractor.extract(data, EXTRACTED_SUFFIXES[path.suffix.lower()]))
    if result.error:
        raise SystemExit(f"{source.output}: {result.error}")
    return score(source, extracted_places(source, result.title, result.sections), ms)


def best_of_three(run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result and its best time of three in ms (the first run also loads the parser)."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - started) * 1000)
    return result, min(timings)


def score(source: SampleSource, got: list[str], ms: float) -> Fidelity:
    """F1 of the whole text and how many places match their own number best."""
    want = source.expected_places()
    if source.kind == "docx":
        want = [" ".join(want)]
    exact = 0
    for number, text in enumerate(want):
        scores = [char_f1(text, candidate) for candidate in got]
        if scores and max(range(len(scores)), key=scores.__getitem__) == number and len(got) == len(want):
            exact += 1
    f1 = char_f1(" ".join(want), " ".join(got))
    return Fidelity(source.output, source.language, source.kind, len(want), exact, f1, ms)


def pypdf_places(data: bytes) -> list[str]:
    """pypdf alone, page by page (the alternative measured against PDFium)."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def main(argv: list[str] | None = None) -> int:
    """Print the fidelity table; exit 1 when a file falls short."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-f1", type=float, default=0.98)
    parser.add_argument("--compare", action="store_true", help="also score pypdf alone on the PDFs")
    args = parser.parse_args(argv)
    extractor = Extractor()
    rows: list[tuple[str, Fidelity]] = []
    try:
        extractor.extract(b"warm up", "text/csv")  # start the worker outside the timings
        for source in load_sources():
            rows.append(("askdocs", measure(source, extractor)))
            if args.compare and source.kind == "pdf":
                pages, ms = best_of_three(partial(pypdf_places, (WORKSPACE / source.output).read_bytes()))
                rows.append(("pypdf", score(source, pages, ms)))
    finally:
        extractor.close()
    print(f"{'extractor':9} {'file':38} {'lang':4} {'places exact':>12} {'char F1':>8} {'ms':>7}")
    failed = False
    for name, row in rows:
        print(f"{name:9} {row.output:38} {row.language:4} {row.exact:>5}/{row.places:<6} {row.f1:8.4f} {row.ms:7.1f}")
        failed |= name == "askdocs" and (row.f1 < args.min_f1 or row.exact != row.places)
    for kinds, label in ((("pdf",), "PDF"), (("docx", "pptx", "xlsx", "csv"), "Office/CSV")):
        for language in ("en", "ja"):
            scores = [r.f1 for n, r in rows if n == "askdocs" and r.kind in kinds and r.language == language]
            if scores:
                print(f"min char F1, {label}, {language}: {min(scores):.4f} over {len(scores)} files")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
