"""The search page: one HTML file whose script and style are static files (no inline script, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
UI_LANGUAGES = ("en", "ja")


def ui_language(accept_language: str) -> str:
    """The first of ``UI_LANGUAGES`` that ``Accept-Language`` prefers (by q-value, then order); English by default."""
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in UI_LANGUAGES and quality > 0:
            ranked.append((-quality, order, primary))
    return min(ranked)[2] if ranked else "en"


@router.get("/")
def search_page(request: Request) -> HTMLResponse:
    """The search page, its text in the caller's language (``Accept-Language``; the page can switch)."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    language = ui_language(request.headers.get("accept-language", ""))
    return HTMLResponse(
        html.replace('<html lang="en">', f'<html lang="{language}">', 1), headers={"Vary": "Accept-Language"}
    )


static_files = StaticFiles(directory=STATIC)
