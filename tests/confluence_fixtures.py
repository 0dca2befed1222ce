"""One confluence source over a fake Confluence site, as the Confluence tests configure it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluence_server import EMAIL, TOKEN

from askdocs.connectors.confluence.config import ConfluenceConfig
from askdocs.settings import Settings


def confluence_source(
    url: str, tmp: Path, spaces: tuple[str, ...] = ("ENG",), space_access: dict[str, list[str]] | None = None,
    **settings: Any,
) -> tuple[Settings, ConfluenceConfig]:  # fmt: skip
    """Settings whose ``askdocs.yaml`` holds a confluence source over ``url`` (disabled: the tests run it) granting
    ``space_access``, and that source's config with the fake site's API user."""
    config = ConfluenceConfig(
        base_url=url, email=EMAIL, api_token=TOKEN, spaces=list(spaces), space_access=space_access or {}
    )
    sources = tmp / "askdocs.yaml"
    options = config.model_dump_json(include={"base_url", "spaces", "space_access"})
    sources.write_text(f"sources:\n  - {{name: wiki, type: confluence, enabled: false, options: {options}}}\n")
    return Settings(data_dir=tmp / "data", sources_file=sources, **settings), config
