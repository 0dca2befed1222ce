"""Options of a ``files`` source."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from askdocs.connectors.config import ConnectorConfig


class FilesConfig(ConnectorConfig):
    """A folder of Markdown, text, HTML and office files (``path`` at the top of a source in ``askdocs.yaml``;
    ``askdocs sync --type files --path DIR``, or ``ASKDOCS_WORKSPACE_DIR`` for the default source)."""

    path: Path = Field(description="The folder to index; `_acl.toml` in it holds the access rules.")
