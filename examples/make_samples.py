"""Build the sample PDF, Word, PowerPoint, Excel and CSV files from ``examples/sources/*.toml``.

    python examples/make_samples.py            # every source
    python examples/make_samples.py NAME ...   # only these sources (file stems)
    python examples/make_samples.py --encrypted-fixture   # tests/data/encrypted.docx (needs msoffcrypto-tool)

Word, PowerPoint and Excel files are written with python-docx, python-pptx and openpyxl and then saved again by
LibreOffice (so they are the OOXML an office suite writes); PDFs are LibreOffice exports of a generated Word file,
with the Noto CJK fonts for Japanese. Needs LibreOffice (``soffice``) and fonts-noto-cjk; CI needs neither, since
the built files are committed.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.eval.samples import WORKSPACE, SampleSource, cell_text, load_sources  # noqa: E402

CJK_FONT = "Noto Sans CJK JP"
FILTERS = {
    "pdf": "pdf:writer_pdf_Export",
    "docx": "docx:MS Word 2007 XML",
    "pptx": "pptx:Impress MS PowerPoint 2007 XML",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
}


def build_docx(source: SampleSource, target: Path) -> None:
    """A Word file: the title, then each page's headings and paragraphs, pages split by page breaks."""
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    document.core_properties.title = source.title
    if source.language == "ja":
        for style in ("Normal", "Title", "Heading 1", "Heading 2"):
            fonts = document.styles[style].element.get_or_add_rPr().get_or_add_rFonts()
            fonts.set(qn("w:eastAsia"), CJK_FONT)
    if source.columns > 1:
        cols = OxmlElement("w:cols")
        cols.set(qn("w:num"), str(source.columns))
        cols.set(qn("w:space"), "720")
        document.sections[0]._sectPr.append(cols)
    document.add_heading(source.title, 0)
    for number, page in enumerate(source.pages):
        if number:
            document.add_page_break()
        for level, text in source.page_lines(page):
            if level:
                document.add_heading(text, level)
            else:
                document.add_paragraph(text)
    document.save(str(target))


def build_pptx(source: SampleSource, target: Path) -> None:
    """A deck: a title slide, then one title-and-content slide per source slide."""
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = source.title
    for number, (title, text) in enumerate(source.slides):
        slide = deck.slides.add_slide(deck.slide_layouts[0 if number == 0 else 1])
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        for i, line in enumerate(text.splitlines()):
            paragraph = body.paragraphs[0] if i == 0 else body.add_paragraph()
            paragraph.text = line
    deck.save(str(target))


def build_xlsx(source: SampleSource, target: Path) -> None:
    """A workbook with one sheet per source sheet."""
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.title = source.title
    book.remove(book.active)
    for name, rows in source.sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(str(target))


def build_csv(source: SampleSource, target: Path) -> None:
    """A UTF-8 CSV of the one sheet."""
    with target.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([[cell_text(c) for c in row] for row in source.sheets[0][1]])


def soffice(path: Path, kind: str, outdir: Path) -> Path:
    """Convert (or re-save) ``path`` with LibreOffice into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed program, our own paths
        ["soffice", "--headless", "--norestore", "--convert-to", FILTERS[kind], "--outdir", str(outdir), str(path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return outdir / f"{path.stem}.{kind}"


def build(source: SampleSource, workdir: Path) -> Path:
    """Build one source's file into the workspace; returns its path."""
    target = WORKSPACE / source.output
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = source.kind
    if kind == "csv":
        build_csv(source, target)
        return target
    draft_kind = "docx" if kind == "pdf" else kind
    draft = workdir / f"{Path(source.output).stem}.{draft_kind}"
    {"docx": build_docx, "pptx": build_pptx, "xlsx": build_xlsx}[draft_kind](source, draft)
    shutil.copyfile(soffice(draft, kind, workdir / "out"), target)
    return target


def build_encrypted_fixture(target: Path) -> None:
    """``tests/data/encrypted.docx``: a Word file with the password 'secret' (needs msoffcrypto-tool)."""
    import io

    import docx
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("The cancellation fee is three monthly subscriptions.")
    document.save(plain)
    plain.seek(0)
    with target.open("wb") as out:
        OOXMLFile(plain).encrypt("secret", out)


def main(argv: list[str]) -> int:
    """Build the named sources (all when none are named)."""
    if shutil.which("soffice") is None:
        print("soffice not found: apt-get install libreoffice-writer libreoffice-impress libreoffice-calc "
              "fonts-noto-cjk", file=sys.stderr)  # fmt: skip
        return 2
    if argv == ["--encrypted-fixture"]:
        build_encrypted_fixture(Path(__file__).resolve().parent.parent / "tests" / "data" / "encrypted.docx")
        return 0
    sources = [s for s in load_sources() if not argv or s.path.stem in argv]
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            print(build(source, Path(tmp)).relative_to(WORKSPACE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
