"""Options of a ``google-docs`` source (``ASKDOCS_GOOGLE_*`` for the ones a source leaves unset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from askdocs.connectors.config import ConnectorConfig

# Fields of a Google credentials file that are secrets.
_SECRET_FIELDS = ("private_key", "client_secret", "refresh_token")


class GoogleDocsConfig(ConnectorConfig):
    """Google Docs and Drive files, read with a service account or an authorized user."""

    env_prefix: ClassVar[str | None] = "ASKDOCS_GOOGLE_"

    credentials_file: Path | None = Field(None, description="Service-account key JSON or authorized-user JSON.")
    subject: str | None = Field(None, description="User to impersonate (domain-wide delegation).")
    folder_ids: list[str] = Field(
        default_factory=list, description="Only documents under these folders (subfolders included); [] everything."
    )
    directory_admin: str | None = Field(
        None, description="Administrator to impersonate for Directory groups (identity sync; domain-wide delegation)."
    )
    include_shared_drives: bool = Field(True, description="Include shared drives.")
    include_sheets_slides: bool = Field(
        False, description="Also Sheets (XLSX export, every sheet) and Slides (PPTX export)."
    )
    include_files: bool = Field(True, description="Also PDF, Word, PowerPoint, Excel and CSV files in Drive.")
    api_endpoint: str | None = Field(None, description="Drive API endpoint override (tests).")
    max_retries: int = Field(6, ge=0, le=20, description="Retries of a Drive call on 429/5xx, with backoff.")
    retry_base_seconds: float = Field(1.0, gt=0, le=60, description="First backoff delay; doubles per retry.")
    link_sharing_public: bool = Field(
        False, description="Index documents shared 'anyone with the link' as public (default: only named access)."
    )
    use_domain_admin_access: bool = Field(
        False,
        description="When a shared-drive item's sharing is unreadable, read the drive's members as a domain "
        "administrator (useDomainAdminAccess; the subject must be a Workspace admin).",
    )

    def secrets(self) -> list[str]:
        """The credentials file's private key, client secret and refresh token."""
        return super().secrets() + _file_secrets(self.credentials_file)


def _file_secrets(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    return [str(data[field]) for field in _SECRET_FIELDS if isinstance(data.get(field), str)]
