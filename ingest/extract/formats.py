"""Bytes + MIME type -> title and sections with a place each; runs inside the extraction worker process only.

PDF: pypdfium2 (PDFium, Chrome's engine), one section per page, the outline as heading trail; pypdf reads what
PDFium refuses. Word: python-docx, heading styles as the trail, tables as ``a | b`` lines. PowerPoint:
python-pptx, one section per slide (title, text, tables, notes). Excel and CSV: openpyxl / csv, rows grouped per
section with the header row repeated before every chunk.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import Any

from askdocs.formats import CSV, DOCX, PDF, PPTX, XLSX, ZIP_MIMES
from askdocs.models import Location, Section

# Rows of a sheet are grouped into sections of about this many characters (about one chunk each).
SHEET_SECTION_CHARS = 600
MAX_ZIP_ENTRIES = 10_000
_CJK = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_PDFIUM_LINE_HYPHEN = "\ufffe"  # PDFium's mark for a hyphen that ended a line (the word continues)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ExtractionError(Exception):
    """The file cannot be extracted; the message says why without quoting its content."""


Extracted = tuple[str | None, list[Section]]


def extract(data: bytes, mime: str, max_unpacked: int, ocr_languages: str | None = None) -> Extracted:
    """Title (None when the file names none) and sections of one file; OCR for image-only PDFs when languages given."""
    if mime in ZIP_MIMES:
        _check_container(data, max_unpacked)
    if mime == PDF:
        return _pdf(data, ocr_languages)
    if mime == DOCX:
        return _docx(data)
    if mime == PPTX:
        return _pptx(data)
    if mime == XLSX:
        return _xlsx(data)
    if mime == CSV:
        return None, _table_sections(None, _csv_rows(data))
    raise ExtractionError(f"unsupported file type {mime!r}")


def clean(text: str) -> str:
    """Unify line ends, drop control characters and trailing spaces, squeeze blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(_PDFIUM_LINE_HYPHEN, "-")
    text = _CONTROL.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip()


