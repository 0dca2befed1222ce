"""Logging set-up: plain text for a terminal, JSON lines for collectors (ASKDOCS_LOG_FORMAT=json)."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send askdocs's logs (and uvicorn's) to stderr in the chosen format."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
