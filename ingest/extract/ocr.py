"""Opt-in OCR of image-only PDF pages: PDFium renders each page, Tesseract (the distribution's package, with the
Japanese pack ``tesseract-ocr-jpn``) reads it. Runs inside the extraction worker, under its limits."""

from __future__ import annotations

import io
import shutil
import subprocess
from typing import Any

# 300 dpi: Tesseract's recommended resolution (PDF user space is 72 units per inch).
RENDER_SCALE = 300 / 72


class OcrUnavailable(Exception):
    """Tesseract is not installed."""


def ocr_pages(pdf: Any, languages: str) -> list[str]:
    """The text Tesseract reads on each page of an open ``pypdfium2.PdfDocument``."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise OcrUnavailable("OCR is on but tesseract is not installed (apt-get install tesseract-ocr-jpn)")
    texts = []
    for page in pdf:
        image = page.render(scale=RENDER_SCALE, grayscale=True).to_pil()
        png = io.BytesIO()
        image.save(png, format="PNG")
        done = subprocess.run(  # noqa: S603 - a fixed program; the languages are a validated setting
            [tesseract, "stdin", "stdout", "-l", languages],
            input=png.getvalue(),
            capture_output=True,
            check=False,
        )
        texts.append(done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else "")
    return texts
