"""The extraction stage on real files: places (page, slide, sheet rows), and every bad file as one failure value."""

from __future__ import annotations

import io
import resource
import shutil
import zipfile
from pathlib import Path

import pytest

from askdocs.eval.extraction import main as fidelity_main
from askdocs.formats import DOCX, PDF, PPTX, XLSX
from askdocs.ingest.extract import ExtractionLimits, Extractor
from askdocs.models import Location, Section

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"
DATA = Path(__file__).resolve().parent / "data"


def extract(extractor: Extractor, relpath: str, mime: str) -> tuple[str | None, list[Section]]:
    result = extractor.extract((WORKSPACE / relpath).read_bytes(), mime)
    assert result.error is None, result.error
    return result.title, result.sections


def section_with(sections: list[Section], needle: str) -> Section:
    found = [s for s in sections if needle in s.text]
    assert len(found) == 1, [s.text[:60] for s in sections]
    return found[0]


def test_pdf_pages_and_outline_headings(extractor: Extractor) -> None:
    title, sections = extract(extractor, "sales/acme-service-agreement.pdf", PDF)
    assert title == "Master Service Agreement: Kumo Robotics and Acme Logistics"
    cancel = section_with(sections, "90 days' written notice")
    assert cancel.location == Location(page=2, anchor="page=2")
    assert cancel.path == ["4. Cancellation"]
    assert "Either party may cancel this agreement for convenience" in cancel.text, "wrapped lines are joined"
    assert {s.location.page for s in sections if s.location} == {1, 2, 3}


def test_two_column_pdf_reads_column_by_column(extractor: Extractor) -> None:
    _, sections = extract(extractor, "engineering/k2-field-guide.pdf", PDF)
    belt = section_with(sections, "12 newton-metres")
    assert belt.location is not None and belt.location.page == 2
    assert belt.path == ["Drive belt replacement"]
    text = " ".join(" ".join(s.text.split()) for s in sections)
    assert "Never lift a K2 by its sensor mast. Use the two handles under the chassis plate." in text


def test_japanese_pdf_joins_wrapped_lines(extractor: Extractor) -> None:
    title, sections = extract(extractor, "tokyo/anzen-kanri-kitei.pdf", PDF)
    assert title == "倉庫ロボット安全管理規程"
    report = section_with(sections, "社内システムへ登録")
    assert report.location is not None and report.location.page == 2
    assert "報告書は 24 時間以内に社内システムへ登録してください。" in report.text


def test_docx_heading_trail(extractor: Extractor) -> None:
    title, sections = extract(extractor, "hr/remote-work-policy.docx", DOCX)
    assert title == "Remote Work Policy"
    allowance = section_with(sections, "60,000 yen")
    assert allowance.path == ["Equipment", "Home office allowance"]
    assert allowance.location is None


def test_pptx_one_section_per_slide(extractor: Extractor) -> None:
    _, sections = extract(extractor, "sales/kumo-roadmap-2027.pptx", PPTX)
    assert [s.location.slide for s in sections if s.location] == [1, 2, 3, 4]
    launch = section_with(sections, "15 September 2027")
    assert launch.path == ["K3 launch"] and launch.location == Location(slide=3, anchor="slide=3")


def test_xlsx_rows_keep_their_header(extractor: Extractor) -> None:
    title, sections = extract(extractor, "sales/price-list-2027.xlsx", XLSX)
    assert title == "Kumo Price List 2027"
    plans = section_with(sections, "Platinum")
    assert plans.location == Location(sheet="Support plans", rows=(2, 4))
    assert plans.context == "Plan | Response time | On-site visit | Monthly fee (JPY)"
    assert "Platinum | 30 minutes, around the clock | Within 24 hours | 420000" in plans.text
    assert plans.location.label == "Support plans, rows 2-4"


