"""The sources of the sample PDF and Office files (``examples/sources/*.toml``) and the text each place should hold.

A source names its output file under ``examples/workspace`` and holds pages (PDF, Word: ``# `` and ``## `` lines
are headings), slides (title and lines) or sheets (rows). ``examples/make_samples.py`` builds the files from them;
``eval.extraction`` compares what the extractor reads back with ``expected_places``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES = REPO_ROOT / "examples" / "sources"
WORKSPACE = REPO_ROOT / "examples" / "workspace"


@dataclass
class SampleSource:
    """One sample file's source."""

    path: Path
    output: str
    title: str
    language: str
    columns: int = 1
    pages: list[str] = field(default_factory=list)
    slides: list[tuple[str, str]] = field(default_factory=list)
    sheets: list[tuple[str, list[list[Any]]]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The output's suffix without the dot: pdf, docx, pptx, xlsx or csv."""
        return Path(self.output).suffix.lstrip(".").lower()

    def page_lines(self, page: str) -> list[tuple[int, str]]:
        """(heading level or 0 for body text, text) for each non-empty line of one page."""
        out = []
        for line in page.strip().splitlines():
            marks = len(line) - len(line.lstrip("#"))
            if line.strip():
                out.append((marks, line[marks:].strip()))
        return out

    def expected_places(self) -> list[str]:
        """The text of each place in order: pages (the title opens the first), slides, or sheets."""
        if self.pages:
            places = [" ".join(text for _, text in self.page_lines(page)) for page in self.pages]
            places[0] = f"{self.title} {places[0]}"
            return places
        if self.slides:
            return [f"{title} {text}" for title, text in self.slides]
        return [" ".join(" | ".join(cell_text(c) for c in row) for row in rows) for _, rows in self.sheets]


def cell_text(value: Any) -> str:
    """A cell as the extractor writes it."""
    return str(value)


def load_source(path: Path) -> SampleSource:
    """Read one ``examples/sources/*.toml`` file."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return SampleSource(
        path=path,
        output=raw["output"],
        title=raw["title"],
        language=raw.get("language", "en"),
        columns=int(raw.get("columns", 1)),
        pages=[page["text"] for page in raw.get("page", [])],
        slides=[(slide["title"], slide["text"].strip()) for slide in raw.get("slide", [])],
        sheets=[(sheet["name"], sheet["rows"]) for sheet in raw.get("sheet", [])],
    )


def load_sources(folder: Path = SOURCES) -> list[SampleSource]:
    """Every sample source, by file name."""
    return [load_source(path) for path in sorted(folder.glob("*.toml"))]
