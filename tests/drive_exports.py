"""Exports of the fake Drive: the Markdown body of a fake Doc as Markdown, HTML or plain text; Sheets as CSV or
XLSX, Slides as text or PPTX (built from the body, or the file's ``content`` when it has one); the 10 MB limit."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from drive_contract import ApiError

DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
SLIDES = "application/vnd.google-apps.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
EXPORTS = {DOC: ("text/markdown", "text/html", "text/plain"), SHEET: (XLSX, "text/csv"), SLIDES: (PPTX, "text/plain")}
EXPORT_LIMIT = 10 * 1024 * 1024


def _html(markdown: str) -> str:
    out, in_list, in_table = ["<html><body>"], False, False
    for line in markdown.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        item = re.match(r"^\s*[-*]\s+(.*)$", line)
        row = line.strip().startswith("|")
        if in_list and not item:
            out.append("</ul>")
            in_list = False
        if in_table and not row:
            out.append("</table>")
            in_table = False
        if heading:
            out.append(f"<h{len(heading.group(1))}>{heading.group(2)}</h{len(heading.group(1))}>")
        elif item:
            out.append(("" if in_list else "<ul>") + f"<li>{item.group(1)}</li>")
            in_list = True
        elif row:
            if not set(line.replace("|", "").strip()) <= set("-: "):
                cells = "".join(f"<td>{c.strip()}</td>" for c in line.strip().strip("|").split("|"))
                out.append(("" if in_table else "<table>") + f"<tr>{cells}</tr>")
                in_table = True
        elif line.strip():
            out.append(f"<p>{line}</p>")
    return "\n".join(out + ["</ul>" if in_list else "", "</table>" if in_table else "", "</body></html>"])


def export_file(f: Any, mime: str) -> bytes:
    """What files.export answers for a fake file in ``mime`` (Drive's errors for the unsupported)."""
    if f.mime_type not in EXPORTS:
        raise ApiError(403, "fileNotExportable", "Export only supports Docs Editors files.")
    if mime not in f.offered():
        raise ApiError(400, "badRequest", "The requested conversion is not supported.")
    if f.pretend_size > EXPORT_LIMIT or len(f.body.encode()) > EXPORT_LIMIT:
        raise ApiError(403, "exportSizeLimitExceeded", "This file is too large to be exported.")
    if mime in (XLSX, PPTX):
        return f.content or (_xlsx(f.body) if mime == XLSX else _pptx(f.body))
    if mime == "text/html":
        return _html(f.body).encode()
    if mime == "text/plain" and f.mime_type == DOC:
        return re.sub(r"^#{1,6}\s+", "", f.body, flags=re.MULTILINE).encode()
    return f.body.encode()


def _xlsx(body: str) -> bytes:
    """A one-sheet workbook of a CSV body (as Sheets exports a one-sheet spreadsheet)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    for row in csv.reader(io.StringIO(body)):
        book.active.append([int(c) if c.isdigit() else c for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pptx(body: str) -> bytes:
    """A deck with one slide per blank-line-separated block: first line the title, the rest the body."""
    from pptx import Presentation

    deck = Presentation()
    for block in filter(None, (b.strip() for b in body.split("\n\n"))):
        title, _, rest = block.partition("\n")
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = rest
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def sheet_titles(f: Any) -> list[str]:
    """The sheet names of a fake Sheet: those of its XLSX ``content``, else the one sheet of its CSV body."""
    if not f.content:
        return ["Sheet1"]
    import openpyxl

    return list(openpyxl.load_workbook(io.BytesIO(f.content), read_only=True).sheetnames)


def slide_count(f: Any) -> int:
    """How many slides a fake deck has: those of its PPTX ``content``, else one per block of its text body."""
    if not f.content:
        return len([b for b in f.body.split("\n\n") if b.strip()])
    from pptx import Presentation

    return len(Presentation(io.BytesIO(f.content)).slides)