def test_fidelity_command_meets_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    assert fidelity_main([]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "min char F1, PDF, ja" in out and "min char F1, Office/CSV, ja" in out


# --- bad files: each is one failure value, and the worker goes on --------------------------------------------
def zip_bomb(unpacked_mb: int) -> bytes:
    """An 'XLSX' whose one part unpacks to ``unpacked_mb`` MiB of zeros (a few hundred KiB packed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            block = b"0" * 2**20
            for _ in range(unpacked_mb):
                part.write(block)
    return out.getvalue()


def textless_pdf(password: str | None = None) -> bytes:
    """A one-page PDF with no text layer, encrypted when a password is given."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "mime", "needle"),
    [
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40, PDF, "corrupt PDF"),
        (lambda: textless_pdf("secret"), PDF, "encrypted (password-protected) PDF"),
        (textless_pdf, PDF, "image-only (scanned) PDF"),
        (lambda: (DATA / "encrypted.docx").read_bytes(), DOCX, "encrypted (password-protected)"),
        (lambda: zip_bomb(300), XLSX, "unpacks to 300 MiB, more than the 256 MiB limit"),
        (lambda: b"PK\x03\x04 not really a zip", PPTX, "corrupt Office file"),
    ],
    ids=["corrupt-pdf", "encrypted-pdf", "image-only-pdf", "encrypted-docx", "zip-bomb-xlsx", "corrupt-pptx"],
)
def test_bad_file_is_a_failure_value(extractor: Extractor, make, mime: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    result = extractor.extract(make(), mime)
    assert result.sections == [] and result.error is not None
    assert needle in result.error
    good = extractor.extract((WORKSPACE / "sales/kumo-roadmap-2027.pptx").read_bytes(), PPTX)
    assert good.error is None and good.sections, "the worker goes on with the next file"


def test_size_cap_refuses_before_the_worker() -> None:
    extractor = Extractor(ExtractionLimits(max_file_mb=1))
    result = extractor.extract(b"%PDF" + b"0" * (2 * 2**20), PDF)
    assert result.error == "file is 2 MiB, more than the 1 MiB extraction size cap"
    assert extractor.extracted == 0
    extractor.close()


def test_time_limit_kills_the_worker_and_the_next_file_gets_a_new_one() -> None:
    extractor = Extractor(ExtractionLimits(timeout_s=0.01))
    data = (WORKSPACE / "sales/acme-service-agreement.pdf").read_bytes()
    slow = extractor.extract(data, PDF)  # starting the worker alone takes longer than 10 ms
    assert slow.error == "extraction took longer than the 0.01 s limit"
    extractor.limits = ExtractionLimits()
    assert extractor.extract(data, PDF).error is None
    extractor.close()


def test_memory_limit_holds_the_worker_not_the_service() -> None:
    """A bomb under the unpacked-size guard but over the worker's memory: the worker fails, the service stays small."""
    extractor = Extractor(ExtractionLimits(memory_mb=512, max_unpacked_mb=4096))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bomb = zip_bomb(1024)
    result = extractor.extract(bomb, XLSX)
    assert result.error is not None
    assert "memory limit" in result.error or "corrupt or unreadable" in result.error, result.error
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, f"the service grew by {grown_mb:.0f} MiB"
    extractor.limits = ExtractionLimits()
    assert extractor.extract((WORKSPACE / "sales/price-list-2027.xlsx").read_bytes(), XLSX).error is None
    extractor.close()


def scanned_pdf(relpath: str) -> bytes:
    """A PDF of page images only: each page of a sample PDF rendered at 200 dpi, no text layer."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument((WORKSPACE / relpath).read_bytes())
    images = [page.render(scale=200 / 72).to_pil().convert("RGB") for page in pdf]
    pdf.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=200)
    return out.getvalue()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="OCR needs tesseract-ocr (and tesseract-ocr-jpn)")
def test_ocr_is_opt_in_and_reads_scanned_pages() -> None:
    scan = scanned_pdf("sales/acme-service-agreement.pdf")
    off = Extractor()
    assert "image-only (scanned) PDF" in (off.extract(scan, PDF).error or "")
    off.close()
    on = Extractor(ExtractionLimits(timeout_s=120), ocr_languages="eng")
    result = on.extract(scan, PDF)
    on.close()
    assert result.error is None, result.error
    cancel = section_with(result.sections, "written notice")
    assert cancel.location is not None and cancel.location.page == 2
