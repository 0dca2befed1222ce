"""The internal search box (a single static page calling the REST API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
_PAGE = Path(__file__).resolve().parent.parent / "static" / "index.html"


@router.get("/")
def search_page() -> FileResponse:
    """The search box."""
    return FileResponse(_PAGE, media_type="text/html")
