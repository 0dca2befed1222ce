"""Exports of the fake Drive: the Markdown body of a fake Doc as Markdown, HTML or plain text; Sheets as CSV or
XLSX (CSV: the first sheet only, as Drive), Slides as text or PPTX (built from the body, or the file's ``content``
when it has one); the 10 MB limit per format (a Doc's Markdown embeds its images, its HTML links them)."""

from __future__ import annotations

import base64
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


def _markdown(f: Any) -> str:
    """A Doc's Markdown export: its images come as base64 data URIs at the end (Drive embeds them so)."""
    if not f.image_bytes:
        return str(f.body)
    data = base64.b64encode(b"\x89PNG" + b"\0" * f.image_bytes).decode()
    return f"{f.body}\n\n![][image1]\n\n[image1]: <data:image/png;base64,{data}>\n"


def _rendered(f: Any, mime: str) -> bytes:
    if mime in (XLSX, PPTX):
        return f.content or (_xlsx(f.body) if mime == XLSX else _pptx(f.body))
    if mime == "text/markdown":
        return _markdown(f).encode()
    if mime == "text/html":  # images are links to googleusercontent.com, not embedded
        images = '<p><img src="https://lh7-rt.googleusercontent.com/docsz/image1"></p>' if f.image_bytes else ""
        return _html(f.body).replace("</body>", images + "</body>").encode()
    if mime == "text/plain" and f.mime_type == DOC:
        return re.sub(r"^#{1,6}\s+", "", f.body, flags=re.MULTILINE).encode()
    if mime == "text/csv" and f.content:  # "first-sheet only" (Drive's export formats)
        return _first_sheet_csv(f.content)
    return str(f.body).encode()


def export_file(f: Any, mime: str) -> bytes:
    """What files.export answers for a fake file in ``mime`` (Drive's errors for the unsupported); the 10 MB limit
    applies to each format's own output (``pretend_size``: every format is that large)."""
    if f.mime_type not in EXPORTS:
        raise ApiError(403, "fileNotExportable", "Export only supports Docs Editors files.")
    if mime not in f.offered():
        raise ApiError(400, "badRequest", "The requested conversion is not supported.")
    body = _rendered(f, mime)
    if f.pretend_size > EXPORT_LIMIT or len(body) > EXPORT_LIMIT:
        raise ApiError(403, "exportSizeLimitExceeded", "This file is too large to be exported.")
    return body


def _first_sheet_csv(content: bytes) -> bytes:
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    out = io.StringIO()
    writer = csv.writer(out)
    for row in sheet.iter_rows(values_only=True):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode()


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


def sheet_values(f: Any) -> dict[str, list[list[str]]]:
    """Each sheet's formatted values (Sheets API), by title: those of its XLSX ``content``, else its CSV body."""
    if not f.content:
        return {"Sheet1": [row for row in csv.reader(io.StringIO(f.body)) if row]}
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(f.content), read_only=True)
    return {ws.title: [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
            for ws in book.worksheets}  # fmt: skip


def slide_count(f: Any) -> int:
    """How many slides a fake deck has: those of its PPTX ``content``, else one per block of its text body."""
    if not f.content:
        return len([b for b in f.body.split("\n\n") if b.strip()])
    from pptx import Presentation

    return len(Presentation(io.BytesIO(f.content)).slides)