def _check_container(data: bytes, max_unpacked: int) -> None:
    """Refuse encrypted Office files and ZIP bombs before a parser unpacks anything."""
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ExtractionError("encrypted (password-protected) or legacy binary Office file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ExtractionError("corrupt Office file (not a readable ZIP container)") from exc
    if len(entries) > MAX_ZIP_ENTRIES:
        raise ExtractionError(f"Office file holds {len(entries)} parts, more than {MAX_ZIP_ENTRIES}")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_unpacked:
        raise ExtractionError(
            f"Office file unpacks to {unpacked // 2**20} MiB, more than the {max_unpacked // 2**20} MiB limit"
        )


# --- PDF ------------------------------------------------------------------------------------------------------
def _pdf(data: bytes, ocr_languages: str | None = None) -> Extracted:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ExtractionError("encrypted (password-protected) PDF") from exc
        return _pdf_fallback(data)
    try:
        pages = [page.get_textpage().get_text_range() for page in pdf]
        if ocr_languages and pages and not any(clean(text) for text in pages):
            pages = _ocr(pdf, ocr_languages)
        outline = _outline(pdf)
        title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
    finally:
        pdf.close()
    return title, _page_sections(pages, outline)


def _pdf_fallback(data: bytes) -> Extracted:
    """pypdf for files PDFium refuses (damaged cross-reference tables it can rebuild)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("encrypted (password-protected) PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError("corrupt PDF (neither PDFium nor pypdf can read it)") from exc
    return title, _page_sections(pages, [])


def _ocr(pdf: Any, languages: str) -> list[str]:
    from askdocs.ingest.extract.ocr import OcrUnavailable, ocr_pages

    try:
        return ocr_pages(pdf, languages)
    except OcrUnavailable as exc:
        raise ExtractionError(str(exc)) from exc


def _outline(pdf: Any) -> list[tuple[int, int, str]]:
    """(page index, level, title) of each bookmark that points at a page, in order."""
    entries: list[tuple[int, int, str]] = []
    try:
        for item in pdf.get_toc(max_depth=6):
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = " ".join((item.get_title() or "").split())
            if index is not None and title:
                entries.append((index, item.level, title))
    except Exception:  # noqa: BLE001 - a broken outline only loses the heading trail
        return []
    return entries


def _page_sections(pages: list[str], outline: list[tuple[int, int, str]]) -> list[Section]:
    """One or more sections per page: a bookmarked heading found on its page opens a section (the trail)."""
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    for index, raw in enumerate(pages):
        location = Location(page=index + 1, anchor=f"page={index + 1}")
        headings = [(level, title) for page, level, title in outline if page == index]
        parts: list[tuple[list[tuple[int, str]], list[str]]] = [(trail, [])]
        for line in clean(raw).split("\n"):
            if headings and "".join(line.split()) == "".join(headings[0][1].split()):
                level, title = headings.pop(0)
                trail = [t for t in trail if t[0] < level] + [(level, title)]
                parts.append((trail, []))
            else:
                parts[-1][1].append(line)
        for part_trail, lines in parts:
            text = unwrap(clean("\n".join(lines)))
            if text:
                sections.append(Section(path=[t for _, t in part_trail], text=text, location=location))
    if pages and not sections:
        raise ExtractionError("image-only (scanned) PDF: no text layer (OCR is off, or read nothing)")
    return sections


def unwrap(text: str) -> str:
    """Join lines a PDF wrapped: a line about as wide as the widest on the page continues on the next one.

    Short lines (headings, a paragraph's last line) keep their break. Japanese lines join without a space.
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    widths = sorted(map(_width, lines))
    # a full line's width: the 80th percentile, so a line PDFium merged across a hyphen does not set the bar
    widest = widths[int(0.8 * (len(widths) - 1))] if widths else 0
    out: list[str] = []
    wrapped = False
    for line in lines:
        if wrapped:
            previous = out[-1]
            tight = (_is_cjk(previous[-1]) and _is_cjk(line[0])) or previous.endswith("-")
            out[-1] = previous + ("" if tight else " ") + line
        else:
            out.append(line)
        wrapped = _width(line) >= 0.7 * widest
    return "\n".join(out)


def _is_cjk(char: str) -> bool:
    return re.match(rf"[{_CJK}]", char) is not None


def _width(line: str) -> int:
    """Display width: Japanese characters count twice."""
    return sum(2 if _is_cjk(char) else 1 for char in line)


# --- Word -----------------------------------------------------------------------------------------------------
def _docx(data: bytes) -> Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    title = (document.core_properties.title or "").strip() or None
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    buffer: list[str] = []

    def flush() -> None:
        text = clean("\n".join(buffer))
        if text:
            sections.append(Section(path=[h for _, h in trail], text=text))
        buffer.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            buffer.extend(" | ".join(_unique_cells(row.cells)) for row in block.rows)
            continue
        assert isinstance(block, Paragraph)
        text = block.text.strip()
        level = _heading_level(block.style.name if block.style is not None else "")
        if level is None:
            buffer.append(block.text)
        elif text and level == 0 and title is None and not sections and not trail:
            title = text
        elif text:
            flush()
            trail = [t for t in trail if t[0] < max(level, 1)] + [(max(level, 1), text)]
    flush()
    return title, sections


def _heading_level(style: str) -> int | None:
    """0 for the Title style, N for 'Heading N', None for body text."""
    if style == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style)
    return int(match.group(1)) if match else None


def _unique_cells(cells: Iterable[Any]) -> list[str]:
    """Cell texts of a row, merged cells (which python-docx repeats) once."""
    out: list[str] = []
    seen: set[int] = set()
    for cell in cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            out.append(" ".join(cell.text.split()))
    return out


# --- PowerPoint -----------------------------------------------------------------------------------------------
def _pptx(data: bytes) -> Extracted:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    title = (deck.core_properties.title or "").strip() or None
    sections: list[Section] = []
    for number, slide in enumerate(deck.slides, start=1):
        heading = ""
        lines: list[str] = []
        for shape in _shapes(slide.shapes):
            if shape.has_text_frame:
                text = shape.text_frame.text
                if shape == slide.shapes.title:
                    heading = " ".join(text.split())
                else:
                    lines.append(text)
            if getattr(shape, "has_table", False) and shape.has_table:
                lines.extend(" | ".join(" ".join(c.text.split()) for c in row.cells) for row in shape.table.rows)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.append(slide.notes_slide.notes_text_frame.text)
        text = clean("\n".join(lines)) or heading
        if text:
            location = Location(slide=number, anchor=f"slide={number}")
            sections.append(Section(path=[heading] if heading else [], text=text, location=location))
    return title, sections


def _shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    """Shapes in reading order, group members included."""
    for shape in shapes:
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shapes(shape.shapes)
        else:
            yield shape


# --- Excel and CSV --------------------------------------------------------------------------------------------
def _xlsx(data: bytes) -> Extracted:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        title = (book.properties.title or "").strip() or None
        sections: list[Section] = []
        for sheet in book.worksheets:
            rows = ((n, [_cell(v) for v in row]) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1))
            sections.extend(_table_sections(sheet.title, rows))
    finally:
        book.close()
    return title, sections


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return " ".join(str(value).split())


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        yield n, [" ".join(cell.split()) for cell in row]


def _table_sections(sheet: str | None, rows: Iterable[tuple[int, list[str]]]) -> list[Section]:
    """Rows as ``a | b`` lines, grouped; the first non-empty row is the header every chunk repeats."""
    header: tuple[int, str] | None = None
    sections: list[Section] = []
    group: list[tuple[int, str]] = []

    def flush(context: str) -> None:
        if group:
            location = Location(sheet=sheet, rows=(group[0][0], group[-1][0]))
            text = "\n".join(line for _, line in group)
            sections.append(Section(path=[sheet] if sheet else [], text=text, context=context, location=location))
            group.clear()

    for number, cells in rows:
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        line = " | ".join(cells)
        if header is None:
            header = (number, line)
            continue
        if group and sum(len(text) for _, text in group) + len(line) > SHEET_SECTION_CHARS:
            flush(header[1])
        group.append((number, line))
    if header is not None:
        flush(header[1])
        if not sections:  # a sheet that is only a header row
            group.append(header)
            flush("")
    return sections
